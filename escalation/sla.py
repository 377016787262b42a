"""SLA clocks: warn before and record when an incident misses its acknowledge or resolve target.

Targets come from the service (or its per-urgency override) and are fixed when the incident
triggers, then follow urgency changes. Time spent snoozed does not count: a snooze pauses both
clocks. Each clock row keeps `next_check_at`, the earliest warning or breach still to come, so
the periodic check reads only the clocks that are due, through a partial index.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from escalation.events import SlaBreached, SlaWarning
from escalation.models import SlaClock
from escalation.selectors import TriggerContext, trigger_context
from incidents.models import EventKind, Incident
from incidents.services import announce, record_event
from opsknight.actors import Actor
from opsknight.events import publish

CHECK_BATCH = 500
SLA = Actor.system("SLA")


def _deadline(clock: SlaClock, minutes: int) -> datetime:
    return clock.started_at + timedelta(minutes=minutes, seconds=clock.paused_seconds)


def _pending(clock: SlaClock) -> list[tuple[datetime, str, str]]:
    """(when, target, stage) for every warning and breach still to come."""
    if clock.stopped or clock.paused_since is not None:
        return []
    warning = timedelta(minutes=clock.warning_minutes)
    found = []
    for target, minutes, warned, breached, done in (
        (
            "acknowledge",
            clock.ack_minutes,
            clock.ack_warned_at,
            clock.ack_breached_at,
            clock.acknowledged,
        ),
        (
            "resolve",
            clock.resolve_minutes,
            clock.resolve_warned_at,
            clock.resolve_breached_at,
            False,
        ),
    ):
        if done or breached:
            continue
        due = _deadline(clock, minutes)
        if warned is None and clock.warning_minutes and warning < timedelta(minutes=minutes):
            found.append((due - warning, target, "warning"))
        found.append((due, target, "breach"))
    return found


def _reschedule(clock: SlaClock) -> None:
    pending = _pending(clock)
    clock.next_check_at = min(when for when, _, _ in pending) if pending else None


def sla_start(context: TriggerContext) -> None:
    """Start both clocks, in one upsert (this runs on the ingestion hot path)."""
    clock = SlaClock(
        incident_id=context.incident_id,
        started_at=context.created_at,
        ack_minutes=context.ack_minutes,
        resolve_minutes=context.resolve_minutes,
        warning_minutes=context.warning_minutes,
    )
    _reschedule(clock)
    SlaClock.objects.bulk_create(
        [clock],
        update_conflicts=True,
        unique_fields=["incident"],
        update_fields=[
            "started_at",
            "ack_minutes",
            "resolve_minutes",
            "warning_minutes",
            "paused_seconds",
            "paused_since",
            "acknowledged",
            "stopped",
            "ack_warned_at",
            "ack_breached_at",
            "resolve_warned_at",
            "resolve_breached_at",
            "next_check_at",
        ],
    )


def _change(incident_id: int, change) -> None:
    clock = SlaClock.objects.select_for_update().filter(pk=incident_id).first()
    if clock is None:
        return
    change(clock)
    _reschedule(clock)
    clock.save()


def _unpause(clock: SlaClock) -> None:
    if clock.paused_since is not None:
        clock.paused_seconds += (timezone.now() - clock.paused_since).total_seconds()
        clock.paused_since = None


def sla_acknowledged(*, incident_id: int) -> None:
    # Acknowledging a snoozed incident ends its snooze with no unsnooze event: unpause here,
    # or the resolve clock would stay paused for good.
    def acknowledge(clock: SlaClock) -> None:
        _unpause(clock)
        clock.acknowledged = True

    _change(incident_id, acknowledge)


def sla_stopped(*, incident_id: int) -> None:
    # Resolving ends a snooze too; a clock left paused would never run again after a reopen.
    def stop(clock: SlaClock) -> None:
        _unpause(clock)
        clock.stopped = True

    _change(incident_id, stop)


def sla_reopened(*, incident_id: int) -> None:
    """Reopened: both clocks start again from now, as for a new incident (the earlier run's
    warnings and breaches stay on the timeline)."""

    def restart(clock: SlaClock) -> None:
        clock.started_at, clock.paused_seconds, clock.paused_since = timezone.now(), 0, None
        clock.acknowledged = clock.stopped = False
        clock.ack_warned_at = clock.ack_breached_at = None
        clock.resolve_warned_at = clock.resolve_breached_at = None

    _change(incident_id, restart)


def sla_paused(*, incident_id: int) -> None:
    def pause(clock: SlaClock) -> None:
        clock.paused_since = clock.paused_since or timezone.now()

    _change(incident_id, pause)


def sla_resumed(*, incident_id: int) -> None:
    _change(incident_id, _unpause)


def sla_retarget(*, incident_id: int) -> None:
    """Urgency changed: the per-urgency targets may differ."""
    context = trigger_context(incident_id=incident_id)

    def retarget(clock: SlaClock) -> None:
        clock.ack_minutes = context.ack_minutes
        clock.resolve_minutes = context.resolve_minutes
        clock.warning_minutes = context.warning_minutes

    _change(incident_id, retarget)


def _fire(clock: SlaClock, incident: Incident, target: str, stage: str, now: datetime) -> None:
    minutes = clock.ack_minutes if target == "acknowledge" else clock.resolve_minutes
    prefix = "ack" if target == "acknowledge" else "resolve"
    base = {"incident_id": incident.pk, "organization_id": incident.organization_id}
    if stage == "warning":
        left = max(0, round((_deadline(clock, minutes) - now).total_seconds() / 60))
        setattr(clock, f"{prefix}_warned_at", now)
        record_event(
            incident,
            EventKind.SLA_WARNING,
            SLA,
            f"SLA warning: {left} min left to {target} (target {minutes} min)",
            {"target": target, "target_minutes": minutes, "minutes_left": left},
        )
        publish(SlaWarning(**base, target=target, target_minutes=minutes, minutes_left=left))
    else:
        setattr(clock, f"{prefix}_breached_at", now)
        record_event(
            incident,
            EventKind.SLA_BREACHED,
            SLA,
            f"SLA breached: not {target}d within {minutes} min",
            {"target": target, "target_minutes": minutes},
        )
        publish(SlaBreached(**base, target=target, target_minutes=minutes))


def sla_check(now: datetime | None = None) -> int:
    """Fire every warning and breach that has come due. Returns how many fired.

    A warning whose breach is also due (a check that ran late) is skipped: the breach says more.
    Incidents are locked before their clocks, the lifecycle's order (a transition locks the
    incident, then its subscribers lock the clock), so a check never deadlocks with an
    acknowledge. SKIP LOCKED: an incident changing right now is checked next time, and two
    workers checking at once split the work.
    """
    fired = 0
    with transaction.atomic():
        now = now or timezone.now()
        due_ids = list(
            SlaClock.objects.filter(next_check_at__lte=now)
            .order_by("next_check_at")
            .values_list("pk", flat=True)[:CHECK_BATCH]
        )
        incidents = Incident.objects.select_for_update(skip_locked=True).in_bulk(due_ids)
        clocks = list(
            SlaClock.objects.select_for_update(skip_locked=True)
            .filter(pk__in=list(incidents), next_check_at__lte=now)
            .order_by("next_check_at")
        )
        for clock in clocks:
            incident = incidents[clock.pk]
            due = [(when, target, stage) for when, target, stage in _pending(clock) if when <= now]
            breached = {target for _, target, stage in due if stage == "breach"}
            for _, target, stage in sorted(due):
                if stage == "warning" and target in breached:
                    setattr(
                        clock, f"{'ack' if target == 'acknowledge' else 'resolve'}_warned_at", now
                    )
                    continue
                _fire(clock, incident, target, stage, now)
                fired += 1
            _reschedule(clock)
            clock.save()
            if due:
                announce(incident)
    return fired
