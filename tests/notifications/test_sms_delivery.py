"""Pages by SMS through the official Twilio client, pointed at a loopback HTTP server that
answers as Twilio's Messages API does. Asserts the exact form fields Twilio receives."""

from __future__ import annotations

import base64
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from notifications.delivery import delivery_run
from notifications.models import (
    Channel,
    ContactMethod,
    DeliveryStatus,
    Notification,
    NotificationRule,
)
from notifications.rendering import SMS_LIMIT, IncidentSummary, render_page_sms
from tests.escalation.factories import policy, queued, run_next_step, step, take
from tests.incidents.factories import make_service, trigger
from tests.oncall.factories import people
from tests.processes import serving

pytestmark = pytest.mark.django_db

SID, TOKEN, FROM = "AC" + "1" * 32, "secret-token", "+15005550006"


class FakeTwilio(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), TwilioHandler)
        self.requests: list[dict] = []
        self.answer: tuple[int, dict] = (201, {})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class TwilioHandler(BaseHTTPRequestHandler):
    server: FakeTwilio

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.server.requests.append(
            {
                "path": self.path,
                "auth": self.headers["Authorization"],
                "form": {k: v[0] for k, v in parse_qs(body).items()},
            }
        )
        status, payload = self.server.answer
        if status == 201:
            payload = {"sid": "SM" + "a" * 32, "status": "queued", **payload}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def twilio(settings):
    with serving(FakeTwilio()) as server:
        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = SID, TOKEN
        settings.TWILIO_FROM_NUMBER, settings.TWILIO_API_BASE_URL = FROM, server.url
        settings.BASE_URL = "https://oncall.example.com"
        yield server


@pytest.fixture
def sms_paged(org):
    person = people(org, 1)[0]
    phone = ContactMethod.objects.create(
        user=person, channel=Channel.SMS, address="+14155550100", verified_at=timezone.now()
    )
    NotificationRule.objects.create(user=person, urgency="high", contact_method=phone)
    service = make_service(org, name="Checkout API")
    policy(org, [step(person)], service=service)
    incident = trigger(service, summary="Checkout latency p99 above 2s")
    run_next_step()
    return incident, Notification.objects.get(channel=Channel.SMS)


def run_delivery() -> None:
    """Take the delivery job off the queue and run it, as a worker would."""
    [job] = queued("notifications.deliver")
    delivery_run(**take(job).args)


def test_an_sms_page_reaches_twilio_with_the_exact_fields(twilio, sms_paged):
    incident, delivery = sms_paged
    run_delivery()
    [request] = twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    expected_auth = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request["auth"] == f"Basic {expected_auth}"
    assert request["form"] == {
        "To": "+14155550100",
        "From": FROM,
        "Body": f"OpsKnight #{incident.number} [Checkout API] Checkout latency p99 above 2s "
        f"(level 1, high) https://oncall.example.com/incidents/{incident.pk}/",
        "StatusCallback": "https://oncall.example.com/api/v1/twilio/status",
    }
    delivery.refresh_from_db()
    assert (delivery.status, delivery.provider_message_id) == ("sent", "SM" + "a" * 32)


def test_a_number_twilio_refuses_fails_at_once_without_retrying(twilio, sms_paged):
    twilio.answer = (
        400,
        {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400},
    )
    _, delivery = sms_paged
    run_delivery()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "code 21211" in delivery.error
    assert queued("notifications.deliver") == []  # no retry


def test_twilio_unavailable_is_retried(twilio, sms_paged):
    twilio.answer = (503, {"code": 20500, "message": "Internal Server Error", "status": 503})
    _, delivery = sms_paged
    run_delivery()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "Twilio refused (503" in delivery.error
    [retry] = queued("notifications.deliver")
    assert retry.args == {"notification_id": delivery.pk}
    assert retry.scheduled_at == delivery.due_at


def test_without_twilio_settings_an_sms_page_fails_clearly_and_email_still_goes(settings, org):
    settings.TWILIO_ACCOUNT_SID = ""
    person = people(org, 1)[0]
    phone = ContactMethod.objects.create(
        user=person, channel=Channel.SMS, address="+14155550100", verified_at=timezone.now()
    )
    service = make_service(org)
    policy(org, [step(person)], service=service)
    trigger(service)
    run_next_step()
    assert set(Notification.objects.values_list("channel", flat=True)) == {"email", "sms"}
    for job in queued("notifications.deliver"):
        delivery_run(**job.args)
    sms = Notification.objects.get(channel="sms", contact_method=phone)
    assert (sms.status, sms.error) == ("failed", "no SMS provider is configured")
    assert Notification.objects.get(channel="email").status == "sent"


def test_a_long_title_is_cut_to_fit_two_segments_and_keeps_the_link():
    summary = IncidentSummary(
        id=7,
        number=42,
        title="x " * 400,
        service="Checkout",
        urgency="high",
        status="triggered",
        url="https://oncall.example.com/incidents/7/",
    )
    text = render_page_sms(summary, level=2)
    assert len(text) == SMS_LIMIT
    assert text.startswith("OpsKnight #42 [Checkout] x x")
    assert text.endswith("… (level 2, high) https://oncall.example.com/incidents/7/")


def test_a_whatsapp_page_goes_through_the_same_api_with_whatsapp_addresses(twilio, settings, org):
    settings.TWILIO_WHATSAPP_FROM = "+15005550007"
    person = people(org, 1)[0]
    chat = ContactMethod.objects.create(
        user=person, channel=Channel.WHATSAPP, address="+14155550101", verified_at=timezone.now()
    )
    NotificationRule.objects.create(user=person, urgency="high", contact_method=chat)
    service = make_service(org)
    policy(org, [step(person)], service=service)
    trigger(service)
    run_next_step()
    run_delivery()
    [request] = twilio.requests
    assert request["form"]["To"] == "whatsapp:+14155550101"
    assert request["form"]["From"] == "whatsapp:+15005550007"
    assert Notification.objects.get().status == "sent"


def test_without_a_whatsapp_sender_whatsapp_pages_fail_clearly(twilio, settings, org):
    settings.TWILIO_WHATSAPP_FROM = ""
    person = people(org, 1)[0]
    chat = ContactMethod.objects.create(
        user=person, channel=Channel.WHATSAPP, address="+14155550101", verified_at=timezone.now()
    )
    NotificationRule.objects.create(user=person, urgency="high", contact_method=chat)
    service = make_service(org)
    policy(org, [step(person)], service=service)
    trigger(service)
    run_next_step()
    run_delivery()
    assert twilio.requests == []
    delivery = Notification.objects.get()
    assert (delivery.status, delivery.error) == ("failed", "no WhatsApp provider is configured")
