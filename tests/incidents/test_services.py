"""Every lifecycle transition: its state change, timeline row, published event, live hint."""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg
import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from incidents import events, services
from incidents.models import EventKind, IncidentEvent, Note, Status, Urgency
from opsknight import events as registry
from opsknight.actors import Actor
from opsknight.models import Role
from tests.incidents.factories import make_service, trigger
from tests.opsknight.factories import member

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    seen: list[registry.Event] = []
    registry.subscribe(events.IncidentEvent, seen.append)
    yield seen
    registry.unsubscribe(events.IncidentEvent, seen.append)


@pytest.fixture
def responder(org):
    return member(org, Role.RESPONDER)


@pytest.fixture
def incident(org):
    return trigger(make_service(org))


def _kinds(incident) -> list[str]:
    return list(incident.events.order_by("id").values_list("kind", flat=True))


def test_trigger_writes_timeline_and_publishes(org, published):
    incident = trigger(make_service(org), severity="error")
    assert incident.status == Status.TRIGGERED
    assert incident.urgency == Urgency.MEDIUM  # error → medium
    assert _kinds(incident) == ["triggered"]
    assert published == [
        events.IncidentTriggered(
            incident_id=incident.pk, organization_id=org.pk, actor_id=None, urgency="medium"
        )
    ]


def test_acknowledge_then_resolve(incident, responder, published):
    actor = Actor.for_user(responder)
    result = services.acknowledge(incident_id=incident.pk, actor=actor)
    assert result.changed
    assert result.incident.status == Status.ACKNOWLEDGED
    assert result.incident.acknowledged_by == responder
    assert result.incident.acknowledged_at is not None
    again = services.acknowledge(incident_id=incident.pk, actor=actor)
    assert again.changed is False, "acknowledging twice is a no-op, not a second timeline row"
    services.resolve(incident_id=incident.pk, actor=actor, note="Rolled back the deploy")
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert incident.resolved_by == responder
    assert _kinds(incident) == ["triggered", "acknowledged", "resolved"]
    assert Note.objects.get(incident=incident).body == "Rolled back the deploy"
    assert [type(e).__name__ for e in published] == ["IncidentAcknowledged", "IncidentResolved"]
    assert all(e.actor_id == responder.pk for e in published)


def test_illegal_transitions_raise_and_change_nothing(incident, responder):
    actor = Actor.for_user(responder)
    services.resolve(incident_id=incident.pk, actor=actor)
    for transition in (services.acknowledge, services.unacknowledge, services.unsnooze):
        with pytest.raises(services.TransitionError, match="is resolved"):
            transition(incident_id=incident.pk, actor=actor)
    with pytest.raises(services.TransitionError, match="is resolved"):
        services.snooze(incident_id=incident.pk, actor=actor, duration=timedelta(hours=1))
    assert _kinds(incident) == ["triggered", "resolved"]


def test_unacknowledge_returns_to_triggered(incident, responder, published):
    actor = Actor.for_user(responder)
    services.acknowledge(incident_id=incident.pk, actor=actor)
    services.unacknowledge(incident_id=incident.pk, actor=actor)
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    assert incident.acknowledged_by is None
    assert isinstance(published[-1], events.IncidentUnacknowledged)


def test_snooze_and_unsnooze(incident, responder, published):
    actor = Actor.for_user(responder)
    result = services.snooze(
        incident_id=incident.pk, actor=actor, duration=timedelta(hours=4), reason="vendor fix"
    )
    snoozed = result.incident
    assert snoozed.status == Status.SNOOZED
    assert published[-1] == events.IncidentSnoozed(
        incident_id=incident.pk,
        organization_id=incident.organization_id,
        actor_id=responder.pk,
        until=snoozed.snoozed_until,
    )
    event = incident.events.get(kind=EventKind.SNOOZED)
    assert event.message == "vendor fix"
    assert event.data["minutes"] == 240
    services.unsnooze(incident_id=incident.pk, actor=actor)
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    assert incident.snoozed_until is None


@pytest.mark.parametrize("duration", [timedelta(seconds=10), timedelta(days=8)])
def test_snooze_duration_is_bounded(incident, responder, duration):
    with pytest.raises(ValidationError, match="between 1 minute and 7 days"):
        services.snooze(incident_id=incident.pk, actor=Actor.for_user(responder), duration=duration)


def test_reopen_and_its_dedup_conflict(org, responder):
    service = make_service(org)
    actor = Actor.for_user(responder)
    first = trigger(service, "disk-full")
    services.resolve(incident_id=first.pk, actor=actor)
    services.reopen(incident_id=first.pk, actor=actor)
    first.refresh_from_db()
    assert first.status == Status.TRIGGERED
    assert first.resolved_at is None
    services.resolve(incident_id=first.pk, actor=actor)
    second = trigger(service, "disk-full")  # a new incident for the same key
    assert second.pk != first.pk
    with pytest.raises(services.TransitionError, match=f"#{second.number} is open"):
        services.reopen(incident_id=first.pk, actor=actor)
    first.refresh_from_db()
    assert first.status == Status.RESOLVED


def test_reassign_only_to_members(incident, org, other_org, responder, published):
    actor = Actor.for_user(responder)
    colleague = member(org, Role.RESPONDER)
    outsider = member(other_org, Role.RESPONDER)
    with pytest.raises(ValidationError, match="Not members"):
        services.reassign(incident_id=incident.pk, actor=actor, assignees=[outsider])
    services.reassign(incident_id=incident.pk, actor=actor, assignees=[colleague, responder])
    assert set(incident.assignees.all()) == {colleague, responder}
    assert published[-1].assignee_ids == tuple(sorted([colleague.pk, responder.pk]))
    unchanged = services.reassign(
        incident_id=incident.pk, actor=actor, assignees=[responder, colleague]
    )
    assert unchanged.changed is False


def test_urgency_priority_and_notes(incident, responder):
    actor = Actor.for_user(responder)
    services.change_urgency(incident_id=incident.pk, actor=actor, urgency=Urgency.LOW)
    services.change_priority(incident_id=incident.pk, actor=actor, priority="P2")
    note = services.add_note(incident_id=incident.pk, actor=actor, body="  Looking at it  ")
    assert note.body == "Looking at it"
    incident.refresh_from_db()
    assert (incident.urgency, incident.priority) == (Urgency.LOW, "P2")
    assert _kinds(incident)[-3:] == ["urgency_changed", "priority_changed", "note"]
    with pytest.raises(ValidationError):
        services.change_priority(incident_id=incident.pk, actor=actor, priority="P9")
    with pytest.raises(ValidationError):
        services.add_note(incident_id=incident.pk, actor=actor, body="   ")


def test_escalate_now_publishes_a_request(incident, responder, published):
    services.escalate_now(incident_id=incident.pk, actor=Actor.for_user(responder))
    assert isinstance(published[-1], events.IncidentEscalationRequested)


def test_timeline_is_append_only(incident):
    event = IncidentEvent.objects.filter(incident=incident).first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        IncidentEvent.objects.filter(pk=event.pk).update(message="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        IncidentEvent.objects.filter(pk=event.pk).delete()


def test_retention_may_purge_whole_incidents(incident):
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL opsknight.purge = 'on'")
        incident.delete()
    assert not IncidentEvent.objects.exists()


def test_a_failing_subscriber_rolls_the_transition_back(incident, responder):
    def explode(event):
        raise RuntimeError("could not schedule")

    registry.subscribe(events.IncidentAcknowledged, explode)
    try:
        with pytest.raises(RuntimeError):
            services.acknowledge(incident_id=incident.pk, actor=Actor.for_user(responder))
    finally:
        registry.unsubscribe(events.IncidentAcknowledged, explode)
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    assert _kinds(incident) == ["triggered"]


@transaction.atomic
def _acknowledge_then_fail(incident_id: int) -> None:
    services.acknowledge(incident_id=incident_id, actor=Actor.system())
    raise RuntimeError("roll back")


@pytest.mark.django_db(transaction=True)
def test_committed_transitions_send_a_live_hint_rolled_back_ones_do_not(org):
    incident = trigger(make_service(org))
    params = {
        k: v
        for k, v in connection.get_connection_params().items()
        if k not in ("cursor_factory", "context", "prepare_threshold")
    }
    with psycopg.connect(**params, autocommit=True) as listener:
        listener.execute("LISTEN opsknight_live")
        with pytest.raises(RuntimeError):
            _acknowledge_then_fail(incident.pk)
        services.resolve(incident_id=incident.pk, actor=Actor.system())
        payloads = [json.loads(n.payload) for n in listener.notifies(timeout=2, stop_after=1)]
    assert payloads == [
        {
            "group": f"org.{org.pk}",
            "message": {
                "type": "incident.changed",
                "id": incident.pk,
                "number": incident.number,
                "status": "resolved",
            },
        }
    ]
