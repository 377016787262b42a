"""The escalation auditor: a second pair of eyes on the engine (Grafana OnCall's idea).

Every 30 s it looks for pages overdue by more than 30 s and for notification requests that no
delivery ever took up. An overdue page whose job is gone (failed for good, or lost) gets a new
job; one whose job is still queued only means workers are behind, which it records. Each
finding is recorded once. After each run it pings an optional outbound heartbeat URL, so an
operator's monitor notices when the auditor itself stops.
"""

from __future__ import annotations

import http.client
import logging
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from escalation import engine
from escalation.models import AuditFinding, EscalationState, EscalationStatus
from incidents.models import Incident
from notifications.outbound.services import outbound_overdue_requeue
from notifications.selectors import undelivered_requests
from notifications.services import overdue_deliveries_requeue
from opsknight.selectors import live_job_args

logger = logging.getLogger(__name__)

OVERDUE_AFTER = timedelta(seconds=30)
UNDELIVERED_AFTER = timedelta(minutes=2)
DELIVERY_OVERDUE_AFTER = timedelta(minutes=1)
BATCH = 500


@dataclass(frozen=True)
class AuditReport:
    overdue: int
    repaired: int
    undelivered: int


def _live_jobs(incident_ids: list[int]) -> set[tuple[int, int, int]]:
    """(incident, generation, page) of every step job still queued or running."""
    return {
        (args["incident_id"], args["generation"], args["tick"])
        for args in live_job_args(engine.RUN_STEP, "incident_id", incident_ids)
    }


def _record(kind: str, key: str, incident_id: int | None, detail: str, repaired: bool) -> bool:
    """Record a finding unless it was recorded before. Returns whether it is new.

    A page first recorded as merely behind whose job was later lost and re-queued becomes
    repaired: the finding (and its metric) must not keep saying nothing was done.
    """
    finding, created = AuditFinding.objects.get_or_create(
        kind=kind,
        key=key,
        defaults={"incident_id": incident_id, "detail": detail, "repaired": repaired},
    )
    if not created and repaired and not finding.repaired:
        AuditFinding.objects.filter(pk=finding.pk).update(repaired=True, detail=detail)
    return created


def _repair_overdue(now: datetime) -> tuple[int, int]:
    overdue = list(
        EscalationState.objects.filter(
            status=EscalationStatus.ESCALATING, due_at__lt=now - OVERDUE_AFTER
        )
        .order_by("due_at")
        .values_list("pk", flat=True)[:BATCH]
    )
    live = _live_jobs(overdue)
    repaired = 0
    for incident_id in overdue:
        with transaction.atomic():
            # The incident first, as the lifecycle and the step lock them: the finding's row
            # refers to the incident, checked at commit, which would otherwise wait on an
            # acknowledge that waits on this state's lock.
            if not Incident.objects.select_for_update(skip_locked=True).filter(pk=incident_id):
                continue
            state = (
                EscalationState.objects.select_for_update(skip_locked=True)
                .filter(
                    pk=incident_id,
                    status=EscalationStatus.ESCALATING,
                    due_at__lt=now - OVERDUE_AFTER,
                )
                .first()
            )
            if state is None:
                continue  # a step is running on it right now, or it moved on
            late = (now - state.due_at).total_seconds()
            key = f"{incident_id}:{state.generation}:{state.cursor}"
            if (incident_id, state.generation, state.cursor) in live:
                _record(
                    AuditFinding.Kind.OVERDUE_STEP,
                    key,
                    incident_id,
                    f"page {state.cursor} is {late:.0f} s late; its job is queued: workers behind?",
                    repaired=False,
                )
                continue
            engine.defer_page(state, at=now)
            repaired += 1
            _record(
                AuditFinding.Kind.OVERDUE_STEP,
                key,
                incident_id,
                f"page {state.cursor} was {late:.0f} s late and had no job; queued a new one",
                repaired=True,
            )
            logger.warning("auditor: re-queued page %s of incident %s", state.cursor, incident_id)
    return len(overdue), repaired


def _undelivered(now: datetime) -> int:
    stuck = list(
        undelivered_requests(older_than=now - UNDELIVERED_AFTER)
        .order_by("created_at")
        .values_list("pk", "incident_id", "user_id", "level")[:BATCH]
    )
    for pk, incident_id, user_id, level in stuck:
        _record(
            AuditFinding.Kind.UNDELIVERED,
            f"request:{pk}",
            incident_id,
            f"level {level} request for user {user_id} has no delivery record",
            repaired=False,
        )
    return len(stuck)


def _requeue_deliveries(now: datetime) -> int:
    """Deliveries and outbound posts a minute past due whose job is gone get a new one
    (notifications decides which)."""
    requeued = overdue_deliveries_requeue(due_before=now - DELIVERY_OVERDUE_AFTER)
    for delivery in requeued:
        _record(
            AuditFinding.Kind.OVERDUE_DELIVERY,
            f"delivery:{delivery.pk}:{delivery.attempts}",
            delivery.incident_id,
            f"{delivery.channel} delivery to user {delivery.user_id} was due at "
            f"{delivery.due_at.isoformat()} and had no job; queued a new one",
            repaired=True,
        )
    posts = outbound_overdue_requeue(due_before=now - DELIVERY_OVERDUE_AFTER)
    for post in posts:
        _record(
            AuditFinding.Kind.OVERDUE_DELIVERY,
            f"outbound:{post.pk}:{post.attempts}",
            post.incident_id,
            f"{post.event} post to destination {post.destination_id} was due at "
            f"{post.due_at.isoformat()} and had no job; queued a new one",
            repaired=True,
        )
    return len(requeued) + len(posts)


def ping_heartbeat(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (operator's URL)
            return 200 <= response.status < 300
    except (OSError, http.client.HTTPException, ValueError):
        # Whatever the monitor answers (or a malformed URL), the audit itself already happened.
        logger.warning("auditor: heartbeat %s did not answer", url, exc_info=True)
        return False


def audit(now: datetime | None = None) -> AuditReport:
    now = now or timezone.now()
    overdue, repaired = _repair_overdue(now)
    undelivered = _undelivered(now)
    _requeue_deliveries(now)
    if settings.ESCALATION_AUDITOR_HEARTBEAT_URL:
        ping_heartbeat(settings.ESCALATION_AUDITOR_HEARTBEAT_URL)
    return AuditReport(overdue=overdue, repaired=repaired, undelivered=undelivered)
