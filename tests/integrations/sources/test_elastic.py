"""Elastic / Kibana: bodies rendered from the documented connector template give these events."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.services import integration_create
from integrations.sources.common import InvalidPayload
from integrations.sources.elastic import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, hmac_hex, post

pytestmark = pytest.mark.django_db

RULE_ID = "7f1c3a50-6b2e-11ef-9a4d-3b1f2c5d8e90"
KEY = f"elastic-{RULE_ID}-web-3"
TOKEN = "kibana-connector-token-0c7e2a"
CPU_LINKS = [
    {
        "href": "https://kibana.example.com/app/observability/alerts/"
        "1d2f7e5c-94a1-4b0c-8f6e-2a9b3c4d5e6f",
        "text": "Alert details",
    },
    {
        "href": f"https://kibana.example.com/app/observability/alerts/rules/{RULE_ID}",
        "text": "Rule",
    },
]


def _cpu_details(group, group_name):
    return {
        "rule": {
            "id": RULE_ID,
            "name": "High CPU on web hosts",
            "type": "metrics.alert.threshold",
            "spaceId": "default",
            "tags": ["team:web", "prod"],
        },
        "alert": {
            "id": "web-3",
            "uuid": "1d2f7e5c-94a1-4b0c-8f6e-2a9b3c4d5e6f",
            "actionGroup": group,
            "actionGroupName": group_name,
        },
    }


def test_an_active_alert_triggers_one_incident_per_rule_and_alert():
    (event,) = parse(load("elastic", "metric_threshold_active"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=KEY,
        summary="High CPU on web hosts: web-3",
        severity=Severity.ERROR,
        source="web-3",
        description="system.cpu.total.norm is 96.2% in the last 5 mins for web-3. "
        "Alert when > 90%.",
        details=_cpu_details("metrics.threshold.fired", "Alert"),
        links=CPU_LINKS,
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, 512000, tzinfo=UTC),
    )


def test_the_recovered_action_group_resolves_the_same_key():
    (event,) = parse(load("elastic", "metric_threshold_recovered"), {})
    assert event == NormalizedEvent(
        action=AlertAction.RESOLVE,
        dedup_key=KEY,
        summary="High CPU on web hosts: web-3",
        severity=Severity.ERROR,
        source="web-3",
        description="system.cpu.total.norm is 41.7% in the last 5 mins for web-3. "
        "Alert when > 90%.",
        details=_cpu_details("recovered", "Recovered"),
        links=CPU_LINKS,
        occurred_at=datetime(2026, 11, 20, 9, 41, 27, 204000, tzinfo=UTC),
    )


def test_a_rule_wide_alert_with_literal_status_and_severity():
    (event,) = parse(load("elastic", "es_query_matched"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="elastic-c0a9e7d2-5f31-4e8b-9b6a-7d4c2e1f0a38-query matched",
        summary="Checkout 5xx spike",
        severity=Severity.CRITICAL,
        source="Checkout 5xx spike",
        description="Document count is 1284 in the last 5m in logs-nginx.access-*. Alert when "
        "greater than 500.\n\nrule 'Checkout 5xx spike' is active:\n\n- Value: 1284\n"
        "- Conditions Met: count is greater than 500 over 5m\n"
        "- Timestamp: 2026-11-20T09:14:03.512Z\n"
        "- Link: https://kibana.example.com/s/payments/app/r?l=DISCOVER_APP_LOCATOR",
        details={
            "rule": {
                "id": "c0a9e7d2-5f31-4e8b-9b6a-7d4c2e1f0a38",
                "name": "Checkout 5xx spike",
                "type": ".es-query",
                "spaceId": "payments",
                "tags": ["payments", "sev1"],
            },
            "alert": {
                "id": "query matched",
                "uuid": "8b3e1c7a-2d4f-4a6b-9e0c-5f7a1b3d5e7f",
                "actionGroup": "query matched",
                "actionGroupName": "Query matched",
            },
        },
        links=[
            {
                "href": "https://kibana.example.com/s/payments/app/management/insightsAndAlerting/"
                "triggersActions/rule/c0a9e7d2-5f31-4e8b-9b6a-7d4c2e1f0a38",
                "text": "Rule",
            }
        ],
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, 512000, tzinfo=UTC),
    )


def test_a_literal_recovered_status_resolves():
    body = load("elastic", "es_query_matched") | {"status": "recovered"}
    assert parse(body, {})[0].action == AlertAction.RESOLVE


def test_a_warning_action_group_is_a_warning():
    body = load("elastic", "metric_threshold_active")
    body["alert"]["actionGroup"] = "metrics.threshold.warning"
    assert parse(body, {})[0].severity == Severity.WARNING


def test_without_an_alert_id_the_rule_is_the_incident():
    body = load("elastic", "metric_threshold_active")
    body["alert"]["id"] = ""  # a variable the rule type lacks renders empty
    (event,) = parse(body, {})
    assert (event.dedup_key, event.summary) == (f"elastic-{RULE_ID}", "High CPU on web hosts")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"alert": {"id": "web-3"}}, "'rule' is missing."),
        ({"rule": {"name": "CPU"}}, "'rule.id' is missing."),
        ({"rule": "CPU"}, "'rule' must be an object."),
        ({"rule": {"id": "r"}, "alert": []}, "'alert' must be an object."),
        (
            {"rule": {"id": "r"}, "context": {"reason": {"x": 1}}},
            "'context.reason' must be a string.",
        ),
    ],
)
def test_payloads_not_from_the_template_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert error in refused.value.errors


def test_active_then_recovered_through_http(client, service):
    elastic = connect(service, "elastic")
    active = post(client, "elastic", elastic.key, load("elastic", "metric_threshold_active"))
    assert active.status_code == 202, active.content
    assert active.json()["results"] == [{"dedup_key": KEY, "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert incident.title == "High CPU on web hosts: web-3"
    recovered = post(client, "elastic", elastic.key, load("elastic", "metric_threshold_recovered"))
    assert recovered.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def _secured(service):
    return integration_create(service=service, kind="elastic", name="Kibana", signing_secret=TOKEN)


def test_with_a_secret_the_connector_s_static_token_admits(client, service):
    elastic = _secured(service)
    response = post(
        client,
        "elastic",
        elastic.key,
        load("elastic", "metric_threshold_active"),
        headers={"X-OpsKnight-Token": TOKEN},
    )
    assert response.status_code == 202


def test_with_a_secret_a_generic_signature_admits_too(client, service):
    elastic = _secured(service)
    raw = json.dumps(load("elastic", "metric_threshold_active")).encode()
    headers = {"X-OpsKnight-Signature": "sha256=" + hmac_hex(TOKEN, raw)}
    assert post(client, "elastic", elastic.key, None, raw=raw, headers=headers).status_code == 202


@pytest.mark.parametrize(
    "headers",
    [{"X-OpsKnight-Token": "wrong"}, {}, {"X-OpsKnight-Signature": "sha256=" + "0" * 64}],
    ids=["bad-token", "missing", "bad-signature"],
)
def test_a_bad_or_missing_token_is_a_401_and_writes_nothing(client, service, headers):
    elastic = _secured(service)
    before = written()
    response = post(
        client, "elastic", elastic.key, load("elastic", "metric_threshold_active"), headers=headers
    )
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert written() == before
