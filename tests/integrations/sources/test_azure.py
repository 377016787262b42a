"""Azure Monitor (common alert schema): each recorded sample gives exactly these events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.sources.azure import parse
from integrations.sources.common import InvalidPayload
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db

SUBSCRIPTION = "/subscriptions/11111111-2222-3333-4444-555555555555"
METRIC_KEY = (
    f"azure-{SUBSCRIPTION}/providers/Microsoft.AlertsManagement/alerts/"
    "b9569717-bc32-442f-add5-83a997729330"
)


def test_a_fired_metric_alert_triggers_with_its_severity():
    body = load("azure", "metric_fired")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=METRIC_KEY,
        summary="checkout-vm-cpu-high on checkout-vm-01",
        severity=Severity.ERROR,
        source="checkout-vm-01",
        description="CPU above 90% for 5 minutes on a checkout VM",
        details={
            "essentials": body["data"]["essentials"],
            "alertContext": body["data"]["alertContext"],
            "customProperties": {
                "team": "checkout",
                "runbook": "https://wiki.example.com/runbooks/vm-cpu",
            },
        },
        links=[],
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, 371321, tzinfo=UTC),
    )


def test_the_resolved_metric_alert_resolves_the_same_key_at_its_resolved_time():
    (event,) = parse(load("azure", "metric_resolved"), {})
    assert (event.action, event.dedup_key, event.occurred_at) == (
        AlertAction.RESOLVE,
        METRIC_KEY,
        datetime(2026, 11, 20, 9, 31, 16, 224631, tzinfo=UTC),
    )


def test_a_log_search_alert_links_to_the_investigation_and_the_query():
    body = load("azure", "log_search_fired")
    (event,) = parse(body, {})
    criteria = body["data"]["alertContext"]["condition"]["allOf"][0]
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=f"azure-{SUBSCRIPTION}/providers/Microsoft.AlertsManagement/alerts/"
        "6f1ad7f3-9d1e-4cb4-8a2c-0b3c6c0f1a55",
        summary="checkout-api-failed-requests on checkout-api",
        severity=Severity.CRITICAL,
        source="checkout-api",
        description="More than 50 failed requests in 5 minutes",
        details=event.details,
        links=[
            {
                "href": body["data"]["essentials"]["investigationLink"],
                "text": "Investigate in Azure",
            },
            {"href": criteria["linkToSearchResultsUI"], "text": "Search results"},
        ],
        occurred_at=datetime(2026, 11, 20, 10, 2, 41, 259113, tzinfo=UTC),
    )
    assert event.details["customProperties"] is None


def test_an_activity_log_alert_is_sev4_info():
    (event,) = parse(load("azure", "activity_log_fired"), {})
    assert (event.action, event.severity, event.summary, event.description) == (
        AlertAction.TRIGGER,
        Severity.INFO,
        "vm-deallocated on checkout-vm-01",
        "",
    )


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("Sev0", Severity.CRITICAL),
        ("Sev1", Severity.ERROR),
        ("Sev2", Severity.WARNING),
        ("Sev3", Severity.INFO),
        ("Sev4", Severity.INFO),
    ],
)
def test_severities(severity, expected):
    body = load("azure", "metric_fired")
    body["data"]["essentials"]["severity"] = severity
    assert parse(body, {})[0].severity == expected


def test_without_configuration_items_the_target_resource_names_the_alert():
    body = load("azure", "metric_fired")
    del body["data"]["essentials"]["configurationItems"]
    assert parse(body, {})[0].summary == "checkout-vm-cpu-high on checkout-vm-01"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"schemaId": "AzureMonitorMetricAlert"}, "'schemaId' must be \"azureMonitorCommon"),
        ({"data": {}}, "'data.essentials' is missing."),
        ({"data": {"essentials": {"severity": "Sev1"}}}, "'data.essentials.alertId' is missing."),
        ({"data": {"essentials": {"alertId": "a", "severity": "High"}}}, "'data.essentials.sev"),
        (
            {"data": {"essentials": {"alertId": "a", "severity": "Sev1"}}},
            "'data.essentials.monitorCondition' must be Fired or Resolved.",
        ),
    ],
)
def test_payloads_that_are_not_common_schema_alerts_are_refused_by_field(change, error):
    body = {**load("azure", "metric_fired"), **change}
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_fired_then_resolved_through_http(client, service):
    azure = connect(service, "azure")
    fired = post(client, "azure", azure.key, load("azure", "metric_fired"))
    assert fired.status_code == 202, fired.content
    assert fired.json()["results"] == [{"dedup_key": METRIC_KEY, "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert incident.title == "checkout-vm-cpu-high on checkout-vm-01"
    resolved = post(client, "azure", azure.key, load("azure", "metric_resolved"))
    assert resolved.json()["results"] == [{"dedup_key": METRIC_KEY, "outcome": "resolved"}]
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_legacy_schema_is_a_400_naming_the_field_and_writes_nothing(client, service):
    azure = connect(service, "azure")
    before = written()
    response = post(client, "azure", azure.key, {"schemaId": "Microsoft.Insights/activityLogs"})
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == [
        "'schemaId' must be \"azureMonitorCommonAlertSchema\" (enable the common alert schema "
        "on the action)."
    ]
    assert written() == before
