"""Maintenance windows: planned work during which a service's alerts page nobody.

A trigger that arrives while a window covers its service (the service's own window, or an
organization-wide one) opens its incident SUPPRESSED: it is on the dashboard, with a timeline
row naming the window, but IncidentTriggered is not published, so escalation never starts.
Alerts with the same dedup key attach to it as usual. A suppressed incident must not stay
silent once the maintenance is over: the first trigger for it after every window has ended
moves it to TRIGGERED and publishes IncidentTriggered then (`resume_paging`).

The hot path asks "is a window active?" inside the query every trigger already makes
(`active_window_sql`, folded into incidents/ingestion.py), so it costs no round trip.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from incidents import events, services
from incidents.models import EventKind, Incident, MaintenanceWindow, Service, Status
from opsknight.actors import Actor
from opsknight.events import publish
from opsknight.models import Organization, User
from opsknight.services import audit_record

# A typo must not silence a service for a year: longer work is several windows.
MAX_WINDOW = timedelta(days=31)

# The window covering a service at a time, as a scalar subquery for the trigger's one query.
# Its service's own or organization-wide; of several, the one that ends last (said on the
# timeline). Uses the index maintenance_active_at (organization, end).
_ACTIVE_WINDOW_SQL = (
    "SELECT id FROM incidents_maintenancewindow "
    'WHERE organization_id = %s AND "end" > %s AND start <= %s '
    "AND (service_id IS NULL OR service_id = %s) "
    'ORDER BY "end" DESC, id LIMIT 1'
)


def active_window_sql(service: Service, at: datetime) -> tuple[str, list[Any]]:
    """SQL (and its parameters) answering the id of the window covering `service` at `at`."""
    return _ACTIVE_WINDOW_SQL, [service.organization_id, at, at, service.pk]


# --- selectors ---------------------------------------------------------------------------------


def active_windows(service: Service, at: datetime | None = None) -> QuerySet[MaintenanceWindow]:
    """Every window covering `service` at `at` (default now), the one ending last first."""
    at = at or timezone.now()
    return (
        MaintenanceWindow.objects.filter(
            organization_id=service.organization_id, end__gt=at, start__lte=at
        )
        .filter(Q(service__isnull=True) | Q(service_id=service.pk))
        .order_by("-end", "pk")
    )


def active_maintenance(service: Service, at: datetime | None = None) -> MaintenanceWindow | None:
    """The window that suppresses `service`'s triggers at `at` (default now), or None."""
    return active_windows(service, at).first()


# --- services ----------------------------------------------------------------------------------


def _aware(value: datetime, field: str) -> datetime:
    if timezone.is_naive(value):
        raise ValidationError({field: "Give a time with its time zone."})
    return value


def validate_window(start: datetime, end: datetime) -> None:
    """What a new window must be beyond the model's invariants: still to come, not endless."""
    if end - start > MAX_WINDOW:
        raise ValidationError({"end": f"A window lasts at most {MAX_WINDOW.days} days."})
    if end <= timezone.now():
        raise ValidationError({"end": "This window is already over."})


@transaction.atomic
def _window_create(
    *,
    organization: Organization,
    service: Service | None,
    start: datetime,
    end: datetime,
    reason: str,
    actor: User | None,
) -> MaintenanceWindow:
    window = MaintenanceWindow(
        organization=organization,
        service=service,
        start=_aware(start, "start"),
        end=_aware(end, "end"),
        reason=reason.strip(),
        created_by=actor,
    )
    window.full_clean()
    validate_window(start, end)
    window.save()
    audit_record(
        action="maintenance.scheduled",
        organization=organization,
        actor=actor,
        target=window,
        data={
            "service": service.name if service else None,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "reason": window.reason,
        },
    )
    return window


def maintenance_start(
    *,
    organization: Organization,
    minutes: int,
    service: Service | None = None,
    reason: str = "",
    actor: User | None = None,
) -> MaintenanceWindow:
    """Start maintenance now for `minutes`; without a service, for the whole organization."""
    if minutes < 1:
        raise ValidationError({"minutes": "Maintenance lasts at least one minute."})
    now = timezone.now()
    return _window_create(
        organization=organization,
        service=service,
        start=now,
        end=now + timedelta(minutes=minutes),
        reason=reason,
        actor=actor,
    )


def maintenance_schedule(
    *,
    organization: Organization,
    start: datetime,
    end: datetime,
    service: Service | None = None,
    reason: str = "",
    actor: User | None = None,
) -> MaintenanceWindow:
    """Plan maintenance from `start` to `end` (time-zone aware; `end` still to come)."""
    return _window_create(
        organization=organization,
        service=service,
        start=start,
        end=end,
        reason=reason,
        actor=actor,
    )


@transaction.atomic
def maintenance_end(*, window: MaintenanceWindow, actor: User | None = None) -> MaintenanceWindow:
    """End a running window now; a window not yet started is cancelled (deleted).

    An ended window is left alone. Suppressed incidents page on their next trigger.
    """
    locked = MaintenanceWindow.objects.select_for_update().get(pk=window.pk)
    now = timezone.now()
    if locked.end <= now:
        return locked
    if locked.start >= now:
        audit_record(
            action="maintenance.cancelled",
            organization=locked.organization,
            actor=actor,
            target=locked,
            data={"start": locked.start.isoformat(), "end": locked.end.isoformat()},
        )
        locked.delete()
        return locked
    planned, locked.end = locked.end, now
    locked.save(update_fields=["end"])
    audit_record(
        action="maintenance.ended",
        organization=locked.organization,
        actor=actor,
        target=locked,
        data={"planned_end": planned.isoformat(), "end": now.isoformat()},
    )
    return locked


# --- the trigger path (called by incidents/ingestion.py) ---------------------------------------


def record_suppressed(incident: Incident, window_id: int, actor: Actor, summary: str) -> None:
    """The timeline row of an incident born during maintenance: which window silenced it."""
    window = MaintenanceWindow.objects.get(pk=window_id)
    scope = "organization-wide " if window.service_id is None else ""
    services.record_event(
        incident,
        EventKind.SUPPRESSED,
        actor,
        f"{summary} — arrived during {scope}maintenance window #{window.pk}"
        f"{': ' + window.reason if window.reason else ''} (until {window.end.isoformat()}); "
        "pages nobody",
        {"window_id": window.pk, "window_end": window.end.isoformat()},
    )


@transaction.atomic(savepoint=False)
def resume_paging(*, incident_id: int, actor: Actor, summary: str) -> Incident | None:
    """A trigger for a suppressed incident after its maintenance: it pages now, or None if
    another transaction already moved it. Emits: IncidentTriggered.

    A guarded UPDATE rather than the lifecycle's FOR UPDATE: the trigger path already holds
    KEY SHARE on the row, as may a concurrent trigger, and two upgrades to FOR UPDATE would
    deadlock. UPDATE takes NO KEY UPDATE, which does not conflict with KEY SHARE; a concurrent
    loser re-checks `status` after waiting and changes nothing.
    """
    now = timezone.now()
    moved = Incident.objects.filter(pk=incident_id, status=Status.SUPPRESSED).update(
        status=Status.TRIGGERED, updated_at=now
    )
    if not moved:
        return None
    incident = Incident.objects.get(pk=incident_id)
    services.record_event(
        incident,
        EventKind.TRIGGERED,
        actor,
        "maintenance ended; now paging",
        {"from": Status.SUPPRESSED, "summary": summary[:500]},
    )
    publish(
        events.IncidentTriggered(
            incident_id=incident.pk,
            organization_id=incident.organization_id,
            actor_id=actor.user_id,
            urgency=incident.urgency,
        )
    )
    services.announce(incident)
    return incident
