from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import transaction

from opsknight import events
from opsknight.models import AuditEvent
from opsknight.services import audit_record


@dataclass(frozen=True)
class Happened(events.Event):
    what: str


@dataclass(frozen=True)
class HappenedLoudly(Happened):
    pass


@pytest.fixture
def received():
    seen: list[events.Event] = []
    events.subscribe(Happened, seen.append)
    yield seen
    events.unsubscribe(Happened, seen.append)


def test_publish_outside_a_transaction_is_an_error(received):
    with pytest.raises(events.PublishOutsideTransactionError):
        events.publish(Happened("x"))
    assert received == []


@pytest.mark.django_db
def test_subscribers_of_a_base_class_receive_subclass_events_once(received):
    events.subscribe(Happened, received.append)  # a second registration is a no-op
    with transaction.atomic():
        events.publish(Happened("a"))
        events.publish(HappenedLoudly("b"))
    assert received == [Happened("a"), HappenedLoudly("b")]


@transaction.atomic
def _record_and_publish() -> None:
    audit_record(action="test.changed")
    events.publish(Happened("boom"))


@pytest.mark.django_db(transaction=True)
def test_a_failing_subscriber_rolls_the_publishers_change_back():
    def explode(event: events.Event) -> None:
        raise RuntimeError("escalation could not be scheduled")

    events.subscribe(Happened, explode)
    try:
        with pytest.raises(RuntimeError):
            _record_and_publish()
    finally:
        events.unsubscribe(Happened, explode)
    assert not AuditEvent.objects.exists()
