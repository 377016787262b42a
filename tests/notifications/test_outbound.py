"""Incident events posted to outbound destinations, received by a real loopback HTTP server.

Each kind's exact JSON body is asserted as the server received it; the generic webhook's
signature is checked here with hmac, independently of the code that made it. Slack goes
through the official slack_sdk client pointed at the loopback server (SLACK_API_BASE_URL),
Telegram through TELEGRAM_API_BASE_URL.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

import pytest

from incidents.models import EventKind, Incident, IncidentEvent
from notifications.models import OutboundDelivery, OutboundKind, OutboundStatus
from notifications.outbound.delivery import outbound_delivery_run
from notifications.outbound.services import POST_OUTBOUND, outbound_destination_create
from tests.escalation.factories import queued
from tests.incidents.factories import make_service, trigger
from tests.notifications.conftest import post_due_outbound
from tests.processes import free_port

pytestmark = pytest.mark.django_db

BACKOFF = [timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10)]

SIGNING_SECRET = "whsec_test_0123456789"
DISCORD_TOKEN = "dGhpcyBpcyBhIHNlY3JldCB3ZWJob29rIHRva2Vu_0123456789abcdef"
BOT_TOKEN = "123456789:AAHtestTokenForTheLoopbackTelegram"


@pytest.fixture
def checkout(org):
    return make_service(org, name="Checkout API")


def add(org, kind, **fields):
    return outbound_destination_create(
        organization=org, name=fields.pop("name", f"{kind} destination"), kind=kind, **fields
    )


def summary(incident: Incident, status: str = "triggered") -> dict:
    return {
        "id": incident.pk,
        "number": incident.number,
        "title": incident.title,
        "status": status,
        "urgency": "high",
        "service": "Checkout API",
        "url": f"https://oncall.example.com/incidents/{incident.pk}/",
    }


def occurred(incident: Incident, kind: str = EventKind.TRIGGERED) -> str:
    return IncidentEvent.objects.get(incident=incident, kind=kind).created_at.isoformat()


def test_the_generic_webhook_gets_the_documented_body_signed(org, checkout, receiver):
    add(org, OutboundKind.WEBHOOK, url=receiver.url("/opsknight"), secret=SIGNING_SECRET)
    incident = trigger(checkout, summary="Checkout down")

    before = int(time.time())
    assert post_due_outbound() == 1

    [post] = receiver.posts
    assert post.path == "/opsknight"
    assert post.json() == {
        "event": "incident.triggered",
        "occurred_at": occurred(incident),
        "incident": summary(incident),
    }
    delivery = OutboundDelivery.objects.get()
    assert post.headers["Content-Type"] == "application/json"
    assert post.headers["X-OpsKnight-Event"] == "incident.triggered"
    assert post.headers["X-OpsKnight-Delivery"] == str(delivery.pk)
    # The receiver's side of the contract: t and v1 from the header, HMAC over "<t>.<body>".
    fields = dict(part.split("=", 1) for part in post.headers["X-OpsKnight-Signature"].split(","))
    assert set(fields) == {"t", "v1"}
    assert post.headers["X-OpsKnight-Timestamp"] == fields["t"]
    assert before <= int(fields["t"]) <= int(time.time())
    expected = hmac.new(
        SIGNING_SECRET.encode(), fields["t"].encode() + b"." + post.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    assert (delivery.status, delivery.attempts, delivery.response_status_code) == ("sent", 1, 200)
    assert delivery.sent_at is not None


def test_teams_gets_an_adaptive_card(org, checkout, receiver):
    add(org, OutboundKind.TEAMS, secret=receiver.url("/webhookb2/abc@def/IncomingWebhook/xyz"))
    incident = trigger(checkout, summary="Checkout down")

    post_due_outbound()

    [post] = receiver.posts
    assert post.path == "/webhookb2/abc@def/IncomingWebhook/xyz"
    assert post.json() == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": f"Triggered: #{incident.number} Checkout down",
                            "weight": "Bolder",
                            "size": "Medium",
                            "wrap": True,
                        },
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "Service", "value": "Checkout API"},
                                {"title": "Urgency", "value": "high"},
                                {"title": "Status", "value": "triggered"},
                            ],
                        },
                    ],
                    "actions": [
                        {
                            "type": "Action.OpenUrl",
                            "title": "Open incident",
                            "url": f"https://oncall.example.com/incidents/{incident.pk}/",
                        }
                    ],
                },
            }
        ],
    }
    assert OutboundDelivery.objects.get().status == OutboundStatus.SENT


def test_google_chat_gets_a_card_with_outside_text_escaped(org, receiver):
    service = make_service(org, name="Pay <&> Co")
    add(org, OutboundKind.GOOGLE_CHAT, secret=receiver.url("/v1/spaces/AAA/messages?key=k&token=t"))
    incident = trigger(service, summary="Checkout down")

    post_due_outbound()

    [post] = receiver.posts
    assert post.path == "/v1/spaces/AAA/messages?key=k&token=t"
    assert post.json() == {
        "cardsV2": [
            {
                "cardId": f"incident-{incident.pk}-triggered",
                "card": {
                    "header": {
                        "title": f"#{incident.number} Checkout down",
                        "subtitle": "Triggered",
                    },
                    "sections": [
                        {
                            "widgets": [
                                {
                                    "decoratedText": {
                                        "topLabel": "Service",
                                        "text": "Pay &lt;&amp;&gt; Co",
                                    }
                                },
                                {"decoratedText": {"topLabel": "Urgency", "text": "high"}},
                                {"decoratedText": {"topLabel": "Status", "text": "triggered"}},
                                {
                                    "buttonList": {
                                        "buttons": [
                                            {
                                                "text": "Open incident",
                                                "onClick": {
                                                    "openLink": {
                                                        "url": "https://oncall.example.com"
                                                        f"/incidents/{incident.pk}/"
                                                    }
                                                },
                                            }
                                        ]
                                    }
                                },
                            ]
                        }
                    ],
                },
            }
        ]
    }


def test_discord_gets_an_embed_that_cannot_mention_anyone(org, checkout, receiver):
    receiver.default = (204, b"")
    add(org, OutboundKind.DISCORD, secret=receiver.url(f"/api/webhooks/1234/{DISCORD_TOKEN}"))
    incident = trigger(checkout, summary="@everyone Checkout down")

    post_due_outbound()

    [post] = receiver.posts
    assert post.path == f"/api/webhooks/1234/{DISCORD_TOKEN}"
    assert post.json() == {
        "content": f"Incident #{incident.number} triggered",
        "embeds": [
            {
                "title": f"Triggered: #{incident.number} @everyone Checkout down",
                "url": f"https://oncall.example.com/incidents/{incident.pk}/",
                "color": 0xD93F0B,
                "fields": [
                    {"name": "Service", "value": "Checkout API", "inline": True},
                    {"name": "Urgency", "value": "high", "inline": True},
                    {"name": "Status", "value": "triggered", "inline": True},
                ],
                "timestamp": occurred(incident),
            }
        ],
        "allowed_mentions": {"parse": []},
    }
    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.response_status_code) == ("sent", 204)


def test_telegram_gets_send_message_in_html_with_the_title_escaped(
    org, checkout, receiver, settings
):
    settings.TELEGRAM_API_BASE_URL = receiver.url("/telegram/")
    receiver.default = (200, b'{"ok":true,"result":{"message_id":7}}')
    add(org, OutboundKind.TELEGRAM, channel_id="-1001234567890", secret=BOT_TOKEN)
    incident = trigger(checkout, summary="Disk <b>full</b> & more")

    post_due_outbound()

    [post] = receiver.posts
    assert post.path == f"/telegram/bot{BOT_TOKEN}/sendMessage"
    url = f"https://oncall.example.com/incidents/{incident.pk}/"
    assert post.json() == {
        "chat_id": "-1001234567890",
        "text": (
            f"<b>Triggered: #{incident.number} Disk &lt;b&gt;full&lt;/b&gt; &amp; more</b>\n"
            "Service: Checkout API\nUrgency: high\nStatus: triggered\n"
            f'<a href="{url}">Open incident</a>'
        ),
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }
    assert OutboundDelivery.objects.get().status == OutboundStatus.SENT


def test_telegram_refusing_the_chat_fails_at_once_without_the_token_in_the_error(
    org, checkout, receiver, settings
):
    settings.TELEGRAM_API_BASE_URL = receiver.url("")
    receiver.default = (
        400,
        b'{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}',
    )
    add(org, OutboundKind.TELEGRAM, channel_id="@opsknight_alerts", secret=BOT_TOKEN)
    trigger(checkout)

    post_due_outbound()

    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status_code) == ("failed", 1, 400)
    assert delivery.last_error == (
        'HTTP 400 from 127.0.0.1: {"ok":false,"error_code":400,'
        '"description":"Bad Request: chat not found"}'
    )
    assert queued(POST_OUTBOUND) == []


@pytest.fixture
def slack_api(receiver, settings):
    settings.SLACK_BOT_TOKEN = "xoxb-outbound-test"
    settings.SLACK_API_BASE_URL = receiver.url("/api/")
    receiver.default = (200, b'{"ok":true,"channel":"C0123ABCD","ts":"1700000000.000200"}')
    return receiver


def test_a_slack_destination_posts_to_its_channel_through_the_web_api(org, checkout, slack_api):
    add(org, OutboundKind.SLACK, channel_id="C0123ABCD")
    incident = trigger(checkout, summary="Checkout <!channel> down")

    post_due_outbound()

    [post] = slack_api.posts
    assert post.path == "/api/chat.postMessage"
    assert post.headers["Authorization"] == "Bearer xoxb-outbound-test"
    headline = f"Triggered: #{incident.number} Checkout &lt;!channel&gt; down"
    assert post.json() == {
        "channel": "C0123ABCD",
        "text": f"{headline} (Checkout API, high)",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{headline}*\n"
                    "*Service:* Checkout API · *Urgency:* high · *Status:* triggered",
                },
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open incident"},
                        "url": f"https://oncall.example.com/incidents/{incident.pk}/",
                    }
                ],
            },
        ],
    }
    assert OutboundDelivery.objects.get().status == OutboundStatus.SENT


def test_a_slack_channel_that_is_not_there_fails_at_once(org, checkout, slack_api):
    slack_api.default = (200, b'{"ok":false,"error":"channel_not_found"}')
    add(org, OutboundKind.SLACK, channel_id="C0123ABCD")
    trigger(checkout)

    post_due_outbound()

    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error == "Slack refused: channel_not_found"
    assert len(slack_api.posts) == 1


def test_without_a_bot_token_slack_destinations_fail_clearly(org, checkout, receiver, settings):
    settings.SLACK_BOT_TOKEN = ""
    add(org, OutboundKind.SLACK, channel_id="C0123ABCD")
    trigger(checkout)

    post_due_outbound()

    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 0)
    assert delivery.last_error == "no Slack bot token is configured"


def test_server_errors_are_retried_with_backoff_then_fail(org, checkout, receiver):
    receiver.default = (503, b"busy")
    add(org, OutboundKind.WEBHOOK, url=receiver.url(), secret=SIGNING_SECRET)
    trigger(checkout)

    for attempt, wait in enumerate(BACKOFF, start=1):
        assert post_due_outbound() == 1
        delivery = OutboundDelivery.objects.get()
        assert (delivery.status, delivery.attempts) == (OutboundStatus.PENDING, attempt)
        assert delivery.due_at - delivery.updated_at == wait
        [job] = queued(POST_OUTBOUND)
        assert job.scheduled_at == delivery.due_at
    assert post_due_outbound() == 1

    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (OutboundStatus.FAILED, 5)
    assert (delivery.response_status_code, delivery.last_error) == (
        503,
        "HTTP 503 from 127.0.0.1: busy",
    )
    assert queued(POST_OUTBOUND) == []
    assert len(receiver.posts) == 5
    assert len({post.body for post in receiver.posts}) == 1  # every retry sends the same event


def test_a_retry_that_gets_through_is_sent(org, checkout, receiver):
    receiver.answers = [(502, b"bad gateway")]
    add(org, OutboundKind.WEBHOOK, url=receiver.url(), secret=SIGNING_SECRET)
    trigger(checkout)

    post_due_outbound()
    post_due_outbound()

    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, "")
    assert delivery.response_status_code == 200
    assert [post.headers["X-OpsKnight-Delivery"] for post in receiver.posts] == [
        str(delivery.pk)
    ] * 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_client_errors_fail_at_once(org, checkout, receiver, status):
    receiver.default = (status, b'{"error":"no"}')
    add(org, OutboundKind.WEBHOOK, url=receiver.url(), secret=SIGNING_SECRET)
    trigger(checkout)

    post_due_outbound()

    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (OutboundStatus.FAILED, 1)
    assert delivery.response_status_code == status
    assert delivery.last_error == f'HTTP {status} from 127.0.0.1: {{"error":"no"}}'
    assert queued(POST_OUTBOUND) == []


@pytest.mark.parametrize("status", [408, 429, 500])
def test_timeouts_rate_limits_and_server_errors_are_retried(org, checkout, receiver, status):
    receiver.default = (status, b"")
    add(org, OutboundKind.WEBHOOK, url=receiver.url(), secret=SIGNING_SECRET)
    trigger(checkout)

    post_due_outbound()

    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (OutboundStatus.PENDING, 1)
    assert delivery.response_status_code == status
    assert len(queued(POST_OUTBOUND)) == 1


def test_a_redirect_is_not_followed(org, checkout, receiver):
    receiver.default = (302, b"")
    add(org, OutboundKind.WEBHOOK, url=receiver.url(), secret=SIGNING_SECRET)
    trigger(checkout)

    post_due_outbound()

    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.response_status_code) == (OutboundStatus.FAILED, 302)
    assert delivery.last_error == "HTTP 302 from 127.0.0.1 (redirects are not followed)"
    assert len(receiver.posts) == 1


def test_an_unreachable_destination_is_retried_and_its_url_never_shown(
    org, checkout, outbound_settings
):
    closed = f"http://127.0.0.1:{free_port()}/api/webhooks/1234/{DISCORD_TOKEN}"
    add(org, OutboundKind.DISCORD, secret=closed)
    trigger(checkout)

    post_due_outbound()

    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (OutboundStatus.PENDING, 1)
    assert delivery.last_error == "could not connect to 127.0.0.1"
    assert delivery.response_status_code is None


def test_an_answer_that_echoes_the_webhook_token_is_redacted(org, checkout, receiver):
    receiver.default = (404, f'{{"message":"Unknown Webhook {DISCORD_TOKEN}"}}'.encode())
    add(org, OutboundKind.DISCORD, secret=receiver.url(f"/api/webhooks/1234/{DISCORD_TOKEN}"))
    trigger(checkout)

    post_due_outbound()

    delivery = OutboundDelivery.objects.get()
    assert (
        delivery.last_error == 'HTTP 404 from 127.0.0.1: {"message":"Unknown Webhook [redacted]"}'
    )


def test_a_run_that_finds_the_row_sending_does_not_post_again(org, checkout, receiver):
    add(org, OutboundKind.WEBHOOK, url=receiver.url(), secret=SIGNING_SECRET)
    trigger(checkout)
    [job] = queued(POST_OUTBOUND)
    # A worker claimed it (SENDING committed) and died before recording the outcome.
    OutboundDelivery.objects.update(status=OutboundStatus.SENDING, attempts=1)

    outbound_delivery_run(**job.args)

    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (OutboundStatus.FAILED, 1)
    assert (
        delivery.last_error == "outcome unknown: the worker stopped while sending; not sent again"
    )
    assert receiver.posts == []


def test_a_second_run_of_a_sent_row_posts_nothing(org, checkout, receiver):
    add(org, OutboundKind.WEBHOOK, url=receiver.url(), secret=SIGNING_SECRET)
    trigger(checkout)
    [job] = queued(POST_OUTBOUND)

    outbound_delivery_run(**job.args)
    outbound_delivery_run(**job.args)

    assert len(receiver.posts) == 1
    assert OutboundDelivery.objects.get().status == OutboundStatus.SENT


def test_a_destination_disabled_before_its_post_sends_nothing(org, checkout, receiver):
    destination = add(org, OutboundKind.WEBHOOK, url=receiver.url(), secret=SIGNING_SECRET)
    trigger(checkout)
    destination.enabled = False
    destination.save(update_fields=["enabled"])

    post_due_outbound()

    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (OutboundStatus.FAILED, 0)
    assert delivery.last_error == "the destination was disabled before sending"
    assert receiver.posts == []


def test_the_stored_secret_is_encrypted(org, receiver):
    destination = add(org, OutboundKind.WEBHOOK, url=receiver.url(), secret=SIGNING_SECRET)
    stored = type(destination).objects.values_list("secret_encrypted", flat=True).get()
    assert SIGNING_SECRET not in stored
    assert destination.secret() == SIGNING_SECRET
