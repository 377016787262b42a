"""Voice pages through the official Twilio client against a loopback Calls API, and the
signed callbacks that come back: keypresses (acknowledge, escalate, resolve) and how the
call ended."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.utils import timezone
from twilio.request_validator import RequestValidator

from incidents.models import EventKind, IncidentEvent, Status
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
from notifications.verification import new_nonce, verification_code
from opsknight.models import Membership, Role
from tests.escalation.factories import policy, queued, run_next_step, step, take
from tests.incidents.factories import make_service, trigger
from tests.notifications.test_sms_delivery import FROM, SID, twilio  # noqa: F401 (fixture)
from tests.oncall.factories import people

pytestmark = pytest.mark.django_db

BASE, PHONE, CALL = "https://oncall.example.com", "+14155550100", "CA" + "c" * 32
TOKEN = "secret-token"  # the `twilio` fixture's auth token


@pytest.fixture
def voice_paged(twilio, org):  # noqa: F811
    person = people(org, 1)[0]
    phone = ContactMethod.objects.create(
        user=person, channel=Channel.VOICE, address=PHONE, verified_at=timezone.now()
    )
    NotificationRule.objects.create(user=person, urgency="high", contact_method=phone)
    service = make_service(org, name="Checkout API")
    policy(org, [step(person), step(person, delay=10)], service=service)
    incident = trigger(service, summary="Checkout & payments down")
    run_next_step()
    twilio.answer = (201, {"sid": CALL, "status": "queued"})
    [job] = queued("notifications.deliver")
    delivery_run(**take(job).args)
    return incident, Notification.objects.get(channel=Channel.VOICE), person


def twiml(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 (our own TwiML, in a test)


def test_a_voice_page_places_a_call_that_reads_the_page_and_offers_the_menu(twilio, voice_paged):  # noqa: F811
    incident, page, _ = voice_paged
    [request] = twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Calls.json"
    form = request["form"]
    assert {k: v for k, v in form.items() if k != "Twiml"} == {
        "To": PHONE,
        "From": FROM,
        "Timeout": "30",
        "StatusCallback": f"{BASE}/api/v1/twilio/call-status",
    }
    root = twiml(form["Twiml"])
    gathers = root.findall("Gather")
    assert len(gathers) == 2
    gather_url = f"{BASE}/api/v1/twilio/voice/{page.pk}/gather"
    assert {g.get("action") for g in gathers} == {gather_url}
    assert all(g.get("numDigits") == "1" and g.get("method") == "POST" for g in gathers)
    said = gathers[0].find("Say").text
    assert said == (
        f"This is OpsKnight. Incident {incident.number}, high urgency, on service Checkout API: "
        "Checkout & payments down. Escalation level 1. "
        "Press 1 to acknowledge. Press 2 to escalate. Press 3 to resolve."
    )
    assert "not acknowledged" in root.findall("Say")[-1].text
    page.refresh_from_db()
    assert (page.status, page.provider_message_id) == (DeliveryStatus.SENT, CALL)


def press(client, page, digits: str, *, call_sid: str = CALL, signature: str | None = None):
    url = f"/api/v1/twilio/voice/{page.pk}/gather"
    form = {"CallSid": call_sid, "From": FROM, "To": PHONE, "Digits": digits}
    if signature is None:
        signature = RequestValidator(TOKEN).compute_signature(BASE + url, form)
    response = client.post(url, form, HTTP_X_TWILIO_SIGNATURE=signature)
    return response


def spoken(response) -> list[str]:
    assert response["Content-Type"] == "text/xml"
    return [say.text for say in twiml(response.content.decode()).iter("Say")]


def test_pressing_1_acknowledges_as_the_person_called(client, voice_paged):
    incident, page, person = voice_paged
    response = press(client, page, "1")
    assert response.status_code == 200
    assert (
        spoken(response)[0] == f"Acknowledged incident {incident.number}: Checkout & payments down"
    )
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED
    event = IncidentEvent.objects.get(incident=incident, kind=EventKind.ACKNOWLEDGED)
    assert event.actor_id == person.pk


def test_pressing_3_resolves_and_2_escalates(client, voice_paged):
    incident, page, _ = voice_paged
    assert "Escalated" in spoken(press(client, page, "2"))[0]
    assert IncidentEvent.objects.filter(incident=incident, kind=EventKind.ESCALATED).exists()
    assert "Resolved" in spoken(press(client, page, "3"))[0]
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_another_key_repeats_the_menu_and_changes_nothing(client, voice_paged):
    incident, page, _ = voice_paged
    response = press(client, page, "7")
    root = twiml(response.content.decode())
    [gather] = root.findall("Gather")
    assert gather.get("action") == f"{BASE}/api/v1/twilio/voice/{page.pk}/gather"
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
def test_a_missing_or_wrong_signature_is_refused_and_changes_nothing(
    client, voice_paged, signature
):
    incident, page, _ = voice_paged
    response = press(client, page, "1", signature=signature)
    assert response.status_code == 403
    assert response.json()["error"] == "bad_signature"
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


def test_a_keypress_from_another_call_is_not_taken_for_this_page(client, voice_paged):
    incident, page, _ = voice_paged
    response = press(client, page, "1", call_sid="CA" + "d" * 32)
    assert spoken(response) == ["This call is not about a page we can find. Goodbye."]
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


def test_a_viewer_cannot_acknowledge_by_keypress(client, voice_paged, org):
    incident, page, person = voice_paged
    Membership.objects.filter(user=person, organization=org).update(role=Role.VIEWER)
    assert "may not change incidents" in spoken(press(client, page, "1"))[0]
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


def call_ended(client, status: str, *, call_sid: str = CALL, signature: str | None = None):
    url = "/api/v1/twilio/call-status"
    form = {"CallSid": call_sid, "CallStatus": status, "To": PHONE, "From": FROM}
    if signature is None:
        signature = RequestValidator(TOKEN).compute_signature(BASE + url, form)
    return client.post(url, form, HTTP_X_TWILIO_SIGNATURE=signature)


def test_an_answered_call_is_delivered_and_an_unanswered_one_failed(client, voice_paged):
    _, page, _ = voice_paged
    assert call_ended(client, "completed").status_code == 204
    page.refresh_from_db()
    assert page.status == DeliveryStatus.DELIVERED
    Notification.objects.filter(pk=page.pk).update(status=DeliveryStatus.SENT)
    call_ended(client, "no-answer")
    page.refresh_from_db()
    assert (page.status, page.error) == (DeliveryStatus.FAILED, "call ended: no-answer")


def test_an_unsigned_call_status_is_refused_and_changes_nothing(client, voice_paged):
    _, page, _ = voice_paged
    assert call_ended(client, "no-answer", signature="").status_code == 403
    page.refresh_from_db()
    assert page.status == DeliveryStatus.SENT


def test_a_verification_call_reads_the_code_digit_by_digit_without_a_menu(twilio, org):  # noqa: F811
    person = people(org, 1)[0]
    method = ContactMethod.objects.create(user=person, channel=Channel.VOICE, address=PHONE)
    new_nonce(method)
    method.save()
    row = Notification.objects.create(
        reason=Reason.VERIFICATION,
        user=person,
        channel=Channel.VOICE,
        contact_method=method,
        address=PHONE,
    )
    defer_delivery(row)
    [job] = queued("notifications.deliver")
    delivery_run(**take(job).args)
    [request] = twilio.requests
    root = twiml(request["form"]["Twiml"])
    assert root.findall("Gather") == []
    said = " ".join(" ".join(verification_code(method)).split())
    assert said in root.find("Say").text
    assert "StatusCallback" not in request["form"]
    row.refresh_from_db()
    assert row.status == DeliveryStatus.SENT
