"""AppDynamics (the HTTP request template in the module docstring): each recorded event gives
exactly these events; a health rule violation opened then closed through HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.sources.appdynamics import parse
from integrations.sources.common import InvalidPayload, stable_key
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db

SUMMARY = (
    "AppDynamics has detected a problem with Business Transaction /checkout. Business "
    "Transaction Health started violating and is now critical."
)


def test_a_violation_started_critical_triggers_one_incident_per_violation():
    body = load("appdynamics", "violation_open_critical")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="appdynamics-70646",
        summary=SUMMARY,
        severity=Severity.CRITICAL,
        source="checkout / checkout-api / checkout-api-01",
        description="Average Response Time (ms) is > 2000 : 3412",
        details={
            "event_type": "POLICY_OPEN_CRITICAL",
            "event_id": "33021165",
            "name": "Health Rule Violation Started - Critical",
            "time": "Fri Nov 20 09:14:03 UTC 2026",
            "summary": body["summary"],
            "message": "Average Response Time (ms) is > 2000 : 3412",
            "severity": "ERROR",
            "link": body["event_deep_link"],
            "incident": "70646",
            "health_rule": "Business Transaction Health",
            "policy": "Checkout critical",
            "app": "checkout",
            "tier": "checkout-api",
            "node": "checkout-api-01",
        },
        links=[{"href": body["event_deep_link"], "text": "AppDynamics event"}],
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC),
    )


def test_the_violation_ended_resolves_the_same_incident():
    (event,) = parse(load("appdynamics", "violation_closed_critical"), {})
    assert (event.action, event.dedup_key, event.occurred_at) == (
        AlertAction.RESOLVE,
        "appdynamics-70646",
        datetime(2026, 11, 20, 9, 37, 41, tzinfo=UTC),
    )


def test_an_event_outside_a_violation_keys_on_where_it_happened():
    (event,) = parse(load("appdynamics", "app_crash"), {})
    assert (event.action, event.dedup_key, event.severity, event.summary) == (
        AlertAction.TRIGGER,
        # the unresolved ${latestEvent.incident.id} and ${latestEvent.healthRule.name} are absent
        stable_key("appdynamics", "checkout", "checkout-api", "checkout-api-02", ""),
        Severity.ERROR,
        "Application Server process crashed on node checkout-api-02",
    )
    assert "incident" not in event.details


def test_the_grafana_oncall_template_is_read_too():
    (event,) = parse(load("appdynamics", "oncall_template_open_warning"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=stable_key("appdynamics", "checkout", "", "checkout-api-01", ""),
        summary="AppDynamics has detected a problem with Node checkout-api-01. JVM Heap "
        "utilization is too high started violating and is now warning.",
        severity=Severity.WARNING,
        source="checkout / checkout-api-01",
        description="Heap used % is > 75 : 81",
        details=event.details,
        links=[
            {
                "href": "https://shop.saas.appdynamics.com/#location=APP_INCIDENT_DETAIL_MODAL"
                "&incident=70651",
                "text": "AppDynamics event",
            }
        ],
        occurred_at=datetime(2026, 11, 20, 9, 20, 15, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("event_type", "severity", "action", "expected"),
    [
        ("POLICY_CONTINUES_CRITICAL", "ERROR", AlertAction.TRIGGER, Severity.CRITICAL),
        ("POLICY_UPGRADED", "ERROR", AlertAction.TRIGGER, Severity.CRITICAL),
        ("POLICY_DOWNGRADED", "WARN", AlertAction.TRIGGER, Severity.WARNING),
        ("POLICY_CANCELED_WARNING", "INFO", AlertAction.RESOLVE, Severity.WARNING),
        ("POLICY_CLOSE_WARNING", "INFO", AlertAction.RESOLVE, Severity.WARNING),
        ("CUSTOM", "INFO", AlertAction.TRIGGER, Severity.INFO),
        ("APPLICATION_ERROR", "ERROR", AlertAction.TRIGGER, Severity.ERROR),
    ],
)
def test_event_types(event_type, severity, action, expected):
    body = {
        **load("appdynamics", "violation_open_critical"),
        "event_type": event_type,
        "severity": severity,
    }
    (event,) = parse(body, {})
    assert (event.action, event.severity) == (action, expected)


def test_an_iso_event_time_is_read_and_a_local_one_is_not_trusted():
    body = load("appdynamics", "violation_open_critical")
    body["event_time"] = "2026-11-20T09:14:03Z"
    assert parse(body, {})[0].occurred_at == datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC)
    body["event_time"] = "Fri Nov 20 10:14:03 CET 2026"
    assert parse(body, {})[0].occurred_at is None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"incident_id": "1"}, "'event_type' is missing (${latestEvent.eventType})."),
        ({"event_type": "${latestEvent.eventType}"}, "'event_type' is missing"),
        ({"event_type": "POLICY_OPEN_CRITICAL"}, "'incident_id' is missing"),
        ({"event_type": "POLICY_OPEN_CRITICAL", "incident_id": ["1"]}, "'incident_id' must be"),
    ],
)
def test_payloads_that_are_not_appdynamics_events_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_violation_opened_then_closed_through_http(client, service):
    appdynamics = connect(service, "appdynamics")
    opened = post(
        client, "appdynamics", appdynamics.key, load("appdynamics", "violation_open_critical")
    )
    assert opened.status_code == 202, opened.content
    assert opened.json()["results"] == [{"dedup_key": "appdynamics-70646", "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert incident.title == SUMMARY
    closed = post(
        client, "appdynamics", appdynamics.key, load("appdynamics", "violation_closed_critical")
    )
    assert closed.json()["results"] == [{"dedup_key": "appdynamics-70646", "outcome": "resolved"}]
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_bad_body_is_a_400_naming_the_field_and_writes_nothing(client, service):
    appdynamics = connect(service, "appdynamics")
    before = written()
    response = post(client, "appdynamics", appdynamics.key, {"event_type": "POLICY_OPEN_WARNING"})
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == [
        "'incident_id' is missing (${latestEvent.incident.id})."
    ]
    assert written() == before
