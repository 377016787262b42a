"""Sentry: each recorded webhook gives exactly these events; signed trigger then resolve by HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.services import integration_create
from integrations.sources.common import InvalidPayload
from integrations.sources.sentry import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import hmac_hex, post

pytestmark = pytest.mark.django_db

ISSUE_LINK = [
    {"href": "https://sentry.io/organizations/test-org/issues/1170820242/", "text": "Sentry issue"}
]
SECRET = "2b3f5c9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c"


def _issue_details(action, actor, status, substatus, **extra):
    return {
        "action": action,
        "actor": actor,
        "id": "1170820242",
        "shortId": "FRONT-END-9",
        "status": status,
        "substatus": substatus,
        "level": "error",
        "count": "1",
        "project": "front-end",
        **extra,
    }


def test_a_created_issue_triggers_one_incident_per_issue():
    (event,) = parse(load("sentry", "issue_created"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="sentry-1170820242",
        summary="FRONT-END-9: ReferenceError: blooopy is not defined",
        severity=Severity.ERROR,
        source="front-end",
        description="?(runner)",
        details=_issue_details(
            "created",
            {"id": "sentry", "name": "Sentry", "type": "application"},
            "unresolved",
            "escalating",
        ),
        links=ISSUE_LINK,
        occurred_at=datetime(2019, 8, 19, 20, 58, 37, 391000, tzinfo=UTC),
    )


def test_a_resolved_issue_resolves_the_same_key():
    (event,) = parse(load("sentry", "issue_resolved"), {})
    assert (event.action, event.dedup_key) == (AlertAction.RESOLVE, "sentry-1170820242")
    assert event.details == _issue_details(
        "resolved", {"id": 1, "name": "Meredith Heller", "type": "user"}, "resolved", None
    )
    assert event.occurred_at is None


def test_an_assigned_issue_acknowledges_and_names_the_assignee():
    (event,) = parse(load("sentry", "issue_assigned"), {})
    assert (event.action, event.dedup_key) == (AlertAction.ACKNOWLEDGE, "sentry-1170820242")
    assert event.details["assignedTo"] == "Meredith Heller"


def test_an_archived_issue_acknowledges():
    (event,) = parse(load("sentry", "issue_archived"), {})
    assert (event.action, event.dedup_key) == (AlertAction.ACKNOWLEDGE, "sentry-1170820242")
    assert event.details["substatus"] == "archived_until_escalating"


def test_the_older_ignored_action_acknowledges_too():
    body = load("sentry", "issue_archived") | {"action": "ignored"}
    (event,) = parse(body, {})
    assert event.action == AlertAction.ACKNOWLEDGE


def test_an_issue_alert_triggers_on_the_issue_key_with_the_rule_named():
    (event,) = parse(load("sentry", "event_alert"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="sentry-1117540176",
        summary="ReferenceError: heck is not defined",
        severity=Severity.ERROR,
        source="front-end",
        description="Alert rule: Very Important Alert Rule!\n?(<anonymous>)",
        details={
            "resource": "event_alert",
            "triggered_rule": "Very Important Alert Rule!",
            "issue_id": "1117540176",
            "event_id": "e4874d664c3540c1a32eab185f12c5ab",
            "level": "error",
            "platform": "javascript",
            "release": None,
            "tags": load("sentry", "event_alert")["data"]["event"]["tags"],
        },
        links=[
            {
                "href": "https://sentry.io/organizations/test-org/issues/1117540176/events/"
                "e4874d664c3540c1a32eab185f12c5ab/",
                "text": "Sentry event",
            }
        ],
        occurred_at=datetime(2019, 8, 19, 21, 6, 17, 677000, tzinfo=UTC),
    )


def test_an_error_webhook_reads_like_an_issue_alert():
    body = load("sentry", "event_alert")
    body = {"action": "created", "data": {"error": body["data"]["event"]}}
    (event,) = parse(body, {})
    assert (event.action, event.dedup_key) == (AlertAction.TRIGGER, "sentry-1117540176")
    assert event.details["resource"] == "error"


def test_a_critical_metric_alert_triggers_critical():
    (event,) = parse(load("sentry", "metric_alert_critical"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="sentry-metric-alert-4",
        summary="Critical: Too many errors",
        severity=Severity.CRITICAL,
        source="sentry",
        description="1000 events in the last 10 minutes\nFilter: level:error",
        details={
            "action": "critical",
            "metric_alert": {"id": "4", "identifier": "1", "title": "Sacred Marmot", "status": 1},
            "alert_rule": {
                "id": "7",
                "name": "Too many errors",
                "aggregate": "count()",
                "query": "level:error",
                "projects": ["bar"],
            },
        },
        links=[{"href": "https://sentry.io/organizations/baz/alerts/1/", "text": "Sentry alert"}],
        occurred_at=datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC),
    )


def test_a_warning_metric_alert_triggers_a_warning():
    body = load("sentry", "metric_alert_critical") | {"action": "warning"}
    (event,) = parse(body, {})
    assert (event.action, event.severity) == (AlertAction.TRIGGER, Severity.WARNING)


def test_a_resolved_metric_alert_resolves_the_same_key():
    (event,) = parse(load("sentry", "metric_alert_resolved"), {})
    assert (event.action, event.dedup_key) == (AlertAction.RESOLVE, "sentry-metric-alert-4")
    assert event.summary == "Resolved: Too many errors"
    assert event.occurred_at == datetime(2020, 9, 13, 12, 46, 40, tzinfo=UTC)


def test_the_legacy_plugin_triggers_on_the_issue_key_fatal_is_critical():
    (event,) = parse(load("sentry", "legacy_plugin"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="sentry-27379932",
        summary="DatabaseError: connection pool exhausted",
        severity=Severity.CRITICAL,
        source="checkout-api",
        description="checkout.views in create_order",
        details={
            "resource": "legacy_webhook",
            "project_name": "Checkout API",
            "level": "fatal",
            "triggering_rules": ["Page on fatal errors"],
            "event_id": "d4ad4f2c0b7243d1a4c5e0f5ad2c1b9e",
            "tags": [["level", "fatal"], ["environment", "production"], ["server_name", "web-3"]],
        },
        links=[
            {
                "href": "https://acme.sentry.io/issues/27379932/?referrer=webhooks_plugin",
                "text": "Sentry issue",
            }
        ],
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, 512000, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("level", "severity"),
    [
        ("fatal", Severity.CRITICAL),
        ("error", Severity.ERROR),
        ("warning", Severity.WARNING),
        ("info", Severity.INFO),
        ("debug", Severity.INFO),
        ("", Severity.ERROR),
    ],
)
def test_levels_map_to_severities(level, severity):
    body = load("sentry", "legacy_plugin") | {"level": level}
    assert parse(body, {})[0].severity == severity


def test_an_installation_webhook_is_accepted_without_events():
    assert parse(load("sentry", "installation"), {}) == []


def test_an_issue_action_sentry_adds_later_is_accepted_without_events():
    body = load("sentry", "issue_created") | {"action": "merged"}
    assert parse(body, {}) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"action": "created", "data": {"issue": {"title": "x"}}}, "'data.issue.id' is missing."),
        ({"data": {"issue": {"id": "1"}}}, "'action' is missing."),
        ({"action": "created", "data": []}, "'data' must be an object."),
        ({"action": "created", "data": {"issue": "1"}}, "'data.issue' must be an object."),
        ({"action": "triggered", "data": {"event": {}}}, "'data.event.issue_id' is missing."),
        (
            {"action": "open", "data": {"metric_alert": {"id": "4"}}},
            "'action' must be critical, warning or resolved for a metric alert.",
        ),
        ({"message": "hello"}, "'id' is missing."),
        ({"id": "1", "project": "p", "event": []}, "'event' must be an object."),
    ],
)
def test_payloads_that_are_not_sentry_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert error in refused.value.errors


def _signed(body: dict) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {
        "Sentry-Hook-Resource": "issue",
        "Sentry-Hook-Signature": hmac_hex(SECRET, raw),
        "Sentry-Hook-Timestamp": "1566248777",
    }


def test_a_signed_issue_triggers_then_its_resolve_resolves_through_http(client, service):
    sentry = integration_create(
        service=service, kind="sentry", name="Sentry", signing_secret=SECRET
    )
    raw, headers = _signed(load("sentry", "issue_created"))
    created = post(client, "sentry", sentry.key, None, raw=raw, headers=headers)
    assert created.status_code == 202, created.content
    assert created.json()["results"] == [{"dedup_key": "sentry-1170820242", "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert incident.title == "FRONT-END-9: ReferenceError: blooopy is not defined"
    assert incident.severity == Severity.ERROR
    raw, headers = _signed(load("sentry", "issue_resolved"))
    resolved = post(client, "sentry", sentry.key, None, raw=raw, headers=headers)
    assert resolved.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


@pytest.mark.parametrize(
    "headers",
    [
        {"Sentry-Hook-Signature": "0" * 64},
        {},
        # The generic scheme does not stand in for Sentry's own.
        {"X-OpsKnight-Signature": "sha256=<computed below>"},
    ],
    ids=["bad", "missing", "generic"],
)
def test_a_bad_or_missing_signature_is_a_401_and_writes_nothing(client, service, headers):
    sentry = integration_create(
        service=service, kind="sentry", name="Sentry", signing_secret=SECRET
    )
    raw = json.dumps(load("sentry", "issue_created")).encode()
    if "X-OpsKnight-Signature" in headers:
        headers = {"X-OpsKnight-Signature": "sha256=" + hmac_hex(SECRET, raw)}
    before = written()
    response = post(client, "sentry", sentry.key, None, raw=raw, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert written() == before


def test_a_bad_body_is_a_400_naming_the_field_and_writes_nothing(client, service):
    sentry = integration_create(service=service, kind="sentry", name="Sentry")
    before = written()
    response = post(client, "sentry", sentry.key, {"action": "created", "data": {"issue": {}}})
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == ["'data.issue.id' is missing."]
    assert written() == before
