"""The incident lifecycle: one service per transition, the only place an incident changes state.

Each transition locks the incident row (FOR UPDATE, which also waits for alerts being attached
to it), checks the current state, writes the change and its timeline row, publishes its event
and a live-update hint, all in one transaction. Asking for the state an incident is already in
is a no-op (`changed=False`); asking for an impossible move raises TransitionError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents import events
from incidents.models import (
    OPEN_STATUSES,
    EventKind,
    Incident,
    IncidentEvent,
    Note,
    Priority,
    Service,
    Status,
    Urgency,
)
from opsknight import realtime
from opsknight.actors import Actor
from opsknight.events import publish
from opsknight.models import Organization, User

MAX_SNOOZE = timedelta(days=7)


class TransitionError(ValidationError):
    """The incident is not in a state that allows this change (HTTP 409)."""


@dataclass(frozen=True)
class TransitionResult:
    incident: Incident
    changed: bool


@transaction.atomic
def service_create(
    *, organization: Organization, name: str, description: str = "", **fields: Any
) -> Service:
    service = Service(organization=organization, name=name, description=description, **fields)
    service.full_clean()
    service.save()
    return service


def record_event(
    incident: Incident,
    kind: EventKind,
    actor: Actor,
    message: str = "",
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    """Append one timeline row. Call inside the transaction of the change it records."""
    return IncidentEvent.objects.create(
        incident=incident,
        kind=kind,
        actor=actor.user,
        actor_label=actor.label[:200],
        message=message[:2000],
        data=data or {},
    )


def announce(incident: Incident) -> None:
    """Tell every open dashboard of the organization, once this transaction commits."""
    realtime.broadcast(
        realtime.organization_group(incident.organization_id),
        {
            "type": "incident.changed",
            "id": incident.pk,
            "number": incident.number,
            "status": incident.status,
        },
    )


def _locked(incident_id: int) -> Incident:
    return Incident.objects.select_for_update().select_related("service").get(pk=incident_id)


def _transition(
    incident_id: int,
    *,
    actor: Actor,
    to: Status,
    allowed_from: Iterable[Status],
    verb: str,
    kind: EventKind,
    event: Callable[[Incident], events.IncidentEvent],
    apply: Callable[[Incident], None] = lambda incident: None,
    message: str = "",
    data: dict[str, Any] | None = None,
) -> TransitionResult:
    incident = _locked(incident_id)
    if incident.status == to and to != Status.SNOOZED:
        return TransitionResult(incident, changed=False)
    if incident.status not in allowed_from:
        raise TransitionError(
            f"Incident #{incident.number} is {incident.status}; it cannot be {verb}."
        )
    previous = incident.status
    incident.status = to
    incident.updated_at = timezone.now()
    apply(incident)
    incident.save()
    record_event(incident, kind, actor, message, {"from": previous, **(data or {})})
    publish(event(incident))
    announce(incident)
    return TransitionResult(incident, changed=True)


def _base(incident: Incident, actor: Actor) -> dict[str, Any]:
    return {
        "incident_id": incident.pk,
        "organization_id": incident.organization_id,
        "actor_id": actor.user_id,
    }


@transaction.atomic
def acknowledge(*, incident_id: int, actor: Actor) -> TransitionResult:
    """Someone is on it: escalation stops. Emits: IncidentAcknowledged."""

    def apply(incident: Incident) -> None:
        incident.acknowledged_at = incident.acknowledged_at or timezone.now()
        incident.acknowledged_by = actor.user
        incident.snoozed_until = None

    return _transition(
        incident_id,
        actor=actor,
        to=Status.ACKNOWLEDGED,
        verb="acknowledged",
        allowed_from=(Status.TRIGGERED, Status.SNOOZED, Status.SUPPRESSED),
        kind=EventKind.ACKNOWLEDGED,
        apply=apply,
        event=lambda i: events.IncidentAcknowledged(**_base(i, actor)),
    )


@transaction.atomic
def unacknowledge(*, incident_id: int, actor: Actor) -> TransitionResult:
    """Give it back: the incident pages again. Emits: IncidentUnacknowledged."""

    def apply(incident: Incident) -> None:
        incident.acknowledged_by = None

    return _transition(
        incident_id,
        actor=actor,
        to=Status.TRIGGERED,
        verb="unacknowledged",
        allowed_from=(Status.ACKNOWLEDGED,),
        kind=EventKind.UNACKNOWLEDGED,
        apply=apply,
        event=lambda i: events.IncidentUnacknowledged(**_base(i, actor)),
    )


@transaction.atomic
def snooze(
    *, incident_id: int, actor: Actor, duration: timedelta, reason: str = ""
) -> TransitionResult:
    """Quiet until a time; then it triggers again. Emits: IncidentSnoozed."""
    if not timedelta(minutes=1) <= duration <= MAX_SNOOZE:
        raise ValidationError({"duration": "Snooze for between 1 minute and 7 days."})
    until = timezone.now() + duration

    def apply(incident: Incident) -> None:
        incident.snoozed_until = until

    return _transition(
        incident_id,
        actor=actor,
        to=Status.SNOOZED,
        verb="snoozed",
        allowed_from=(Status.TRIGGERED, Status.ACKNOWLEDGED, Status.SNOOZED),
        kind=EventKind.SNOOZED,
        apply=apply,
        message=reason,
        data={"until": until.isoformat(), "minutes": int(duration.total_seconds() // 60)},
        event=lambda i: events.IncidentSnoozed(**_base(i, actor), until=until),
    )


@transaction.atomic
def unsnooze(*, incident_id: int, actor: Actor) -> TransitionResult:
    """Snooze over (by hand or by its timer): triggered again. Emits: IncidentUnsnoozed."""

    def apply(incident: Incident) -> None:
        incident.snoozed_until = None
        incident.acknowledged_by = None

    return _transition(
        incident_id,
        actor=actor,
        to=Status.TRIGGERED,
        verb="unsnoozed",
        allowed_from=(Status.SNOOZED,),
        kind=EventKind.UNSNOOZED,
        apply=apply,
        event=lambda i: events.IncidentUnsnoozed(**_base(i, actor)),
    )


@transaction.atomic
def resolve(*, incident_id: int, actor: Actor, note: str = "") -> TransitionResult:
    """Fixed. Emits: IncidentResolved."""

    def apply(incident: Incident) -> None:
        incident.resolved_at = timezone.now()
        incident.resolved_by = actor.user
        incident.snoozed_until = None

    result = _transition(
        incident_id,
        actor=actor,
        to=Status.RESOLVED,
        verb="resolved",
        allowed_from=OPEN_STATUSES,
        kind=EventKind.RESOLVED,
        apply=apply,
        message=note,
        event=lambda i: events.IncidentResolved(**_base(i, actor)),
    )
    if result.changed and note:
        Note.objects.create(incident=result.incident, author=actor.user, body=note)
    return result


@transaction.atomic
def reopen(*, incident_id: int, actor: Actor) -> TransitionResult:
    """Not fixed after all: triggered again, escalation from the start. Emits: IncidentReopened."""

    def apply(incident: Incident) -> None:
        incident.resolved_at = incident.resolved_by = None
        incident.acknowledged_at = incident.acknowledged_by = None

    try:
        with transaction.atomic():
            return _transition(
                incident_id,
                actor=actor,
                to=Status.TRIGGERED,
                verb="reopened",
                allowed_from=(Status.RESOLVED,),
                kind=EventKind.REOPENED,
                apply=apply,
                event=lambda i: events.IncidentReopened(**_base(i, actor)),
            )
    except IntegrityError as exc:
        incident = Incident.objects.get(pk=incident_id)
        other = Incident.objects.open().get(
            service_id=incident.service_id, dedup_key=incident.dedup_key
        )
        raise TransitionError(
            f"Incident #{incident.number} cannot be reopened: #{other.number} is open "
            "with the same dedup key."
        ) from exc


@transaction.atomic
def reassign(*, incident_id: int, actor: Actor, assignees: Iterable[User]) -> TransitionResult:
    """Set who owns it. Emits: IncidentReassigned."""
    incident = _locked(incident_id)
    people = sorted(set(assignees), key=lambda u: u.pk)
    strangers = [
        u.email
        for u in people
        if not u.memberships.filter(organization_id=incident.organization_id).exists()
    ]
    if strangers:
        raise ValidationError({"assignees": f"Not members of this organization: {strangers}."})
    if not incident.is_open:
        raise TransitionError(f"Incident #{incident.number} is resolved; reopen it first.")
    before = set(incident.assignees.values_list("pk", flat=True))
    after = {u.pk for u in people}
    if before == after:
        return TransitionResult(incident, changed=False)
    incident.assignees.set(people)
    incident.updated_at = timezone.now()
    incident.save(update_fields=["updated_at"])
    record_event(
        incident,
        EventKind.REASSIGNED,
        actor,
        ", ".join(u.email for u in people) or "nobody",
        {"assignees": sorted(after), "previous": sorted(before)},
    )
    publish(events.IncidentReassigned(**_base(incident, actor), assignee_ids=tuple(sorted(after))))
    announce(incident)
    return TransitionResult(incident, changed=True)


@transaction.atomic
def change_urgency(*, incident_id: int, actor: Actor, urgency: Urgency) -> TransitionResult:
    """Emits: IncidentUrgencyChanged (paging rules depend on urgency)."""
    if urgency not in Urgency.values:
        raise ValidationError({"urgency": f"Choose one of {', '.join(Urgency.values)}."})
    incident = _locked(incident_id)
    if not incident.is_open:
        raise TransitionError(f"Incident #{incident.number} is resolved; reopen it first.")
    if incident.urgency == urgency:
        return TransitionResult(incident, changed=False)
    previous, incident.urgency = incident.urgency, urgency
    incident.updated_at = timezone.now()
    incident.save(update_fields=["urgency", "updated_at"])
    record_event(
        incident,
        EventKind.URGENCY_CHANGED,
        actor,
        f"{previous} → {urgency}",
        {"from": previous, "to": urgency},
    )
    publish(events.IncidentUrgencyChanged(**_base(incident, actor), urgency=urgency))
    announce(incident)
    return TransitionResult(incident, changed=True)


@transaction.atomic
def change_priority(*, incident_id: int, actor: Actor, priority: str) -> TransitionResult:
    """P1 to P5, or none. Nothing pages on priority, so no event is published."""
    if priority and priority not in Priority.values:
        raise ValidationError({"priority": f"Choose one of {', '.join(Priority.values)}."})
    incident = _locked(incident_id)
    if incident.priority == priority:
        return TransitionResult(incident, changed=False)
    previous, incident.priority = incident.priority, priority
    incident.updated_at = timezone.now()
    incident.save(update_fields=["priority", "updated_at"])
    record_event(
        incident,
        EventKind.PRIORITY_CHANGED,
        actor,
        f"{previous or 'none'} → {priority or 'none'}",
        {"from": previous, "to": priority},
    )
    announce(incident)
    return TransitionResult(incident, changed=True)


@transaction.atomic
def add_note(*, incident_id: int, actor: Actor, body: str) -> Note:
    body = body.strip()
    if not body:
        raise ValidationError({"body": "A note cannot be empty."})
    if len(body) > 20_000:
        raise ValidationError({"body": "A note is at most 20,000 characters."})
    incident = _locked(incident_id)
    note = Note.objects.create(incident=incident, author=actor.user, body=body)
    record_event(incident, EventKind.NOTE, actor, body[:500], {"note_id": note.pk})
    announce(incident)
    return note


@transaction.atomic
def escalate_now(*, incident_id: int, actor: Actor) -> TransitionResult:
    """Page the next level without waiting. Emits: IncidentEscalationRequested."""
    incident = _locked(incident_id)
    if incident.status not in (Status.TRIGGERED, Status.ACKNOWLEDGED):
        raise TransitionError(
            f"Incident #{incident.number} is {incident.status}; "
            "only triggered or acknowledged incidents escalate."
        )
    record_event(incident, EventKind.ESCALATED, actor, "escalation requested by hand")
    publish(events.IncidentEscalationRequested(**_base(incident, actor)))
    announce(incident)
    return TransitionResult(incident, changed=True)
