"""Heartbeat monitors (dead man's switch): a job pings its URL; silence opens an incident.

States: `never` until the first ping, `up` while pings come in time, `down` once `deadline_at`
(last ping + interval + grace) has passed: the periodic check then opens an incident through
the normal ingestion path (dedup key `heartbeat-<id>`, so maintenance windows and dedup apply
as to any alert), and the next ping resolves it and makes the heartbeat `up` again. A heartbeat
that was never pinged goes down interval + grace after it was created (or re-enabled): a monitor
set up but never wired is as silent as a job that died.

Races (two workers running the check, a ping arriving during it): every transition locks the
heartbeat row first and re-checks the state under the lock; the check uses SKIP LOCKED so
workers share the overdue rows instead of queueing on them. So each outage opens one incident
and is resolved once. The row lock is always taken before the incident's, in both paths.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from incidents.ingestion import NormalizedEvent, ingest
from incidents.models import AlertAction, Service, Severity
from integrations.keys import hash_key, new_routing_key
from integrations.models import Heartbeat, HeartbeatState
from opsknight.actors import Actor
from opsknight.models import User
from opsknight.services import audit_record

INTEGRATION_KIND = "heartbeat"  # on the alert log; heartbeats are not integrations
CHECK_BATCH = 500  # per run; the rest go down a minute later

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssuedHeartbeat:
    heartbeat: Heartbeat
    key: str


@dataclass(frozen=True)
class PingResult:
    status: str  # ok | unknown_key | disabled
    heartbeat: Heartbeat | None = None
    next_expected_by: datetime | None = None
    resolved: bool = False  # the ping ended an outage


# --- pure helpers -------------------------------------------------------------------------------


def ping_path(key: str) -> str:
    return reverse("heartbeat-ping", args=[key])


def ping_url(key: str) -> str:
    """What the monitored job calls (GET or POST), shown once: only the key's hash is kept."""
    return f"{settings.BASE_URL}{ping_path(key)}"


def dedup_key(heartbeat: Heartbeat) -> str:
    return f"heartbeat-{heartbeat.pk}"


def deadline(since: datetime, interval_minutes: int, grace_minutes: int) -> datetime:
    """When silence since `since` makes a heartbeat down."""
    return since + timedelta(minutes=interval_minutes + grace_minutes)


def silence_summary(heartbeat: Heartbeat, now: datetime) -> str:
    since = heartbeat.last_ping_at or heartbeat.created_at
    minutes = max(0, int((now - since).total_seconds() // 60))
    return f"No heartbeat from {heartbeat.name} for {minutes} minutes"


def _actor(heartbeat: Heartbeat) -> Actor:
    return Actor(user=None, label=f"heartbeat {heartbeat.name}"[:200])


# --- configuration (audited) --------------------------------------------------------------------


@transaction.atomic
def heartbeat_create(
    *,
    service: Service,
    name: str,
    interval_minutes: int = 5,
    grace_minutes: int = 1,
    created_by: User | None = None,
) -> IssuedHeartbeat:
    """A new heartbeat and its ping key (returned once). It goes down if never pinged."""
    key = new_routing_key()
    now = timezone.now()
    heartbeat = Heartbeat(
        organization_id=service.organization_id,
        service=service,
        name=name,
        key_prefix=key[:8],
        key_hash=hash_key(key),
        interval_minutes=interval_minutes,
        grace_minutes=grace_minutes,
        deadline_at=deadline(now, interval_minutes, grace_minutes),
        created_by=created_by,
        created_at=now,
    )
    heartbeat.full_clean()
    heartbeat.save()
    audit_record(
        action="heartbeat.created",
        organization=service.organization,
        actor=created_by,
        target=heartbeat,
        data={"name": name, "service": service.name, "interval_minutes": interval_minutes},
    )
    return IssuedHeartbeat(heartbeat, key)


@transaction.atomic
def heartbeat_update(
    *,
    heartbeat: Heartbeat,
    name: str,
    interval_minutes: int,
    grace_minutes: int,
    actor: User | None = None,
) -> Heartbeat:
    """Rename or retime; the deadline follows the new timing from the last ping (or now)."""
    locked = Heartbeat.objects.select_for_update().get(pk=heartbeat.pk)
    before = {
        "name": locked.name,
        "interval": locked.interval_minutes,
        "grace": locked.grace_minutes,
    }
    locked.name, locked.interval_minutes, locked.grace_minutes = (
        name,
        interval_minutes,
        grace_minutes,
    )
    locked.full_clean()
    locked.deadline_at = deadline(
        locked.last_ping_at or timezone.now(), interval_minutes, grace_minutes
    )
    locked.save(update_fields=["name", "interval_minutes", "grace_minutes", "deadline_at"])
    audit_record(
        action="heartbeat.updated",
        organization=locked.organization,
        actor=actor,
        target=locked,
        data={
            "before": before,
            "after": {"name": name, "interval": interval_minutes, "grace": grace_minutes},
        },
    )
    return locked


@transaction.atomic
def heartbeat_set_enabled(
    *, heartbeat: Heartbeat, enabled: bool, actor: User | None = None
) -> Heartbeat:
    """Disabled heartbeats refuse pings and never go down. Re-enabled ones get a full
    interval + grace before silence counts (the time spent disabled is not an outage)."""
    locked = Heartbeat.objects.select_for_update().get(pk=heartbeat.pk)
    if locked.enabled == enabled:
        return locked
    locked.enabled = enabled
    if enabled:
        locked.deadline_at = deadline(timezone.now(), locked.interval_minutes, locked.grace_minutes)
    locked.save(update_fields=["enabled", "deadline_at"])
    audit_record(
        action="heartbeat.enabled" if enabled else "heartbeat.disabled",
        organization=locked.organization,
        actor=actor,
        target=locked,
    )
    return locked


@transaction.atomic
def heartbeat_rotate_key(*, heartbeat: Heartbeat, actor: User | None = None) -> str:
    """A new ping key, returned once; the old URL answers 404 when this commits."""
    key = new_routing_key()
    heartbeat.key_prefix, heartbeat.key_hash = key[:8], hash_key(key)
    heartbeat.save(update_fields=["key_prefix", "key_hash"])
    audit_record(
        action="heartbeat.key_rotated",
        organization=heartbeat.organization,
        actor=actor,
        target=heartbeat,
    )
    return key


# --- the two transitions ------------------------------------------------------------------------


@transaction.atomic
def heartbeat_ping(*, key: str, now: datetime | None = None) -> PingResult:
    """A ping: the heartbeat is up until interval + grace from now; a down one resolves its
    incident. Unknown and disabled keys write nothing."""
    if not key or len(key) > 200:
        return PingResult("unknown_key")
    heartbeat = (
        Heartbeat.objects.select_for_update(of=("self",))
        .select_related("service")
        .filter(key_hash=hash_key(key))
        .first()
    )
    if heartbeat is None:
        return PingResult("unknown_key")
    if not heartbeat.enabled or not heartbeat.service.is_active:
        return PingResult("disabled", heartbeat)
    now = now or timezone.now()
    was = heartbeat.state
    heartbeat.state = HeartbeatState.UP
    heartbeat.last_ping_at = now
    heartbeat.deadline_at = deadline(now, heartbeat.interval_minutes, heartbeat.grace_minutes)
    heartbeat.save(update_fields=["state", "last_ping_at", "deadline_at"])
    if was == HeartbeatState.DOWN:
        ingest(
            service=heartbeat.service,
            event=NormalizedEvent(
                action=AlertAction.RESOLVE,
                dedup_key=dedup_key(heartbeat),
                summary=f"Heartbeat from {heartbeat.name} again",
                source=INTEGRATION_KIND,
            ),
            payload={"heartbeat_id": heartbeat.pk, "pinged_at": now.isoformat()},
            integration_kind=INTEGRATION_KIND,
            actor=_actor(heartbeat),
        )
    return PingResult(
        "ok",
        heartbeat,
        next_expected_by=now + timedelta(minutes=heartbeat.interval_minutes),
        resolved=was == HeartbeatState.DOWN,
    )


def _overdue(now: datetime) -> QuerySet[Heartbeat]:
    return (
        Heartbeat.objects.filter(enabled=True, deadline_at__lte=now, service__is_active=True)
        .exclude(state=HeartbeatState.DOWN)
        .order_by("deadline_at")
    )


@transaction.atomic
def heartbeat_mark_down(*, heartbeat_id: int, now: datetime | None = None) -> bool:
    """If this heartbeat is (still) overdue, make it down and open its incident; False if it
    is not, or another worker holds it. Idempotent."""
    now = now or timezone.now()
    heartbeat = (
        _overdue(now)
        .select_for_update(of=("self",), skip_locked=True)
        .select_related("service")
        .filter(pk=heartbeat_id)
        .first()
    )
    if heartbeat is None:
        return False
    heartbeat.state = HeartbeatState.DOWN
    heartbeat.save(update_fields=["state"])
    ingest(
        service=heartbeat.service,
        event=NormalizedEvent(
            action=AlertAction.TRIGGER,
            dedup_key=dedup_key(heartbeat),
            summary=silence_summary(heartbeat, now),
            severity=Severity.CRITICAL,
            source=INTEGRATION_KIND,
            details={
                "heartbeat_id": heartbeat.pk,
                "last_ping_at": heartbeat.last_ping_at.isoformat()
                if heartbeat.last_ping_at
                else None,
                "interval_minutes": heartbeat.interval_minutes,
                "grace_minutes": heartbeat.grace_minutes,
            },
        ),
        payload={"heartbeat_id": heartbeat.pk, "deadline_at": heartbeat.deadline_at.isoformat()},
        integration_kind=INTEGRATION_KIND,
        actor=_actor(heartbeat),
    )
    return True


def heartbeats_check(*, now: datetime | None = None) -> list[int]:
    """Make every overdue heartbeat down, each in its own transaction (one failure does not
    hold back the others). Returns the ids this call made down."""
    now = now or timezone.now()
    down: list[int] = []
    for pk in list(_overdue(now).values_list("pk", flat=True)[:CHECK_BATCH]):
        try:
            if heartbeat_mark_down(heartbeat_id=pk, now=now):
                down.append(pk)
        except Exception:
            # Rolled back, still overdue: retried by the next run; the others go on.
            logger.exception("heartbeat %s could not be marked down", pk)
    return down
