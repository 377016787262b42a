"""Pages by email through an email service's API (django-anymail), here Postmark's API
answered by a loopback server: the exact request, and how refusals and outages are told."""

from __future__ import annotations

import json

import pytest

from notifications.delivery import delivery_run
from notifications.models import DeliveryStatus, Notification
from tests.escalation.factories import policy, queued, run_next_step, step, take
from tests.incidents.factories import make_service, trigger
from tests.notifications.conftest import Receiver, deliver_all
from tests.oncall.factories import people
from tests.processes import serving

pytestmark = pytest.mark.django_db


ACCEPTED = {"MessageID": "pm-message-1", "ErrorCode": 0, "Message": "OK"}


def answer(status: int, **body: object) -> tuple[int, bytes]:
    return status, json.dumps({"SubmittedAt": "2026-11-23T00:00:00Z", **body}).encode()


@pytest.fixture
def postmark(settings):
    with serving(Receiver()) as server:
        settings.EMAIL_BACKEND = settings.EMAIL_ESP_BACKENDS["postmark"]
        settings.ANYMAIL = {
            "POSTMARK_SERVER_TOKEN": "pm-token",
            "POSTMARK_API_URL": server.url("/"),
        }
        settings.BASE_URL = "https://oncall.example.com"
        yield server


@pytest.fixture
def paged(org):
    person = people(org, 1)[0]
    service = make_service(org, name="Checkout API")
    policy(org, [step(person)], service=service)
    incident = trigger(service, summary="Checkout latency p99 above 2s")
    run_next_step()
    return incident, person


def test_a_page_goes_through_postmarks_api(postmark, paged):
    incident, person = paged
    postmark.default = answer(200, To=person.email, **ACCEPTED)
    deliver_all()
    [request] = postmark.posts
    assert (request.path, request.headers["X-Postmark-Server-Token"]) == ("/email", "pm-token")
    sent = request.json()
    assert sent["To"] == person.email
    assert sent["Subject"].startswith(f"[OpsKnight] #{incident.number} Checkout latency")
    assert {"Name": "X-OpsKnight-Incident", "Value": str(incident.number)} in sent["Headers"]
    assert f"https://oncall.example.com/incidents/{incident.pk}/" in sent["TextBody"]
    assert "<a href=" in sent["HtmlBody"]
    delivery = Notification.objects.get()
    assert (delivery.status, delivery.provider_message_id) == (DeliveryStatus.SENT, "pm-message-1")


def test_a_refusal_fails_at_once_and_an_outage_is_retried(postmark, paged, org):
    _, person = paged
    refused = f"Invalid 'To' address: '{person.email}'."
    postmark.default = answer(422, ErrorCode=300, Message=refused)
    deliver_all()
    delivery = Notification.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error.startswith("refused by the email service: ")
    assert delivery.attempts == 1

    postmark.default = answer(503, ErrorCode=500, Message="down")
    person = people(org, 1)[0]
    service = make_service(org)
    policy(org, [step(person)], service=service)
    trigger(service)
    run_next_step()
    [job] = queued("notifications.deliver")
    delivery_run(**take(job).args)
    retried = Notification.objects.get(user=person)
    assert (retried.status, retried.attempts) == (DeliveryStatus.PENDING, 1)
    assert retried.error.startswith("email service refused (503)")
