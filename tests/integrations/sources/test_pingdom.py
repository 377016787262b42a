"""Pingdom: each recorded state change gives exactly these events; down then up through HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.sources.common import InvalidPayload
from integrations.sources.pingdom import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db

URL = "https://checkout.example.com/health"


def details_of(body: dict) -> dict:
    return {
        "check_id": str(body["check_id"]),
        "check_type": body["check_type"],
        "previous_state": body["previous_state"],
        "current_state": body["current_state"],
        "importance_level": body["importance_level"],
        "check_params": body["check_params"],
        "tags": body["tags"],
        **{k: body[k] for k in ("first_probe", "second_probe") if body.get(k)},
    }


def test_down_triggers_a_critical_incident_for_a_high_importance_check():
    body = load("pingdom", "http_down")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="pingdom-12345",
        summary="Checkout API is down: HTTP Error 503",
        severity=Severity.CRITICAL,
        source=URL,
        description="HTTP Server Error 503 Service Unavailable",
        details=details_of(body),
        links=[{"href": URL, "text": "Checked URL"}],
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC),
    )


def test_up_resolves_the_same_check():
    body = load("pingdom", "http_up")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.RESOLVE,
        dedup_key="pingdom-12345",
        summary="Checkout API is up",
        severity=Severity.INFO,
        source=URL,
        description="OK",
        details=details_of(body),  # the empty second_probe is left out
        links=[{"href": URL, "text": "Checked URL"}],
        occurred_at=datetime(2026, 11, 20, 9, 35, 3, tzinfo=UTC),
    )


def test_a_failing_transaction_of_low_importance_is_a_warning():
    body = load("pingdom", "transaction_failing")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="pingdom-88210",
        summary="Checkout flow is failing: Step 4 failed",
        severity=Severity.WARNING,
        source="https://shop.example.com/",
        description='Step 4 failed: wait for element "#order-confirmation" timed out after '
        "30000 ms\n\nRunbook: https://wiki.example.com/runbooks/checkout",
        details={
            "check_id": "88210",
            "check_type": "TRANSACTION",
            "previous_state": "SUCCESSFUL",
            "current_state": "FAILING",
            "importance_level": "LOW",
            "check_params": {"full_url": "https://shop.example.com/"},
            "tags": ["checkout"],
            "first_probe": body["first_probe"],
        },
        links=[{"href": "https://shop.example.com/", "text": "Checked URL"}],
        occurred_at=datetime(2026, 11, 20, 10, 20, tzinfo=UTC),
    )


def test_unconfirmed_down_pages_nobody():
    assert parse(load("pingdom", "unconfirmed_down"), {}) == []


def test_up_after_an_unconfirmed_down_is_dropped_too():
    body = {**load("pingdom", "http_up"), "previous_state": "UNCONFIRMED_DOWN"}
    assert parse(body, {}) == []


def test_without_importance_a_down_is_critical_and_the_utc_time_is_read():
    body = load("pingdom", "http_down")
    del body["importance_level"], body["state_changed_timestamp"]
    (event,) = parse(body, {})
    assert (event.severity, event.occurred_at) == (
        Severity.CRITICAL,
        datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"current_state": "DOWN"}, "'check_id' is missing."),
        ({"check_id": 1}, "'current_state' is missing."),
        ({"check_id": 1, "current_state": "BROKEN"}, "'current_state' must be one of"),
        ({"check_id": 1, "current_state": "DOWN", "importance_level": "MEDIUM"},
         "'importance_level' must be HIGH or LOW."),
        ({"check_id": 1, "current_state": "DOWN", "check_params": {"full_url": ["x"]}},
         "'check_params.full_url' must be a string."),
        ({"check_id": 1, "current_state": "DOWN", "check_params": []},
         "'check_params' must be an object."),
    ],
)  # fmt: skip
def test_payloads_that_are_not_pingdom_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_down_then_up_through_http(client, service):
    pingdom = connect(service, "pingdom")
    quiet = post(client, "pingdom", pingdom.key, load("pingdom", "unconfirmed_down"))
    assert (quiet.status_code, quiet.json()["events"]) == (202, 0)
    down = post(client, "pingdom", pingdom.key, load("pingdom", "http_down"))
    assert down.status_code == 202, down.content
    assert down.json()["results"] == [{"dedup_key": "pingdom-12345", "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert incident.title == "Checkout API is down: HTTP Error 503"
    up = post(client, "pingdom", pingdom.key, load("pingdom", "http_up"))
    assert up.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_bad_body_is_a_400_naming_the_field_and_writes_nothing(client, service):
    pingdom = connect(service, "pingdom")
    before = written()
    response = post(client, "pingdom", pingdom.key, {"check_id": 1, "current_state": "BROKEN"})
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == [
        "'current_state' must be one of DOWN, FAILING, UP, SUCCESSFUL, SUCCESS, "
        "UNCONFIRMED_DOWN, UNKNOWN, PAUSED."
    ]
    assert written() == before
