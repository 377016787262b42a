"""Keep AlertDto: each recorded fixture gives exactly these events; firing then resolved."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.sources.common import InvalidPayload
from integrations.sources.keep import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db

URL = "https://prometheus.example.com/graph?g0.expr=job%3Acheckout_5xx%3Arate5m+%3E+0.05"


def test_firing_triggers_keyed_by_keeps_fingerprint():
    body = load("keep", "firing")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="keep-3d1f5d8f0b6a4f0c",
        summary="Checkout API error rate above 5%",
        severity=Severity.CRITICAL,
        source="checkout",
        description="Checkout API is returning errors to customers.",
        details={
            "id": "c2bd6e04-5a3f-4d4b-9d1b-6f3d8a2c7e11",
            "environment": "production",
            "service": "checkout",
            "source": ["prometheus"],
            "labels": {"alertname": "CheckoutErrorRate", "team": "payments", "region": "eu-west-1"},
            "fingerprint": "3d1f5d8f0b6a4f0c",
            "lastReceived": "2026-11-20T09:14:03.512Z",
            "firingStartTime": "2026-11-20T09:14:03.512Z",
            "providerId": "prometheus-prod",
            "providerType": "prometheus",
            "status": "firing",
        },
        links=[{"href": URL, "text": "Alert"}],
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, 512000, tzinfo=UTC),
        raw=body,
    )


def test_resolved_resolves_the_same_fingerprint():
    (event,) = parse(load("keep", "resolved"), {})
    assert (event.action, event.dedup_key, event.occurred_at) == (
        AlertAction.RESOLVE,
        "keep-3d1f5d8f0b6a4f0c",
        datetime(2026, 11, 20, 9, 41, 27, 90000, tzinfo=UTC),
    )


def test_acknowledged_acknowledges_and_keeps_the_assignee():
    (event,) = parse(load("keep", "acknowledged"), {})
    assert (event.action, event.dedup_key) == (AlertAction.ACKNOWLEDGE, "keep-3d1f5d8f0b6a4f0c")
    assert (event.details["assignee"], event.details["note"]) == (
        "ana@example.com",
        "Looking into it",
    )


def test_a_list_gives_one_event_per_alert_and_dismissed_ones_none():
    body = load("keep", "batch")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="keep-datadog-1234567-db-1",
        summary="Disk usage above 90% on db-1",
        severity=Severity.WARNING,
        source="postgres",
        description="/var/lib/postgresql is 93% full",
        details={
            "id": "7a1c2e3f-0b4d-4e5f-8a9b-1c2d3e4f5a6b",
            "environment": "production",
            "service": "postgres",
            "source": ["datadog"],
            "labels": {"host": "db-1"},
            "fingerprint": "datadog-1234567-db-1",
            "lastReceived": "2026-11-20T10:02:11.000Z",
            "providerType": "datadog",
            "status": "firing",
        },
        links=[{"href": "https://app.datadoghq.com/monitors/1234567", "text": "Alert"}],
        occurred_at=datetime(2026, 11, 20, 10, 2, 11, tzinfo=UTC),
        raw=body[0],
    )


def test_without_fingerprint_keep_hashes_the_name_and_numbers_are_severities():
    body = load("keep", "minimal")
    (event,) = parse(body, {})
    digest = hashlib.sha256(b"Nightly ETL did not finish").hexdigest()
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=f"keep-{digest}",
        summary="Nightly ETL did not finish",
        severity=Severity.ERROR,  # 4 is Keep's "high"
        source="airflow, cron",
        description="",
        details={
            "source": ["airflow", "cron"],
            "lastReceived": "2026-11-21T06:00:00+00:00",
            "status": "firing",
        },
        images=[{"src": body["imageUrl"], "alt": "Nightly ETL did not finish"}],
        occurred_at=datetime(2026, 11, 21, 6, tzinfo=UTC),
        raw=body,
    )


@pytest.mark.parametrize(
    ("changes", "action", "severity"),
    [
        ({"status": "suppressed"}, None, None),
        ({"status": "pending"}, None, None),
        ({"status": "Resolved"}, AlertAction.RESOLVE, Severity.CRITICAL),
        ({"severity": "low"}, AlertAction.TRIGGER, Severity.INFO),
        ({"severity": "info"}, AlertAction.TRIGGER, Severity.INFO),
        ({"severity": "high"}, AlertAction.TRIGGER, Severity.ERROR),
        ({"severity": 5}, AlertAction.TRIGGER, Severity.CRITICAL),
        ({"severity": None}, AlertAction.TRIGGER, Severity.INFO),
        ({"status": None}, AlertAction.TRIGGER, Severity.CRITICAL),
    ],
)
def test_statuses_and_severities_as_keep_defines_them(changes, action, severity):
    events = parse({**load("keep", "firing"), **changes}, {})
    assert [(e.action, e.severity) for e in events] == ([(action, severity)] if action else [])


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"status": "firing"}, "'name' is missing."),
        ({"name": "x", "status": "broken"}, "'status' must be one of firing, resolved"),
        ({"name": "x", "severity": "sev1"}, "'severity' must be one of critical, high"),
        ({"name": "x", "severity": 9}, "'severity' must be one of critical, high"),
        ({"name": "x", "labels": ["a"]}, "'labels' must be an object."),
        ({"name": "x", "source": "prometheus"}, "'source' must be a list of strings."),
        ([{"name": "x"}, {"status": "firing"}], "'1.name' is missing."),
        ([{"name": "x"}, "y"], "'1' must be an object."),
        ([], "The body must not be an empty list."),
        ("alert", "The body must be a JSON object or a list of them."),
    ],
)
def test_payloads_that_are_not_keep_alerts_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_firing_then_resolved_through_http(client, service):
    keep = connect(service, "keep")
    firing = post(client, "keep", keep.key, load("keep", "firing"))
    assert firing.status_code == 202, firing.content
    assert firing.json()["results"] == [
        {"dedup_key": "keep-3d1f5d8f0b6a4f0c", "outcome": "triggered"}
    ]
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == (
        "Checkout API error rate above 5%",
        Severity.CRITICAL,
    )
    resolved = post(client, "keep", keep.key, load("keep", "resolved"))
    assert resolved.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_bad_alert_in_a_list_is_a_400_and_writes_nothing(client, service):
    keep = connect(service, "keep")
    before = written()
    response = post(client, "keep", keep.key, [load("keep", "firing"), {"status": "firing"}])
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == ["'1.name' is missing."]
    assert written() == before
