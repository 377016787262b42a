"""Pages as web push: pywebpush encrypts for the subscription and signs with VAPID; a loopback
HTTP server stands in for the browser's push service, and the test decrypts what arrived with
the subscription's private key, as the browser would."""

from __future__ import annotations

import base64
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.management import call_command
from django.utils import timezone

from notifications.management.commands.vapid_keys import generate
from notifications.models import (
    Channel,
    ContactMethod,
    DeliveryStatus,
    Notification,
    NotificationRule,
)
from tests.escalation.factories import policy, run_next_step, step
from tests.incidents.factories import make_service, trigger
from tests.notifications.conftest import deliver_all
from tests.oncall.factories import people
from tests.processes import serving

pytestmark = pytest.mark.django_db


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class FakePushService(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), PushHandler)
        self.received: list[dict] = []
        self.status = 201

    def endpoint(self, name: str = "sub-1") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/push/{name}"


class PushHandler(BaseHTTPRequestHandler):
    server: FakePushService

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(
            {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        )
        self.send_response(self.server.status)
        self.send_header("Location", f"{self.path}/messages/1")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def push_service(settings):
    private, public = generate()
    settings.VAPID_PRIVATE_KEY, settings.VAPID_PUBLIC_KEY = private, public
    settings.VAPID_SUBJECT = "mailto:ops@example.com"
    settings.PUSH_ALLOW_PRIVATE_ADDRESSES = True  # the stand-in lives on loopback
    settings.BASE_URL = "https://oncall.example.com"
    with serving(FakePushService()) as server:
        yield server


@pytest.fixture
def browser():
    """A subscription's secrets, as a browser keeps them."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return key, b64(public), os.urandom(16)


def subscribe(org, endpoint: str, browser):
    _, p256dh, auth = browser
    person = people(org, 1)[0]
    method = ContactMethod.objects.create(
        user=person,
        channel=Channel.PUSH,
        address=endpoint,
        keys={"p256dh": p256dh, "auth": b64(auth)},
        verified_at=timezone.now(),
    )
    NotificationRule.objects.create(user=person, urgency="high", contact_method=method)
    service = make_service(org, name="Checkout API")
    policy(org, [step(person)], service=service)
    incident = trigger(service, summary="Checkout down")
    run_next_step()
    return incident


def test_a_push_page_arrives_encrypted_and_the_browser_can_read_it(
    push_service, browser, org, settings
):
    incident = subscribe(org, push_service.endpoint(), browser)
    deliver_all()
    [received] = push_service.received
    headers = received["headers"]
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["authorization"].startswith("vapid t=")
    assert f"k={settings.VAPID_PUBLIC_KEY}" in headers["authorization"]
    assert int(headers["ttl"]) == 3600
    key, _, auth = browser
    plain = http_ece.decrypt(
        received["body"], private_key=key, auth_secret=auth, version="aes128gcm"
    )
    payload = json.loads(plain)
    assert payload["title"] == f"#{incident.number} Checkout down"
    assert payload["body"] == "Checkout API · high · level 1"
    assert payload["url"] == f"https://oncall.example.com/incidents/{incident.pk}/"
    assert payload["ack_url"].startswith("https://oncall.example.com/notifications/ack/")
    delivery = Notification.objects.get()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.provider_message_id == "/push/sub-1/messages/1"


def test_a_subscription_the_service_forgot_fails_at_once(push_service, browser, org):
    push_service.status = 410
    subscribe(org, push_service.endpoint(), browser)
    deliver_all()
    delivery = Notification.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error.startswith("push service refused (410)")
    assert len(push_service.received) == 1


def test_a_private_endpoint_is_refused_unless_allowed(push_service, browser, org, settings):
    settings.PUSH_ALLOW_PRIVATE_ADDRESSES = False
    subscribe(org, push_service.endpoint(), browser)
    deliver_all()
    assert push_service.received == []
    delivery = Notification.objects.get()
    assert (delivery.status, delivery.error) == (
        "failed",
        "push endpoint refused: not a public https address",
    )


def test_without_vapid_keys_push_pages_fail_clearly(settings, browser, org):
    settings.VAPID_PRIVATE_KEY = ""
    subscribe(org, "https://push.example.com/sub", browser)
    deliver_all()
    delivery = Notification.objects.get()
    assert (delivery.status, delivery.error) == ("failed", "no Web push provider is configured")


def test_the_command_prints_a_usable_key_pair(capsys):
    call_command("vapid_keys")
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.split())
    public = base64.urlsafe_b64decode(lines["VAPID_PUBLIC_KEY"] + "==")
    assert len(public) == 65
    assert public[0] == 4  # an uncompressed P-256 point, as browsers want applicationServerKey
    assert len(base64.urlsafe_b64decode(lines["VAPID_PRIVATE_KEY"] + "=")) == 32
