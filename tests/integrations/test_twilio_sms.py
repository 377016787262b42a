"""Replies to SMS pages, through Twilio's signed inbound webhook: acknowledge and resolve by
text, opt-out words, and refusals that change nothing."""

from __future__ import annotations

import pytest
from django.utils import timezone
from twilio.request_validator import RequestValidator

from incidents.models import Status
from notifications.models import Channel, ContactMethod, Notification, NotificationRule
from notifications.sms_replies import Reply, parse_reply
from opsknight.models import Membership, Role
from tests.escalation.factories import policy, run_next_step, step
from tests.incidents.factories import make_service, trigger
from tests.oncall.factories import people

pytestmark = pytest.mark.django_db

TOKEN, BASE = "twilio-auth-token", "https://oncall.example.com"
URL = "/api/v1/twilio/sms"
PHONE = "+14155550100"


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "1" * 32, TOKEN
    settings.TWILIO_FROM_NUMBER, settings.BASE_URL = "+15005550006", BASE


def text(client, body: str, *, sender: str = PHONE, signature: str | None = None):
    form = {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": "SM" + "b" * 32}
    if signature is None:
        signature = RequestValidator(TOKEN).compute_signature(BASE + URL, form)
    return client.post(URL, form, HTTP_X_TWILIO_SIGNATURE=signature)


def message(response) -> str:
    content = response.content.decode()
    assert response["Content-Type"] == "text/xml"
    if "<Message>" not in content:
        return ""
    return content.split("<Message>", 1)[1].split("</Message>", 1)[0]


@pytest.fixture
def paged(org):
    """An incident whose page went to PHONE by SMS (the delivery record is what proves it)."""
    person = people(org, 1)[0]
    phone = ContactMethod.objects.create(
        user=person, channel=Channel.SMS, address=PHONE, verified_at=timezone.now()
    )
    NotificationRule.objects.create(user=person, urgency="high", contact_method=phone)
    service = make_service(org)
    policy(org, [step(person)], service=service)
    incident = trigger(service, summary="Checkout down")
    run_next_step()
    assert Notification.objects.filter(channel="sms", address=PHONE).exists()
    return incident, person


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("12a", Reply("acknowledge", 12)),
        (" 12 R ", Reply("resolve", 12)),
        ("a", Reply("acknowledge", None)),
        ("ACK 7", Reply("acknowledge", 7)),
        ("res #7", Reply("resolve", 7)),
        ("acknowledge", Reply("acknowledge", None)),
        ("stop", Reply("stop")),
        ("START", Reply("start")),
        ("hello", None),
        ("12x", None),
        ("", None),
    ],
)
def test_replies_are_read(body, expected):
    assert parse_reply(body) == expected


def test_a_reply_acknowledges_the_incident_it_names(client, paged):
    incident, person = paged
    response = text(client, f"{incident.number}a")
    assert response.status_code == 200
    assert message(response) == f"Acknowledged #{incident.number}: Checkout down"
    incident.refresh_from_db()
    assert (incident.status, incident.acknowledged_by) == (Status.ACKNOWLEDGED, person)
    again = text(client, f"ACK {incident.number}")
    assert message(again) == f"#{incident.number} was already acknowledged."


def test_a_bare_letter_answers_the_latest_page_and_r_resolves(client, paged):
    incident, _ = paged
    assert message(text(client, "r")) == f"Resolved #{incident.number}: Checkout down"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
def test_a_missing_or_wrong_signature_is_refused_and_changes_nothing(client, paged, signature):
    incident, _ = paged
    response = text(client, f"{incident.number}a", signature=signature)
    assert response.status_code == 403
    assert response.json()["error"] == "bad_signature"
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


def test_a_signature_for_other_fields_is_refused(client, paged):
    incident, _ = paged
    form = {"From": PHONE, "To": "+15005550006", "Body": "999a", "MessageSid": "SM" + "b" * 32}
    forged = RequestValidator(TOKEN).compute_signature(BASE + URL, form)
    response = text(client, f"{incident.number}a", signature=forged)
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


def test_an_unknown_number_or_an_incident_never_paged_there_changes_nothing(client, paged, org):
    incident, _ = paged
    assert message(text(client, f"{incident.number}a", sender="+14155559999")) == (
        "This number is not on file with OpsKnight."
    )
    other = trigger(make_service(org))
    reply = message(text(client, f"{other.number}a"))
    assert reply.startswith(f"No page about incident {other.number} was sent to this number.")
    assert message(text(client, "what?")).startswith("Reply with the incident number")
    incident.refresh_from_db()
    other.refresh_from_db()
    assert (incident.status, other.status) == (Status.TRIGGERED, Status.TRIGGERED)


def test_a_viewer_cannot_acknowledge_by_text(client, paged, org):
    incident, person = paged
    Membership.objects.filter(user=person, organization=org).update(role=Role.VIEWER)
    reply = message(text(client, f"{incident.number}a"))
    assert reply.startswith("You may not change incidents")
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


def test_stop_silences_texts_until_start(client, paged, org):
    _, person = paged
    assert message(text(client, "STOP")) == ""
    method = ContactMethod.objects.get(address=PHONE)
    assert method.opted_out_at is not None
    service = make_service(org)
    policy(org, [step(person)], service=service)
    trigger(service)
    run_next_step()
    latest = Notification.objects.order_by("-id").first()
    assert latest.channel == "email"  # the texts stopped; the page still goes by email
    text(client, "start")
    method.refresh_from_db()
    assert method.opted_out_at is None


def test_without_twilio_settings_the_endpoint_is_not_there(client, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    response = client.post(URL, {"From": PHONE, "Body": "1a"})
    assert response.status_code == 404
    assert response.json()["error"] == "not_configured"


STATUS_URL = "/api/v1/twilio/status"


def receipt(client, sid: str, status: str, *, code: str = "", signature: str | None = None):
    form = {"MessageSid": sid, "MessageStatus": status, "To": PHONE}
    if code:
        form["ErrorCode"] = code
    if signature is None:
        signature = RequestValidator(TOKEN).compute_signature(BASE + STATUS_URL, form)
    return client.post(STATUS_URL, form, HTTP_X_TWILIO_SIGNATURE=signature)


@pytest.fixture
def sent_sms(paged):
    delivery = Notification.objects.get(channel="sms")
    Notification.objects.filter(pk=delivery.pk).update(
        status="sent", provider_message_id="SM" + "c" * 32
    )
    return delivery


def test_a_delivery_receipt_marks_the_text_delivered(client, sent_sms):
    assert receipt(client, "SM" + "c" * 32, "sent").status_code == 204
    sent_sms.refresh_from_db()
    assert sent_sms.status == "sent"  # not final yet
    assert receipt(client, "SM" + "c" * 32, "delivered").status_code == 204
    sent_sms.refresh_from_db()
    assert sent_sms.status == "delivered"
    receipt(client, "SM" + "c" * 32, "failed", code="30003")  # late and out of order
    sent_sms.refresh_from_db()
    assert sent_sms.status == "delivered"


def test_an_undelivered_receipt_records_the_carriers_reason(client, sent_sms):
    receipt(client, "SM" + "c" * 32, "undelivered", code="30003")
    sent_sms.refresh_from_db()
    assert (sent_sms.status, sent_sms.error) == (
        "failed",
        "carrier says undelivered (Twilio error 30003)",
    )


def test_an_unsigned_receipt_or_one_for_an_unknown_message_changes_nothing(client, sent_sms):
    response = receipt(client, "SM" + "c" * 32, "undelivered", signature="forged")
    assert response.status_code == 403
    assert receipt(client, "SM" + "d" * 32, "delivered").status_code == 204
    sent_sms.refresh_from_db()
    assert sent_sms.status == "sent"
