"""Datadog webhooks: each recorded fixture gives exactly these events; triggered then recovered."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.sources.common import InvalidPayload, stable_key
from integrations.sources.datadog import PAYLOAD, parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db

EVENT_LINK = "https://app.datadoghq.com/event/event?id=7491253746290412345"


def test_triggered_with_the_recommended_payload():
    body = load("datadog", "triggered")
    (event,) = parse(body, {})
    assert (
        event
        == NormalizedEvent(
            action=AlertAction.TRIGGER,
            dedup_key="datadog-7491253746290412345",
            summary="High CPU on web-1",
            severity=Severity.ERROR,  # P2
            source="web-1",
            description=body["body"][3:-3].strip(),
            details={
                **{k: v for k, v in body.items() if k not in ("body", "tags")},
                "tags": ["env:prod", "host:web-1", "monitor", "role:web"],
            },
            links=[{"href": EVENT_LINK, "text": "View in Datadog"}],
            images=[{"src": body["snapshot"], "alt": "High CPU on web-1"}],
            occurred_at=datetime(2025, 11, 20, 9, 14, 3, tzinfo=UTC),
            priority="P2",
            raw=body,
        )
    )
    assert event.description.startswith("@webhook-opsknight CPU usage on web-1 is above 90%.")


def test_recovered_resolves_the_same_alert_cycle():
    (event,) = parse(load("datadog", "recovered"), {})
    assert (event.action, event.dedup_key) == (AlertAction.RESOLVE, "datadog-7491253746290412345")
    assert event.occurred_at == datetime(2025, 11, 20, 9, 34, 3, tzinfo=UTC)


def test_warn_is_a_warning_whatever_the_priority():
    (event,) = parse(load("datadog", "warn"), {})
    assert (event.action, event.dedup_key, event.severity, event.priority, event.source) == (
        AlertAction.TRIGGER,
        "datadog-7491250012345678901",
        Severity.WARNING,
        "P1",
        "db-1",
    )


def test_no_data_is_a_warning():
    (event,) = parse(load("datadog", "no_data"), {})
    assert (event.action, event.summary, event.severity, event.priority) == (
        AlertAction.TRIGGER,
        "Queue consumer heartbeat",
        Severity.WARNING,
        "",
    )


def test_datadogs_default_payload_reads_the_transition_and_scope_from_the_title():
    body = load("datadog", "default_payload")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=stable_key("datadog", "Checkout latency is high", "env:prod,service:checkout"),
        summary="Checkout latency is high on env:prod,service:checkout",
        severity=Severity.CRITICAL,
        source="env:prod,service:checkout",
        description=body["body"][3:-3].strip(),
        details={k: v for k, v in body.items() if k != "body"},
        occurred_at=datetime(2025, 11, 20, 9, 15, tzinfo=UTC),
        raw=body,
    )
    (recovered,) = parse(load("datadog", "default_payload_recovered"), {})
    assert (recovered.action, recovered.dedup_key) == (AlertAction.RESOLVE, event.dedup_key)


def test_an_array_gives_one_event_per_element_in_the_seeds_shape():
    body = load("datadog", "events_array")
    payments, search = parse(body, {})
    assert payments == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="datadog-payments-gateway-errors",
        summary="Payment gateway errors",
        severity=Severity.CRITICAL,
        source="payments-1",
        description="Stripe API returned 5xx for 12% of requests.",
        details={k: v for k, v in body[0].items() if k != "text"},
        occurred_at=datetime(2025, 11, 20, 9, 21, 40, tzinfo=UTC),
        raw=body[0],
    )
    assert (search.action, search.dedup_key, search.raw) == (
        AlertAction.RESOLVE,
        "datadog-search-indexing-lag",
        body[1],
    )


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"alert_cycle_key": ""}, "datadog-a8f0c7b8e1d94f2e8e0b3f0a7c6d5e4f"),
        ({"alert_cycle_key": "", "aggreg_key": "$AGGREG_KEY"}, None),
        (
            {"alert_cycle_key": "", "aggreg_key": "", "alert_scope": "", "title": "High CPU"},
            "datadog-monitor-1234567",
        ),
    ],
)
def test_dedup_falls_back_from_cycle_to_aggregation_to_monitor(changes, key):
    (event,) = parse({**load("datadog", "triggered"), **changes}, {})
    assert event.dedup_key == (
        key or stable_key("datadog-monitor-1234567", "host:web-1", length=16)
    )


@pytest.mark.parametrize(
    ("changes", "severity"),
    [
        ({"alert_priority": "P1"}, Severity.CRITICAL),
        ({"alert_priority": "P3"}, Severity.WARNING),
        ({"alert_priority": "P5"}, Severity.INFO),
        ({"alert_priority": ""}, Severity.CRITICAL),
        ({"alert_priority": "", "alert_type": "info"}, Severity.INFO),
        ({"alert_priority": "", "alert_type": "warning"}, Severity.WARNING),
    ],
)
def test_severity_from_priority_then_alert_type(changes, severity):
    body = {**load("datadog", "triggered"), "title": "High CPU on web-1", **changes}
    assert parse(body, {})[0].severity == severity


def test_a_priority_tag_in_the_title_counts_when_the_field_is_empty():
    body = {**load("datadog", "triggered"), "alert_priority": ""}
    assert (parse(body, {})[0].priority, parse(body, {})[0].severity) == ("P2", Severity.ERROR)


def test_every_variable_of_the_recommended_payload_is_read():
    # The payload we document is the one the tests use.
    assert set(PAYLOAD) == set(load("datadog", "triggered"))


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"body": "no title"}, "'title' is missing."),
        ({"title": ["x"]}, "'title' must be a string."),
        ({"title": "x", "tags": 3}, "'tags' must be a string or a list."),
        ([{"title": "x"}, {"body": "y"}], "'1.title' is missing."),
        ([{"title": "x"}, 7], "'1' must be an object."),
        ([], "The body must not be an empty list."),
        ("x", "The body must be a JSON object or a list of them."),
    ],
)
def test_payloads_that_are_not_datadog_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_triggered_then_recovered_through_http(client, service):
    datadog = connect(service, "datadog")
    triggered = post(client, "datadog", datadog.key, load("datadog", "triggered"))
    assert triggered.status_code == 202, triggered.content
    assert triggered.json()["results"] == [
        {"dedup_key": "datadog-7491253746290412345", "outcome": "triggered"}
    ]
    incident = Incident.objects.get()
    assert (incident.title, incident.priority) == ("High CPU on web-1", "P2")
    recovered = post(client, "datadog", datadog.key, load("datadog", "recovered"))
    assert recovered.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_encode_as_form_is_read_too(client, service):
    datadog = connect(service, "datadog")
    fields = {k: v for k, v in load("datadog", "triggered").items() if k != "org"}
    response = post(
        client,
        "datadog",
        datadog.key,
        None,
        raw=urlencode(fields).encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 202, response.content
    assert response.json()["results"][0]["dedup_key"] == "datadog-7491253746290412345"


def test_a_bad_body_is_a_400_naming_the_field_and_writes_nothing(client, service):
    datadog = connect(service, "datadog")
    before = written()
    response = post(client, "datadog", datadog.key, {"body": "no title"})
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == ["'title' is missing."]
    assert written() == before
