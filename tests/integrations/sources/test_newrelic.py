"""New Relic: workflow issues and legacy channel incidents each give exactly these events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.sources.common import InvalidPayload
from integrations.sources.newrelic import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db

ISSUE_KEY = "newrelic-0ea2df1c-adab-45d2-aae0-042b609d2322"


def test_an_activated_issue_triggers_with_its_priority():
    body = load("newrelic", "issue_activated")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=ISSUE_KEY,
        summary="checkout-api query result is > 5.0 for 5 minutes on 'Checkout error rate'",
        severity=Severity.CRITICAL,
        source="checkout-api",
        description="Policies: Checkout golden signals\nConditions: Checkout error rate",
        details={
            "priority": "CRITICAL",
            "state": "ACTIVATED",
            "trigger": "STATE_CHANGE",
            "totalIncidents": 1,
            "isCorrelated": False,
            "sources": ["newrelic"],
            "alertPolicyNames": ["Checkout golden signals"],
            "alertConditionNames": ["Checkout error rate"],
            "impactedEntities": ["checkout-api"],
            "workflowName": "Checkout on-call",
        },
        links=[{"href": body["issueUrl"], "text": "New Relic issue"}],
        occurred_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
    )


def test_an_acknowledged_issue_acknowledges_the_same_key():
    (event,) = parse(load("newrelic", "issue_acknowledged"), {})
    assert (event.action, event.dedup_key, event.occurred_at) == (
        AlertAction.ACKNOWLEDGE,
        ISSUE_KEY,
        datetime(2026, 11, 20, 9, 5, tzinfo=UTC),
    )


def test_a_closed_issue_resolves_the_same_key():
    (event,) = parse(load("newrelic", "issue_closed"), {})
    assert (event.action, event.dedup_key, event.occurred_at) == (
        AlertAction.RESOLVE,
        ISSUE_KEY,
        datetime(2026, 11, 20, 9, 23, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("priority", "severity"),
    [
        ("CRITICAL", Severity.CRITICAL),
        ("HIGH", Severity.ERROR),
        ("MEDIUM", Severity.WARNING),
        ("LOW", Severity.INFO),
        (None, Severity.WARNING),
    ],
)
def test_priorities(priority, severity):
    body = {**load("newrelic", "issue_activated"), "priority": priority}
    assert parse(body, {})[0].severity == severity


def test_a_custom_template_with_issue_id_and_accumulations_is_read_too():
    body = {
        "issueId": "9f0c4b1e-0000-4000-8000-000000000001",
        "state": "CREATED",
        "priority": "HIGH",
        "accumulations": {"policyName": ["Checkout"], "conditionName": ["Latency p99"]},
    }
    (event,) = parse(body, {})
    assert (event.action, event.dedup_key, event.summary, event.description) == (
        AlertAction.TRIGGER,
        "newrelic-9f0c4b1e-0000-4000-8000-000000000001",
        "Latency p99",
        "Policies: Checkout\nConditions: Latency p99",
    )


def test_a_legacy_open_incident_triggers():
    body = load("newrelic", "legacy_open")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="newrelic-81737143",
        summary="Apdex score < 0.7 for at least 5 minutes on 'Checkout API'",
        severity=Severity.CRITICAL,
        source="Checkout API",
        description="Checkout APM: Checkout Apdex",
        details={
            "account_id": 2941966,
            "account_name": "Example Shop",
            "policy_name": "Checkout APM",
            "condition_name": "Checkout Apdex",
            "condition_id": 23807551,
            "severity": "CRITICAL",
            "current_state": "open",
            "event_type": "INCIDENT",
            "targets": body["targets"],
        },
        links=[
            {
                "href": "https://alerts.newrelic.com/accounts/2941966/incidents/81737143",
                "text": "New Relic incident",
            },
            {"href": body["violation_chart_url"], "text": "Violation chart"},
            {"href": "https://wiki.example.com/runbooks/checkout-apdex", "text": "Runbook"},
        ],
        occurred_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
    )


def test_a_legacy_closed_incident_resolves_the_same_key():
    (event,) = parse(load("newrelic", "legacy_closed"), {})
    assert (event.action, event.dedup_key) == (AlertAction.RESOLVE, "newrelic-81737143")


def test_a_legacy_acknowledgement_acknowledges():
    body = {**load("newrelic", "legacy_open"), "current_state": "acknowledged"}
    assert parse(body, {})[0].action == AlertAction.ACKNOWLEDGE


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"state": "ACTIVATED"}, "'id' is missing (the workflow's issueId)."),
        ({"id": "x", "state": "FIRING"}, "'state' must be one of CREATED, ACTIVATED,"),
        ({"id": "x"}, "'state' must be one of"),
        ({"incident_id": 1, "current_state": "firing"}, "'current_state' must be one of open,"),
        ({"current_state": "open"}, "'incident_id' is missing."),
        ({"id": "x", "state": "CLOSED", "impactedEntities": "a"}, "'impactedEntities' must be"),
    ],
)
def test_payloads_that_are_not_new_relic_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_activated_acknowledged_closed_through_http(client, service):
    newrelic = connect(service, "newrelic")
    outcomes = []
    for name in ("issue_activated", "issue_acknowledged", "issue_closed"):
        response = post(client, "newrelic", newrelic.key, load("newrelic", name))
        assert response.status_code == 202, response.content
        outcomes.append(response.json()["results"][0])
    assert outcomes == [
        {"dedup_key": ISSUE_KEY, "outcome": "triggered"},
        {"dedup_key": ISSUE_KEY, "outcome": "acknowledged"},
        {"dedup_key": ISSUE_KEY, "outcome": "resolved"},
    ]
    incident = Incident.objects.get()
    assert incident.title == load("newrelic", "issue_activated")["title"]
    assert incident.status == Status.RESOLVED


def test_a_bad_body_is_a_400_naming_the_field_and_writes_nothing(client, service):
    newrelic = connect(service, "newrelic")
    before = written()
    response = post(client, "newrelic", newrelic.key, {"id": "x", "state": "FIRING"})
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == [
        "'state' must be one of CREATED, ACTIVATED, ACKNOWLEDGED, CLOSED."
    ]
    assert written() == before
