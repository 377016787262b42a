"""Better Stack: each recorded incident webhook gives exactly these events; HTTP end to end."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.sources.betterstack import parse
from integrations.sources.common import InvalidPayload
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db

URL = "https://checkout.example.com/health"
MONITOR = {"monitor": {"data": {"id": "2306519", "type": "monitor"}}}


def test_a_started_incident_triggers_with_its_screenshot():
    body = load("betterstack", "started")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="betterstack-482913607",
        summary="Checkout API: Status 503",
        severity=Severity.CRITICAL,
        source=URL,
        description="Status 503\n\nupstream connect error or disconnect/reset before headers",
        details={
            "incident_id": "482913607",
            "attributes": body["data"]["attributes"],
            "relationships": MONITOR,
        },
        links=[
            {"href": URL, "text": "Monitored URL"},
            {
                "href": "https://uptime.betterstack.com/team/120485/incidents/482913607/response",
                "text": "Response",
            },
        ],
        images=[
            {"src": "https://uptime-screenshots.betterstack.com/482913607.png", "alt": "Screenshot"}
        ],
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, 204000, tzinfo=UTC),
    )


def test_the_older_event_field_acknowledges():
    body = load("betterstack", "acknowledged")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.ACKNOWLEDGE,
        dedup_key="betterstack-482913607",
        summary="Checkout API acknowledged: Status 503",
        severity=Severity.INFO,
        source=URL,
        description="Status 503",
        details={
            "incident_id": "482913607",
            "event": "acknowledged",
            "attributes": body["data"]["attributes"],
            "relationships": MONITOR,
        },
        links=[{"href": URL, "text": "Monitored URL"}],
        occurred_at=datetime(2026, 11, 20, 9, 17, 41, 880000, tzinfo=UTC),
    )


def test_resolved_resolves_the_same_incident():
    body = load("betterstack", "resolved")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.RESOLVE,
        dedup_key="betterstack-482913607",
        summary="Checkout API resolved: Status 503",
        severity=Severity.INFO,
        source=URL,
        description="Status 503",
        details={
            "incident_id": "482913607",
            "attributes": body["data"]["attributes"],
            "relationships": MONITOR,
        },
        links=[{"href": URL, "text": "Monitored URL"}],
        occurred_at=datetime(2026, 11, 20, 9, 35, 12, 15000, tzinfo=UTC),
    )


def test_an_acknowledgement_names_who_and_timestamps_decide_without_a_status():
    body = load("betterstack", "resolved")
    attributes = {**body["data"]["attributes"], "status": None, "resolved_at": None}
    (event,) = parse({"data": {**body["data"], "attributes": attributes}}, {})
    assert (event.action, event.summary) == (
        AlertAction.ACKNOWLEDGE,
        "Checkout API acknowledged by alice@example.com: Status 503",
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"event": "started"}, "'data' is missing."),
        ({"data": []}, "'data' must be an object."),
        ({"data": {"type": "incident", "attributes": {}}}, "'data.id' is missing."),
        ({"data": {"id": "1", "type": "monitor", "attributes": {}}}, "'data.type' must be"),
        ({"data": {"id": "1", "type": "incident"}}, "'data.attributes' is missing."),
        ({"event": "paused", "data": {"id": "1", "type": "incident", "attributes": {}}},
         "'event' must be one of started, acknowledged, resolved."),
        ({"data": {"id": "1", "type": "incident", "attributes": {"status": "Down"}}},
         "'data.attributes.status' must be one of"),
    ],
)  # fmt: skip
def test_payloads_that_are_not_better_stack_incidents_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_started_acknowledged_resolved_through_http(client, service):
    better = connect(service, "betterstack")
    started = post(client, "betterstack", better.key, load("betterstack", "started"))
    assert started.status_code == 202, started.content
    assert started.json()["results"] == [
        {"dedup_key": "betterstack-482913607", "outcome": "triggered"}
    ]
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == ("Checkout API: Status 503", Severity.CRITICAL)
    acked = post(client, "betterstack", better.key, load("betterstack", "acknowledged"))
    assert acked.json()["results"][0]["outcome"] == "acknowledged"
    resolved = post(client, "betterstack", better.key, load("betterstack", "resolved"))
    assert resolved.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_monitor_webhook_is_a_400_naming_the_field_and_writes_nothing(client, service):
    better = connect(service, "betterstack")
    before = written()
    monitor = {"event": "created", "data": {"id": "1", "type": "monitor", "attributes": {}}}
    response = post(client, "betterstack", better.key, monitor)
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == [
        "'data.type' must be \"incident\" (configure an Incident webhook).",
        "'event' must be one of started, acknowledged, resolved.",
    ]
    assert written() == before
