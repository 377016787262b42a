"""Uptime Kuma: each recorded fixture gives exactly these events; down then up through HTTP."""

from __future__ import annotations

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.sources.common import InvalidPayload
from integrations.sources.uptime_kuma import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db


def test_down_triggers_one_incident_per_monitor():
    (event,) = parse(load("uptime_kuma", "down"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="uptime-kuma-7",
        summary="Checkout API is down: Request failed with status code 503",
        severity=Severity.CRITICAL,
        source="https://checkout.example.com/health",
        description="[Checkout API] [🔴 Down] Request failed with status code 503",
        details=event.details,
        links=[{"href": "https://checkout.example.com/health", "text": "Monitor"}],
        occurred_at=None,  # Uptime Kuma sends local time without an offset: not trusted
    )
    assert event.details["heartbeat"]["status"] == 0


def test_up_resolves_the_same_key():
    (event,) = parse(load("uptime_kuma", "up"), {})
    assert (event.action, event.dedup_key) == (AlertAction.RESOLVE, "uptime-kuma-7")


def test_the_test_button_is_accepted_without_events():
    assert parse(load("uptime_kuma", "test"), {}) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"heartbeat": {"status": 0}}, "'heartbeat.monitorID' is missing."),
        ({"heartbeat": {"monitorID": 1, "status": "down"}}, "'heartbeat.status' must be 0"),
        ({"heartbeat": [], "msg": "x"}, "'heartbeat' must be an object."),
        ({"something": "else"}, "'heartbeat' is missing."),
    ],
)
def test_payloads_that_are_not_uptime_kuma_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_down_then_up_through_http(client, service):
    kuma = connect(service, "uptime-kuma")
    down = post(client, "uptime-kuma", kuma.key, load("uptime_kuma", "down"))
    assert down.status_code == 202, down.content
    assert down.json()["results"] == [{"dedup_key": "uptime-kuma-7", "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert incident.title == "Checkout API is down: Request failed with status code 503"
    up = post(client, "uptime-kuma", kuma.key, load("uptime_kuma", "up"))
    assert up.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_bad_body_is_a_400_naming_the_field_and_writes_nothing(client, service):
    kuma = connect(service, "uptime-kuma")
    before = written()
    response = post(client, "uptime-kuma", kuma.key, {"heartbeat": {"status": 0}})
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == ["'heartbeat.monitorID' is missing."]
    assert written() == before
