"""Honeycomb: each recorded trigger webhook gives exactly these events; TRIGGERED then OK."""

from __future__ import annotations

import json

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import Alert, AlertAction, Incident, Severity, Status
from integrations.services import integration_create
from integrations.sources.common import InvalidPayload
from integrations.sources.honeycomb import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import post

pytestmark = pytest.mark.django_db

SECRET = "honeycomb-recipient-secret-91f2"
DATASET = "https://ui.honeycomb.io/acme/environments/production/datasets/checkout"
TRIGGER_LINK = {"href": f"{DATASET}/triggers/2cVZ8xWq1Lm", "text": "Trigger"}


def _details(status, summary, groups):
    return {
        "status": status,
        "id": "2cVZ8xWq1Lm",
        "alert_type": "on_change",
        "operator": "greater than",
        "threshold": 2000,
        "summary": summary,
        "result_groups_triggered": groups,
    }


def test_a_triggered_trigger_opens_one_incident_per_trigger():
    body = load("honeycomb", "triggered")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="honeycomb-2cVZ8xWq1Lm",
        summary="Checkout p99 latency",
        severity=Severity.CRITICAL,
        source="honeycomb",
        description="p99 of duration_ms for the checkout service, breakdown by region\n"
        "Currently greater than threshold value (2000) for region:eu-west-1 (value 2511.3), "
        "region:us-east-1 (value 2043.9)\n"
        "region=eu-west-1: 2511.3\n"
        "region=us-east-1: 2043.9",
        details=_details(
            "TRIGGERED",
            "Triggered: Checkout p99 latency",
            body["result_groups_triggered"],
        ),
        links=[{"href": f"{DATASET}/result/8KwE3r5Ty1p", "text": "Query result"}, TRIGGER_LINK],
        raw=body,
    )


def test_ok_resolves_the_same_key():
    body = load("honeycomb", "ok")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.RESOLVE,
        dedup_key="honeycomb-2cVZ8xWq1Lm",
        summary="Checkout p99 latency",
        severity=Severity.CRITICAL,
        source="honeycomb",
        description="p99 of duration_ms for the checkout service, breakdown by region\n"
        "Currently less than or equal to threshold value (2000)",
        details=_details("OK", "OK: Checkout p99 latency", []),
        links=[{"href": f"{DATASET}/result/3QmZ7v2Ny8c", "text": "Query result"}, TRIGGER_LINK],
        raw=body,
    )


def test_the_test_button_is_accepted_without_events():
    assert parse(load("honeycomb", "test"), {}) == []


def test_an_older_payload_without_an_id_keys_on_the_name_and_drops_the_secret():
    (event,) = parse(load("honeycomb", "legacy_shared_secret"), {})
    assert event.dedup_key == "honeycomb-4b8fdd7b05d223e2727df7f4a66b43df"
    assert event.summary == "trig on ttt"
    assert event.description == (
        "Currently greater than threshold value (2) for foo:ble (value 5)\nfoo=ble: 5"
    )
    assert "shared_secret" not in event.raw


def test_a_severity_from_the_recipient_template_is_used():
    body = load("honeycomb", "triggered") | {"severity": "warning"}
    assert parse(body, {})[0].severity == Severity.WARNING


def test_many_groups_are_summed_up():
    body = load("honeycomb", "triggered")
    body["result_groups_triggered"] = [
        {"Group": {"region": f"r{i}"}, "Result": i} for i in range(25)
    ]
    (event,) = parse(body, {})
    assert event.description.endswith("region=r19: 19\n… and 5 more groups")
    assert len(event.details["result_groups_triggered"]) == 20


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"id": "x", "name": "n"}, "'status' is missing."),
        ({"id": "x", "status": "ALERTING"}, "'status' must be TRIGGERED or OK."),
        ({"status": "TRIGGERED"}, "'id' is missing."),
        (
            {"id": "x", "status": "OK", "result_groups_triggered": {}},
            "'result_groups_triggered' must be a list.",
        ),
    ],
)
def test_payloads_that_are_not_honeycomb_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert error in refused.value.errors


def test_triggered_then_ok_through_http_with_the_recipient_token(client, service):
    honeycomb = integration_create(
        service=service, kind="honeycomb", name="Honeycomb", signing_secret=SECRET
    )
    headers = {"X-Honeycomb-Webhook-Token": SECRET}
    fired = post(
        client, "honeycomb", honeycomb.key, load("honeycomb", "triggered"), headers=headers
    )
    assert fired.status_code == 202, fired.content
    assert fired.json()["results"] == [
        {"dedup_key": "honeycomb-2cVZ8xWq1Lm", "outcome": "triggered"}
    ]
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == ("Checkout p99 latency", Severity.CRITICAL)
    ok = post(client, "honeycomb", honeycomb.key, load("honeycomb", "ok"), headers=headers)
    assert ok.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_the_older_shared_secret_in_the_body_admits_and_is_not_stored(client, service):
    honeycomb = integration_create(
        service=service,
        kind="honeycomb",
        name="Honeycomb",
        signing_secret="would you like to play a game",
    )
    body = load("honeycomb", "legacy_shared_secret")
    response = post(client, "honeycomb", honeycomb.key, body)
    assert response.status_code == 202, response.content
    assert "shared_secret" not in Alert.objects.get().payload


@pytest.mark.parametrize(
    ("headers", "raw"),
    [
        ({"X-Honeycomb-Webhook-Token": "wrong"}, None),
        ({}, None),
        ({}, b"not json"),
        ({}, json.dumps({"status": "OK", "id": "x", "shared_secret": "wrong"}).encode()),
    ],
    ids=["bad-token", "missing", "unreadable-body", "bad-shared-secret"],
)
def test_a_bad_or_missing_token_is_a_401_and_writes_nothing(client, service, headers, raw):
    honeycomb = integration_create(
        service=service, kind="honeycomb", name="Honeycomb", signing_secret=SECRET
    )
    before = written()
    response = post(
        client, "honeycomb", honeycomb.key, load("honeycomb", "triggered"), headers=headers, raw=raw
    )
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert written() == before
