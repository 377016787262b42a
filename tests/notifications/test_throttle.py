"""Throttles per address and the digest that replaces an SMS storm, against the loopback
Twilio API. Time moves by shifting every recorded send and due time back (the clock as the
throttle sees it), so an hour passes in a test without waiting."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from incidents import services as lifecycle
from notifications.delivery import delivery_run
from notifications.models import (
    Channel,
    ContactMethod,
    DeliveryStatus,
    Notification,
    NotificationRule,
    Reason,
)
from notifications.services import defer_delivery
from notifications.throttle import LAYERS, Layer, hold_for
from opsknight.actors import Actor
from tests.escalation.factories import policy, queued, run_next_step, step, take
from tests.incidents.factories import make_service, trigger
from tests.notifications.conftest import due_now
from tests.notifications.test_sms_delivery import twilio  # noqa: F401 (fixture)
from tests.oncall.factories import people

pytestmark = pytest.mark.django_db

PHONE = "+14155550100"


def time_passes(minutes: float) -> None:
    """Everything recorded happened `minutes` earlier: the throttle's clock moves on."""
    delta = timedelta(minutes=minutes)
    Notification.objects.filter(last_attempt_at__isnull=False).update(
        last_attempt_at=F("last_attempt_at") - delta
    )
    Notification.objects.update(due_at=F("due_at") - delta)


def run_due() -> int:
    """Run every queued delivery job whose row is due now (later ones stay queued)."""
    ran = 0
    while True:
        due = [
            job
            for job in queued("notifications.deliver")
            if Notification.objects.filter(
                pk=job.args["notification_id"], due_at__lte=timezone.now()
            ).exists()
            or not Notification.objects.filter(
                pk=job.args["notification_id"], status=DeliveryStatus.PENDING
            ).exists()
        ]
        if not due:
            return ran
        for job in map(take, due):
            delivery_run(**job.args)
            ran += 1


@pytest.fixture
def storm(twilio, org):  # noqa: F811
    """Returns a function: n incidents on one service, each paging one person by SMS."""
    person = people(org, 1)[0]
    phone = ContactMethod.objects.create(
        user=person, channel=Channel.SMS, address=PHONE, verified_at=timezone.now()
    )
    NotificationRule.objects.create(user=person, urgency="high", contact_method=phone)
    service = make_service(org, name="Checkout API")
    policy(org, [step(person)], service=service)

    keys = itertools.count()

    def make(n: int, name: str = "Checkout API"):
        target = service if name == "Checkout API" else make_service(org, name=name)
        if target is not service:
            policy(org, [step(person)], service=target)
        incidents = []
        for i in range(n):
            incidents.append(
                trigger(target, f"{name}-{next(keys)}", summary=f"{name} check {i} failing")
            )
            run_next_step()
        return incidents

    return make


def bodies(twilio) -> list[str]:  # noqa: F811
    return [request["form"]["Body"] for request in twilio.requests]


def test_twelve_pages_due_at_once_make_five_texts_the_fifth_a_digest(twilio, storm):  # noqa: F811
    storm(12)
    run_due()
    assert len(twilio.requests) == 5  # SMS: 5 per 15 minutes
    assert all("more incident" not in body for body in bodies(twilio)[:4])
    assert (
        "and 7 more incidents on Checkout API: https://oncall.example.com/incidents/"
        in (bodies(twilio)[4])
    )
    [carrier] = Notification.objects.filter(carried__isnull=False).distinct()
    assert Notification.objects.filter(carried_by=carrier, status=DeliveryStatus.SENT).count() == 7
    assert set(Notification.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    assert queued("notifications.deliver") == []  # nothing held: the digest told of them all


def test_pages_over_the_limit_wait_for_a_slot_then_go_as_one_digest(twilio, storm):  # noqa: F811
    storm(5)
    run_due()
    assert len(twilio.requests) == 5
    first_send = Notification.objects.order_by("last_attempt_at")[0]
    storm(7)
    run_due()
    assert len(twilio.requests) == 5
    held = Notification.objects.filter(status=DeliveryStatus.PENDING)
    assert held.count() == 7
    for row in held:
        assert row.due_at == first_send.last_attempt_at + timedelta(minutes=15)
        assert row.error.startswith("held by the SMS throttle (5 per 15 min) until ")
    time_passes(14)
    assert run_due() == 0  # not yet
    time_passes(1)
    run_due()
    assert len(twilio.requests) == 6  # exactly one more text: the digest
    [carrier] = Notification.objects.filter(carried__isnull=False).distinct()
    assert bodies(twilio)[-1].startswith(f"OpsKnight #{carrier.incident.number} [Checkout API] ")
    assert "and 6 more incidents on Checkout API" in bodies(twilio)[-1]
    assert set(Notification.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_incidents_acknowledged_while_held_are_not_in_the_digest(twilio, storm, org):  # noqa: F811
    storm(5)
    run_due()
    storm(4)
    run_due()
    held = list(Notification.objects.filter(status=DeliveryStatus.PENDING).order_by("id"))
    assert len(held) == 4
    person = held[0].user
    for row in held[:2]:  # the would-be carrier among them
        lifecycle.acknowledge(incident_id=row.incident_id, actor=Actor.for_user(person))
    time_passes(15)
    run_due()
    assert len(twilio.requests) == 6
    assert "and 1 more incident on Checkout API" in bodies(twilio)[-1]
    for row in held[:2]:
        row.refresh_from_db()
        assert (row.status, row.error) == (DeliveryStatus.CANCELLED, "incident acknowledged")


def test_a_digest_names_each_service_when_several_are_held(twilio, storm):  # noqa: F811
    storm(5)
    run_due()
    storm(1)
    storm(2, name="Payments")
    storm(2, name="Search")
    run_due()
    assert len(twilio.requests) == 5
    time_passes(15)
    run_due()
    assert len(twilio.requests) == 6
    assert "and 4 more incidents (Payments 2, Search 2)" in bodies(twilio)[-1]


def test_a_digest_that_fails_is_retried_with_its_riders_and_settles_them(twilio, storm):  # noqa: F811
    storm(5)
    run_due()
    storm(3)
    run_due()
    time_passes(15)
    twilio.answer = (503, {"code": 20500, "message": "down", "status": 503})
    run_due()
    carrier = Notification.objects.get(status=DeliveryStatus.PENDING, attempts=1)
    riders = Notification.objects.filter(carried_by=carrier)
    assert riders.count() == 2
    assert set(riders.values_list("status", flat=True)) == {DeliveryStatus.SENDING}
    # A rider's own job, if it runs meanwhile, sends nothing and changes nothing.
    before = len(twilio.requests)
    for rider in riders:
        defer_delivery(rider)
    twilio.answer = (201, {})
    due_now(carrier.pk)
    run_due()
    assert len(twilio.requests) == before + 1
    assert "and 2 more incidents" in bodies(twilio)[-1]
    assert set(
        Notification.objects.filter(
            pk__in=[carrier.pk, *riders.values_list("pk", flat=True)]
        ).values_list("status", flat=True)
    ) == {DeliveryStatus.SENT}


def test_a_digest_refused_for_good_fails_its_riders_too(twilio, storm):  # noqa: F811
    storm(5)
    run_due()
    storm(2)
    run_due()
    time_passes(15)
    twilio.answer = (400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400})
    run_due()
    failed = Notification.objects.filter(status=DeliveryStatus.FAILED)
    assert failed.count() == 2
    rider = failed.get(carried_by__isnull=False)
    assert rider.error.startswith("digest failed: Twilio refused (400")


def test_the_hourly_layer_holds_when_the_fifteen_minute_one_has_room(twilio, org):  # noqa: F811
    person = people(org, 1)[0]
    now = timezone.now()
    for minutes in range(0, 55, 5):  # 11 sends in the last hour, at most 3 in any 15 minutes
        Notification.objects.create(
            reason=Reason.TEST,
            user=person,
            channel=Channel.SMS,
            address=PHONE,
            status=DeliveryStatus.SENT,
            last_attempt_at=now - timedelta(minutes=minutes + 1),
        )
    hold = hold_for(Channel.SMS, PHONE, now)
    assert hold is not None
    assert hold.layer == Layer(timedelta(hours=1), 11)
    assert hold.until == now - timedelta(minutes=51) + timedelta(hours=1)
    assert str(hold.layer) == "11 per 1 h"
    assert hold_for(Channel.SMS, "+14155550199", now) is None


def test_verification_codes_and_tests_are_never_held(twilio, org):  # noqa: F811
    person = people(org, 1)[0]
    method = ContactMethod.objects.create(
        user=person, channel=Channel.SMS, address=PHONE, verified_at=timezone.now()
    )
    for _ in range(LAYERS[Channel.SMS][0].most + 2):
        row = Notification.objects.create(
            reason=Reason.TEST,
            user=person,
            channel=Channel.SMS,
            contact_method=method,
            address=PHONE,
        )
        defer_delivery(row)
    run_due()
    assert len(twilio.requests) == 7
    assert set(Notification.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_one_call_a_minute_the_second_waits_and_then_goes_alone(twilio, org):  # noqa: F811
    person = people(org, 1)[0]
    phone = ContactMethod.objects.create(
        user=person, channel=Channel.VOICE, address=PHONE, verified_at=timezone.now()
    )
    NotificationRule.objects.create(user=person, urgency="high", contact_method=phone)
    service = make_service(org, name="Checkout API")
    policy(org, [step(person)], service=service)
    for i in range(2):
        trigger(service, f"k{i}", summary=f"down {i}")
        run_next_step()
        run_due()
    assert len(twilio.requests) == 1
    assert "also" not in twilio.requests[0]["form"]["Twiml"]
    time_passes(1)
    run_due()
    assert len(twilio.requests) == 2
    assert "also" not in twilio.requests[-1]["form"]["Twiml"]
    # Two calls due together: one call tells of both.
    for i in range(2, 4):
        trigger(service, f"k{i}", summary=f"down {i}")
        run_next_step()
    time_passes(1)
    run_due()
    assert len(twilio.requests) == 3
    assert (
        "There are also 1 more incident on Checkout API waiting."
        in (twilio.requests[-1]["form"]["Twiml"])
    )
    assert queued("notifications.deliver") == []
