"""Status updates: people paged about an incident hear, on the addresses that asked for it,
when someone else acknowledges or resolves it; never by voice, never the one who acted."""

from __future__ import annotations

import pytest
from django.db import transaction
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
from opsknight.actors import Actor
from tests.escalation.factories import policy, queued, run_next_step, step, take
from tests.incidents.factories import make_service, trigger
from tests.notifications.test_sms_delivery import twilio  # noqa: F401 (fixture)
from tests.oncall.factories import people

pytestmark = pytest.mark.django_db

PHONE, OTHER_PHONE = "+14155550100", "+14155550101"


def run_jobs() -> None:
    for job in map(take, queued("notifications.deliver")):
        delivery_run(**job.args)


@pytest.fixture
def paged(twilio, org):  # noqa: F811
    """Two people paged by SMS about one incident; the first wants status updates."""
    alice, bob = people(org, 2)
    for person, phone, updates in ((alice, PHONE, True), (bob, OTHER_PHONE, True)):
        method = ContactMethod.objects.create(
            user=person,
            channel=Channel.SMS,
            address=phone,
            verified_at=timezone.now(),
            status_updates=updates,
        )
        NotificationRule.objects.create(user=person, urgency="high", contact_method=method)
    quiet = ContactMethod.objects.create(
        user=alice, channel=Channel.VOICE, address=PHONE, verified_at=timezone.now()
    )
    NotificationRule.objects.create(user=alice, urgency="high", contact_method=quiet)
    service = make_service(org, name="Checkout API")
    policy(org, [step(alice, bob)], service=service)
    incident = trigger(service, summary="Checkout down")
    run_next_step()
    run_jobs()
    twilio.requests.clear()
    return incident, alice, bob


def test_bob_acknowledging_tells_alice_by_text_and_not_bob_nor_by_voice(twilio, paged):  # noqa: F811
    incident, alice, bob = paged
    lifecycle.acknowledge(incident_id=incident.pk, actor=Actor.for_user(bob))
    run_jobs()
    [update] = Notification.objects.filter(reason=Reason.ACKNOWLEDGEMENT)
    assert (update.user, update.channel, update.status) == (alice, Channel.SMS, "sent")
    [request] = twilio.requests
    assert request["form"]["To"] == PHONE
    name = bob.get_full_name() or bob.email
    assert request["form"]["Body"] == (
        f"OpsKnight #{incident.number} [Checkout API] acknowledged by {name}: Checkout down "
        f"https://oncall.example.com/incidents/{incident.pk}/"
    )


def test_resolving_tells_everyone_who_asked_and_is_not_cancelled_by_the_resolution(
    twilio,  # noqa: F811
    paged,
):
    incident, alice, bob = paged
    lifecycle.resolve(incident_id=incident.pk, actor=Actor.system("api"))
    run_jobs()
    updates = Notification.objects.filter(reason=Reason.RESOLUTION)
    assert {(u.user, u.status) for u in updates} == {
        (alice, DeliveryStatus.SENT),
        (bob, DeliveryStatus.SENT),
    }
    assert all(" resolved: Checkout down " in r["form"]["Body"] for r in twilio.requests)


def test_addresses_that_did_not_ask_or_were_not_reached_hear_nothing(twilio, paged):  # noqa: F811
    incident, alice, bob = paged
    ContactMethod.objects.filter(user=alice).update(status_updates=False)
    Notification.objects.filter(user=bob).update(status=DeliveryStatus.FAILED)
    lifecycle.acknowledge(incident_id=incident.pk, actor=Actor.system("api"))
    assert not Notification.objects.filter(reason=Reason.ACKNOWLEDGEMENT).exists()


def test_a_rolled_back_acknowledgement_tells_nobody(paged):
    incident, _, bob = paged

    def acknowledge_then_fail() -> None:
        with transaction.atomic():
            lifecycle.acknowledge(incident_id=incident.pk, actor=Actor.for_user(bob))
            raise RuntimeError

    with pytest.raises(RuntimeError):
        acknowledge_then_fail()
    assert not Notification.objects.filter(reason=Reason.ACKNOWLEDGEMENT).exists()
    assert queued("notifications.deliver") == []


def test_the_profile_page_turns_status_updates_on_and_off_but_not_for_calls(client, org):
    person = people(org, 1)[0]
    client.force_login(person)
    sms = ContactMethod.objects.create(
        user=person, channel=Channel.SMS, address=PHONE, verified_at=timezone.now()
    )
    voice = ContactMethod.objects.create(
        user=person, channel=Channel.VOICE, address=PHONE, verified_at=timezone.now()
    )
    url = "/notifications/profile/methods/{}/status-updates/"
    client.post(url.format(sms.pk), {"enabled": "on"})
    sms.refresh_from_db()
    assert sms.status_updates is True
    client.post(url.format(sms.pk))
    sms.refresh_from_db()
    assert sms.status_updates is False
    response = client.post(url.format(voice.pk), {"enabled": "on"}, follow=True)
    assert [str(m) for m in response.context["messages"]][-1] == (
        "Status updates are not sent by voice call."
    )
    voice.refresh_from_db()
    assert voice.status_updates is False
    stranger = people(org, 1)[0]
    client.force_login(stranger)
    assert client.post(url.format(sms.pk), {"enabled": "on"}).status_code == 404
