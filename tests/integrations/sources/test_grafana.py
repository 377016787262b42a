"""Grafana Alerting: each recorded fixture gives exactly these events; signatures through HTTP."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.services import integration_create
from integrations.sources.common import InvalidPayload
from integrations.sources.grafana import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, hmac_hex, post

pytestmark = pytest.mark.django_db

CEST = timezone(timedelta(hours=2))
SECRET = "grafana-hmac-secret"
RUNBOOK = {"href": "https://myrunbook.com/runbook/1234", "text": "Runbook"}


def test_firing_gives_one_event_per_alert_keyed_by_fingerprint():
    body = load("grafana", "firing")
    memory, cpu = parse(body, {})
    assert memory == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="grafana-c6eadffa33fcdf37",
        summary="This alert was triggered for zone us-1",
        severity=Severity.CRITICAL,
        source="grafana",
        description="The system has high memory usage",
        details={
            "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "annotations": body["alerts"][0]["annotations"],
            "values": {"B": 44.23943737541908, "C": 1},
            "fingerprint": "c6eadffa33fcdf37",
            "receiver": "OpsKnight",
            "groupKey": "{}:{}",
            "orgId": 1,
            "externalURL": "https://play.grafana.org/",
        },
        links=[
            {"href": "https://play.grafana.org/alerting/1afz29v7z/edit", "text": "Alert rule"},
            {"href": body["alerts"][0]["silenceURL"], "text": "Silence"},
            RUNBOOK,
        ],
        occurred_at=datetime(2021, 10, 12, 9, 51, 3, 157076, tzinfo=CEST),
        raw={**{k: v for k, v in body.items() if k != "alerts"}, "alerts": [body["alerts"][0]]},
    )
    assert (cpu.dedup_key, cpu.summary) == (
        "grafana-bc97ff14869b13e3",
        "This alert was triggered for zone eu-1",
    )
    assert cpu.links == [
        {"href": "https://play.grafana.org/alerting/d1rdpdv7k/edit", "text": "Alert rule"},
        {"href": "https://play.grafana.org/d/3BKfwq5Vz?orgId=1", "text": "Dashboard"},
        {"href": "https://play.grafana.org/d/3BKfwq5Vz?orgId=1&viewPanel=2", "text": "Panel"},
        {"href": body["alerts"][1]["silenceURL"], "text": "Silence"},
        RUNBOOK,
    ]
    assert cpu.images == [
        {
            "src": "https://play.grafana.org/public/img/attachments/3BKfwq5Vz-2.png",
            "alt": "This alert was triggered for zone eu-1",
        }
    ]
    assert cpu.raw["alerts"] == [body["alerts"][1]]


def test_resolved_resolves_the_same_fingerprint_at_its_end():
    (event,) = parse(load("grafana", "resolved"), {})
    assert (event.action, event.dedup_key) == (AlertAction.RESOLVE, "grafana-c6eadffa33fcdf37")
    assert event.occurred_at == datetime(2021, 10, 12, 10, 6, 3, 157076, tzinfo=CEST)


def test_grafana_9_value_string_and_severity_label_without_fingerprint():
    body = load("grafana", "grafana9_value_string")
    (event,) = parse(body, {})
    labels = body["alerts"][0]["labels"]
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=event.dedup_key,
        summary="Disk almost full on db-1:9100",
        severity=Severity.WARNING,
        source="db-1:9100",
        description="",
        details={
            "labels": labels,
            "annotations": {},
            "valueString": body["alerts"][0]["valueString"],
            "receiver": "OpsKnight",
            "groupKey": '{}/{}:{alertname="Disk almost full"}',
            "orgId": 1,
            "externalURL": "https://grafana.example.com/",
        },
        links=[
            {"href": body["alerts"][0]["generatorURL"], "text": "Alert rule"},
            {"href": body["alerts"][0]["silenceURL"], "text": "Silence"},
        ],
        occurred_at=datetime(2022, 11, 2, 14, 20, tzinfo=UTC),
        raw=event.raw,
    )
    # No fingerprint: a stable hash of the labels, whatever their order.
    assert event.dedup_key.startswith("grafana-")
    reordered = {
        **body,
        "alerts": [{**body["alerts"][0], "labels": dict(reversed(labels.items()))}],
    }
    assert parse(reordered, {})[0].dedup_key == event.dedup_key


def test_the_contact_point_test_button_pages_like_any_alert():
    (event,) = parse(load("grafana", "test_notification"), {})
    assert (event.action, event.dedup_key, event.summary, event.source) == (
        AlertAction.TRIGGER,
        "grafana-57c6d9296de2ad39",
        "Notification test",
        "Grafana",
    )


def test_legacy_alerting_triggers_per_rule():
    body = load("grafana", "legacy_alerting")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="grafana-rule-1",
        summary="Panel Title alert",
        severity=Severity.CRITICAL,
        source="grafana",
        description="Notification Message",
        details={
            "ruleId": 1,
            "ruleName": "Panel Title alert",
            "state": "alerting",
            "title": "[Alerting] Panel Title alert",
            "dashboardId": 1,
            "panelId": 2,
            "orgId": 1,
            "evalMatches": [{"value": 1, "metric": "Count", "tags": {}}],
            "tags": {"tag name": "tag value"},
        },
        links=[{"href": body["ruleUrl"], "text": "Alert rule"}],
        images=[
            {
                "src": "https://grafana.com/assets/img/blog/mixed_styles.png",
                "alt": "Panel Title alert",
            }
        ],
    )


def test_legacy_ok_resolves_the_rule():
    (event,) = parse(load("grafana", "legacy_ok"), {})
    assert (event.action, event.dedup_key) == (AlertAction.RESOLVE, "grafana-rule-1")


def test_legacy_no_data_is_a_warning_whatever_the_rule_tags():
    (event,) = parse(load("grafana", "legacy_no_data"), {})
    assert (event.action, event.dedup_key, event.summary, event.severity) == (
        AlertAction.TRIGGER,
        "grafana-rule-12",
        "Replication lag (no data)",
        Severity.WARNING,
    )


def test_legacy_test_notification_is_rule_zero():
    (event,) = parse(load("grafana", "legacy_test"), {})
    assert (event.action, event.dedup_key, event.summary) == (
        AlertAction.TRIGGER,
        "grafana-rule-0",
        "Test notification",
    )


@pytest.mark.parametrize("state", ["paused", "pending"])
def test_legacy_paused_and_pending_change_nothing(state):
    assert parse({**load("grafana", "legacy_alerting"), "state": state}, {}) == []


def test_legacy_alerting_takes_severity_from_rule_tags():
    body = {**load("grafana", "legacy_alerting"), "tags": {"severity": "warning"}}
    assert parse(body, {})[0].severity == Severity.WARNING


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"something": "else"}, "'alerts' is missing."),
        ({"alerts": []}, "'alerts' must not be empty."),
        ({"alerts": {}}, "'alerts' must be a list."),
        ({"alerts": ["x"]}, "'alerts.0' must be an object."),
        ({"alerts": [{"labels": {}}]}, "'alerts.0.status' is missing."),
        ({"alerts": [{"status": "firing"}]}, "'alerts.0.labels' is missing."),
        ({"alerts": [{"status": "pending", "labels": {}}]}, "'alerts.0.status' must be one of"),
        ({"alerts": [{"status": "firing", "labels": []}]}, "'alerts.0.labels' must be an object."),
        ({"state": "alerting"}, "'ruleId' is missing."),
        ({"state": "broken", "ruleId": 1}, "'state' must be one of alerting, ok"),
        ({"ruleId": 1}, "'state' is missing."),
        ({"state": "ok", "ruleId": [1]}, "'ruleId' must be a string."),
    ],
)
def test_payloads_that_are_not_grafana_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_firing_then_resolved_through_http(client, service):
    grafana = connect(service, "grafana")
    firing = post(client, "grafana", grafana.key, load("grafana", "firing"))
    assert firing.status_code == 202, firing.content
    assert firing.json()["results"] == [
        {"dedup_key": "grafana-c6eadffa33fcdf37", "outcome": "triggered"},
        {"dedup_key": "grafana-bc97ff14869b13e3", "outcome": "triggered"},
    ]
    resolved = post(client, "grafana", grafana.key, load("grafana", "resolved"))
    assert resolved.json()["results"] == [
        {"dedup_key": "grafana-c6eadffa33fcdf37", "outcome": "resolved"}
    ]
    statuses = dict(Incident.objects.values_list("title", "status"))
    assert statuses == {
        "This alert was triggered for zone us-1": Status.RESOLVED,
        "This alert was triggered for zone eu-1": Status.TRIGGERED,
    }


def _signed(secret: str, raw: bytes, stamp: str = "") -> str:
    return hmac_hex(secret, f"{stamp}:".encode() + raw if stamp else raw)


@pytest.fixture
def signed(service):
    return integration_create(
        service=service, kind="grafana", name="Grafana", signing_secret=SECRET
    )


RAW = json.dumps(load("grafana", "legacy_alerting")).encode()


@pytest.mark.parametrize(
    "header", ["X-Grafana-Alert-Signature", "X-Grafana-Alerting-Signature", "X-Grafana-Signature"]
)
def test_a_signed_body_is_accepted(client, signed, header):
    headers = {header: _signed(SECRET, RAW)}
    response = post(client, "grafana", signed.key, None, raw=RAW, headers=headers)
    assert response.status_code == 202, response.content
    assert Incident.objects.get().dedup_key == "grafana-rule-1"


@pytest.mark.parametrize(
    "stamp_header",
    ["X-Grafana-Alert-Timestamp", "X-Grafana-Alerting-Timestamp", "X-Grafana-Signature-Timestamp"],
)
def test_a_timestamped_signature_covers_timestamp_colon_body(client, signed, stamp_header):
    stamp = str(int(time.time()))
    headers = {"X-Grafana-Alert-Signature": _signed(SECRET, RAW, stamp), stamp_header: stamp}
    response = post(client, "grafana", signed.key, None, raw=RAW, headers=headers)
    assert response.status_code == 202, response.content


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"X-Grafana-Alert-Signature": _signed("wrong", RAW)}, id="wrong-secret"),
        pytest.param({"X-Grafana-Alert-Signature": "not hex ünicode"}, id="garbage"),
        pytest.param(
            {
                "X-Grafana-Alert-Signature": _signed(SECRET, RAW, "1000000000"),
                "X-Grafana-Alert-Timestamp": "1000000000",
            },
            id="stale-timestamp",
        ),
        pytest.param(
            {
                "X-Grafana-Alert-Signature": _signed(SECRET, RAW),
                "X-Grafana-Alert-Timestamp": str(int(time.time())),
            },
            id="timestamp-not-signed",
        ),
        pytest.param(
            {
                "X-Grafana-Alert-Signature": _signed(SECRET, RAW, "soon"),
                "X-Grafana-Alert-Timestamp": "soon",
            },
            id="timestamp-not-a-number",
        ),
    ],
)
def test_a_bad_or_missing_signature_is_refused_and_writes_nothing(client, signed, headers):
    before = written()
    response = post(client, "grafana", signed.key, None, raw=RAW, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert written() == before


def test_a_bad_body_is_a_400_naming_the_field_and_writes_nothing(client, service):
    grafana = connect(service, "grafana")
    before = written()
    response = post(client, "grafana", grafana.key, {"alerts": [{"status": "firing"}]})
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == ["'alerts.0.labels' is missing."]
    assert written() == before
