"""From a normalized event to an incident: the hot path every alert takes (DESIGN.md §3).

One transaction per event. Dedup is exact under concurrency without serializing requests on
one row: the partial unique index allows one open incident per (service, dedup key); a new one
is inserted with ON CONFLICT DO NOTHING, and a loser of that race attaches to the winner.
Attaching an alert takes only a KEY SHARE lock on the incident (the same lock its foreign key
takes), so concurrent alerts for one incident never wait on each other; lifecycle changes take
FOR UPDATE and therefore wait for them, so an alert can never land on an incident that was
resolved under its feet. No counter is updated per alert: the count is a query.
Maintenance windows (incidents/maintenance.py) are asked in the same query as the dedup key,
so they cost a trigger no round trip.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from incidents import events, maintenance, services
from incidents.models import (
    DEDUP_KEY_MAX_LENGTH,
    Alert,
    AlertAction,
    EventKind,
    Incident,
    Priority,
    Service,
    Severity,
    Status,
    Urgency,
)
from incidents.numbering import next_incident_number
from opsknight.actors import Actor
from opsknight.events import publish

# A resolve that arrives before its trigger (out of order) is remembered this long.
EARLY_RESOLVE_WINDOW = timedelta(minutes=5)
SEVERITY_URGENCY = {
    Severity.CRITICAL: Urgency.HIGH,
    Severity.ERROR: Urgency.MEDIUM,
    Severity.WARNING: Urgency.MEDIUM,
    Severity.INFO: Urgency.LOW,
}


@dataclass(frozen=True)
class NormalizedEvent:
    """What every integration turns its provider's payload into."""

    action: AlertAction
    dedup_key: str | None = None
    summary: str = ""
    severity: Severity = Severity.CRITICAL
    source: str = ""
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    occurred_at: datetime | None = None
    urgency: Urgency | None = None  # overrides the severity mapping (e.g. Opsgenie priority)
    priority: str = ""
    # This event's own part of the request (one alert of an Alertmanager group), stored as the
    # alert's payload instead of the whole body; None: the whole body.
    raw: Any = None


@dataclass(frozen=True)
class IngestResult:
    # triggered | suppressed | deduplicated | acknowledged | resolved | ignored | recorded
    outcome: str
    dedup_key: str
    alert: Alert
    incident: Incident | None = None


def normalize_dedup_key(key: str) -> str:
    """Keys longer than we store keep their identity: a prefix plus a hash of the whole."""
    if len(key) <= DEDUP_KEY_MAX_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{key[: DEDUP_KEY_MAX_LENGTH - 33]}~{digest}"


# No savepoint when nested (e.g. in integrations.receive): a failure fails the whole request
# anyway, and two fewer round trips per alert matter on this path.
@transaction.atomic(savepoint=False)
def ingest(
    *,
    service: Service,
    event: NormalizedEvent,
    payload: Any,
    integration_id: int | None = None,
    integration_kind: str = "",
    actor: Actor | None = None,
) -> IngestResult:
    """Record the event and apply it. A return means it is committed with its effects."""
    actor = actor or Actor.for_integration(integration_kind or "events")
    if event.action == AlertAction.TRIGGER:
        key = normalize_dedup_key(event.dedup_key or uuid.uuid4().hex)
    else:
        key = normalize_dedup_key(event.dedup_key or "")
    alert = Alert(
        organization_id=service.organization_id,
        service=service,
        integration_id=integration_id,
        integration_kind=integration_kind,
        action=event.action,
        dedup_key=key,
        summary=event.summary[:1024],
        severity=event.severity if event.action == AlertAction.TRIGGER else "",
        source=event.source[:255],
        details=event.details,
        links=event.links,
        images=event.images,
        payload=_stored_payload(event.raw if event.raw is not None else payload),
        occurred_at=event.occurred_at,
    )
    if event.action == AlertAction.CHANGE:
        return _finish(alert, "recorded", None)
    if event.action == AlertAction.TRIGGER:
        return _trigger(service, event, alert, actor)
    incident_id = _open_incident_id(service.pk, key)
    if incident_id is None:
        # Nothing open: an acknowledge is moot. A resolve is remembered for a late trigger,
        # unless it repeats one already applied: a second resolve (or one after a person
        # closed the incident) must not make the next real trigger be born resolved.
        late = _recently_resolved(service.pk, key) if event.action == AlertAction.RESOLVE else None
        return _finish(alert, "ignored", late)
    if event.action == AlertAction.ACKNOWLEDGE:
        result = services.acknowledge(incident_id=incident_id, actor=actor)
        return _finish(alert, "acknowledged", result.incident)
    result = services.resolve(incident_id=incident_id, actor=actor)
    return _finish(alert, "resolved", result.incident)


def record_alert(
    *,
    service: Service,
    action: AlertAction,
    outcome: str,
    incident: Incident | None,
    summary: str,
    payload: Any,
    dedup_key: str = "",
    source: str = "",
    details: dict[str, Any] | None = None,
    integration_id: int | None = None,
    integration_kind: str = "",
) -> Alert:
    """Log a request that was applied through the lifecycle services (e.g. an Opsgenie close by
    id) on the alert log, so it can be looked up like any other event."""
    alert = Alert(
        organization_id=service.organization_id,
        service=service,
        integration_id=integration_id,
        integration_kind=integration_kind,
        action=action,
        dedup_key=dedup_key,
        summary=summary[:1024],
        source=source[:255],
        details=details or {},
        payload=_stored_payload(payload if payload is not None else {}),
    )
    return _finish(alert, outcome, incident).alert


def _stored_payload(payload: Any) -> Any:
    return payload if isinstance(payload, dict | list) else {"body": payload}


def _finish(alert: Alert, outcome: str, incident: Incident | None) -> IngestResult:
    alert.outcome = outcome
    alert.incident = incident
    alert.save(force_insert=True)
    return IngestResult(outcome=outcome, dedup_key=alert.dedup_key, alert=alert, incident=incident)


_OPEN_INCIDENT_SQL = (
    "SELECT id FROM incidents_incident "
    "WHERE service_id = %s AND dedup_key = %s AND status <> 'resolved' FOR KEY SHARE"
)


def _open_incident_id(service_id: int, dedup_key: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(_OPEN_INCIDENT_SQL, [service_id, dedup_key])
        row = cursor.fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class _TriggerContext:
    incident_id: int | None  # the open incident with this key
    status: str | None  # its status
    resolved_early: bool  # a resolve for this key came in the last few minutes
    window_id: int | None  # the maintenance window covering the service now


def _trigger_context(
    service: Service, dedup_key: str, occurred_at: datetime | None
) -> _TriggerContext:
    """Every question a trigger asks, in one round trip (the window check costs none).

    A resolve counts as early only if it did not happen before this trigger: when a CI run goes
    green and the next one fails, the green run's resolve is older news, not an early resolve.
    """
    now = timezone.now()
    window_sql, window_params = maintenance.active_window_sql(service, now)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT found.id, found.status, EXISTS (SELECT 1 FROM incidents_alert "  # noqa: S608
            "WHERE service_id = %s AND dedup_key = %s AND incident_id IS NULL "
            "AND action = 'resolve' AND received_at >= %s AND (%s::timestamptz IS NULL "
            f"OR occurred_at IS NULL OR occurred_at >= %s::timestamptz)), ({window_sql}) "
            "FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT id, status "
            "FROM incidents_incident WHERE service_id = %s AND dedup_key = %s "
            "AND status <> 'resolved' FOR KEY SHARE) AS found ON true",
            [
                service.pk,
                dedup_key,
                now - EARLY_RESOLVE_WINDOW,
                occurred_at,
                occurred_at,
                *window_params,
                service.pk,
                dedup_key,
            ],
        )
        return _TriggerContext(*cursor.fetchone())


def _recently_resolved(service_id: int, dedup_key: str) -> Incident | None:
    """The incident with this key resolved within the early-resolve window, if any."""
    return (
        Incident.objects.filter(
            service_id=service_id,
            dedup_key=dedup_key,
            status=Status.RESOLVED,
            resolved_at__gte=timezone.now() - EARLY_RESOLVE_WINDOW,
        )
        .only("pk")
        .first()
    )


def _trigger(service: Service, event: NormalizedEvent, alert: Alert, actor: Actor) -> IngestResult:
    for _ in range(5):
        found = _trigger_context(service, alert.dedup_key, alert.occurred_at)
        if found.incident_id is not None:
            if found.status == Status.SUPPRESSED and found.window_id is None:
                # The problem outlived the maintenance: page now rather than never.
                resumed = maintenance.resume_paging(
                    incident_id=found.incident_id, actor=actor, summary=alert.summary
                )
                if resumed is not None:
                    return _finish(alert, "triggered", resumed)
            return _finish(alert, "deduplicated", Incident(pk=found.incident_id))
        if found.resolved_early:
            incident = _create_incident(service, event, alert, status=Status.RESOLVED)
            services.record_event(incident, EventKind.TRIGGERED, actor, alert.summary)
            services.record_event(
                incident, EventKind.RESOLVED, actor, "its resolve arrived before the trigger"
            )
            _link_early_resolves(incident, service.pk, alert.dedup_key)
            return _finish(alert, "resolved", incident)
        if found.window_id is not None:
            incident = _create_incident(service, event, alert, status=Status.SUPPRESSED)
            if incident is not None:
                # On the dashboard, but no IncidentTriggered: escalation never starts.
                maintenance.record_suppressed(incident, found.window_id, actor, alert.summary)
                services.announce(incident)
                return _finish(alert, "suppressed", incident)
            continue
        incident = _create_incident(service, event, alert, status=Status.TRIGGERED)
        if incident is not None:
            services.record_event(incident, EventKind.TRIGGERED, actor, alert.summary)
            publish(
                events.IncidentTriggered(
                    incident_id=incident.pk,
                    organization_id=incident.organization_id,
                    actor_id=actor.user_id,
                    urgency=incident.urgency,
                )
            )
            services.announce(incident)
            return _finish(alert, "triggered", incident)
        # Lost the race to a concurrent trigger with the same key: attach to its incident.
    raise RuntimeError(f"could not settle dedup key {alert.dedup_key!r} after 5 attempts")


def _link_early_resolves(incident: Incident, service_id: int, dedup_key: str) -> None:
    Alert.objects.filter(
        service_id=service_id,
        dedup_key=dedup_key,
        incident__isnull=True,
        action=AlertAction.RESOLVE,
        received_at__gte=timezone.now() - EARLY_RESOLVE_WINDOW,
    ).update(incident=incident, outcome="resolved")


def _urgency(service: Service, event: NormalizedEvent) -> str:
    return event.urgency or service.default_urgency or SEVERITY_URGENCY[Severity(event.severity)]


def _create_incident(
    service: Service, event: NormalizedEvent, alert: Alert, *, status: Status
) -> Incident | None:
    """INSERT … ON CONFLICT DO NOTHING on the open-dedup index; None if another trigger won."""
    now = timezone.now()
    incident = Incident(
        organization_id=service.organization_id,
        number=next_incident_number(service.organization_id),
        service=service,
        title=(event.summary or alert.dedup_key)[:1024],
        description=event.description[:20_000],
        status=status,
        urgency=_urgency(service, event),
        # Parsers pass what providers send; only a real P1-P5 is kept (raw SQL below skips
        # the model's choices check, and a bad value must never become a 500).
        priority=event.priority if event.priority in Priority.values else "",
        severity=event.severity,
        dedup_key=alert.dedup_key,
        source=event.source[:255],
        created_at=now,
        updated_at=now,
        resolved_at=now if status == Status.RESOLVED else None,
    )
    fields = [f for f in Incident._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    values = [f.get_db_prep_save(getattr(incident, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO incidents_incident ({columns}) VALUES ({placeholders}) "  # noqa: S608
            "ON CONFLICT (service_id, dedup_key) WHERE status <> 'resolved' DO NOTHING "
            "RETURNING id",
            values,
        )
        row = cursor.fetchone()
    if row is None:
        return None
    incident.pk = row[0]
    incident._state.adding = False
    return incident
