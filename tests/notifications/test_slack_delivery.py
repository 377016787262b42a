"""Pages as Slack direct messages through the official slack_sdk client, pointed at a loopback
HTTP server that answers as Slack's Web API does. Asserts the exact call Slack receives."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from notifications.models import (
    Channel,
    ContactMethod,
    DeliveryStatus,
    Notification,
    NotificationRule,
)
from tests.escalation.factories import policy, queued, run_next_step, step
from tests.incidents.factories import make_service, trigger
from tests.notifications.conftest import deliver_all
from tests.oncall.factories import people
from tests.processes import serving

pytestmark = pytest.mark.django_db

TOKEN = "xoxb-test-token"


class FakeSlack(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SlackHandler)
        self.calls: list[dict] = []
        self.answer: dict = {"ok": True, "channel": "D0123", "ts": "1700000000.000100"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/"


class SlackHandler(BaseHTTPRequestHandler):
    server: FakeSlack

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            body = json.loads(raw)
        else:
            body = {k: v[0] for k, v in parse_qs(raw).items()}
        self.server.calls.append(
            {"path": self.path, "auth": self.headers["Authorization"], "body": body}
        )
        data = json.dumps(self.server.answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slack(settings):
    with serving(FakeSlack()) as server:
        settings.SLACK_BOT_TOKEN, settings.SLACK_API_BASE_URL = TOKEN, server.url
        settings.BASE_URL = "https://oncall.example.com"
        yield server


@pytest.fixture
def slack_paged(org):
    person = people(org, 1)[0]
    dm = ContactMethod.objects.create(
        user=person, channel=Channel.SLACK, address="U0PERSON", verified_at=timezone.now()
    )
    NotificationRule.objects.create(user=person, urgency="high", contact_method=dm)
    service = make_service(org, name="Checkout API")
    policy(org, [step(person)], service=service)
    incident = trigger(service, summary="Checkout down")
    run_next_step()
    return incident


def test_a_page_is_a_direct_message_with_open_and_acknowledge_buttons(slack, slack_paged):
    incident = slack_paged
    deliver_all()
    [call] = slack.calls
    assert call["path"] == "/api/chat.postMessage"
    assert call["auth"] == f"Bearer {TOKEN}"
    body = call["body"]
    assert body["channel"] == "U0PERSON"
    assert body["text"] == (
        f"Incident #{incident.number}: Checkout down (Checkout API, high, level 1)"
    )
    blocks = body["blocks"] if isinstance(body["blocks"], list) else json.loads(body["blocks"])
    buttons = {b["text"]["text"]: b["url"] for b in blocks[-1]["elements"]}
    assert buttons["Open"] == f"https://oncall.example.com/incidents/{incident.pk}/"
    assert buttons["Acknowledge"].startswith("https://oncall.example.com/notifications/ack/")
    delivery = Notification.objects.get()
    assert (delivery.status, delivery.provider_message_id) == ("sent", "D0123/1700000000.000100")


def test_a_user_slack_does_not_know_fails_at_once(slack, slack_paged):
    slack.answer = {"ok": False, "error": "channel_not_found"}
    deliver_all()
    delivery = Notification.objects.get()
    assert (delivery.status, delivery.error) == (
        DeliveryStatus.FAILED,
        "Slack refused: channel_not_found",
    )
    assert len(slack.calls) == 1


def test_slack_rate_limiting_is_retried(slack, slack_paged):
    slack.answer = {"ok": False, "error": "ratelimited"}
    job = queued("notifications.deliver")[0]
    from notifications.delivery import delivery_run

    delivery_run(**job.args)
    delivery = Notification.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert delivery.error == "Slack refused: ratelimited"


def test_without_a_bot_token_slack_pages_fail_clearly(settings, slack_paged):
    settings.SLACK_BOT_TOKEN = ""
    deliver_all()
    delivery = Notification.objects.get()
    assert (delivery.status, delivery.error) == ("failed", "no Slack provider is configured")
