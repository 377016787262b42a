"""Alertmanager webhook v4: the parser from recorded payloads, then HTTP end to end."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import Alert, AlertAction, Incident, Severity, Status
from integrations.models import IntegrationKind
from integrations.services import integration_create, integration_set_enabled
from integrations.sources.alertmanager import InvalidPayload, labels_key, parse_webhook
from tests.integrations.conftest import load, written

URL = "/api/v1/integrations/alertmanager/"
GROUP_KEY = '{}/{severity="critical"}:{alertname="HighRequestLatency"}'
EXTERNAL_URL = "http://alertmanager.example.com:9093"
RUNBOOK = {"runbook_url": "https://runbooks.example.com/checkout/latency"}


def post(client, body: Any, key: str | None, path: str = URL, **headers: str):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    if key is not None:
        headers.setdefault("Authorization", f"Bearer {key}")
    return client.post(path, data=data, content_type="application/json", headers=headers)


def labels(instance: str) -> dict[str, str]:
    return {
        "alertname": "HighRequestLatency",
        "instance": instance,
        "job": "checkout-api",
        "severity": "critical",
    }


def assert_error(response, status: int, code: str, details: dict[str, Any] | None = None):
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == code
    assert body["details"] == (details or {})


# --- the parser, from recorded payloads -----------------------------------------------------


def _expected(payload: dict[str, Any], action: AlertAction, times: list[datetime]):
    generator = payload["alerts"][0]["generatorURL"]
    common = {"generatorURL": generator, "groupKey": GROUP_KEY, "externalURL": EXTERNAL_URL}
    first_annotations = {
        "summary": "p99 latency above 2s on checkout-1:8080",
        "description": "p99 request latency has been 2.4s for 5 minutes.",
        **RUNBOOK,
    }
    # Each event stores its own alert with the group's fields, not the whole body.
    group_fields = {k: v for k, v in payload.items() if k != "alerts"}
    return [
        NormalizedEvent(
            action=action,
            dedup_key="a1b2c3d4e5f60718",
            summary="p99 latency above 2s on checkout-1:8080",
            severity=Severity.CRITICAL,
            source="checkout-1:8080",
            description="p99 request latency has been 2.4s for 5 minutes.",
            details={
                "labels": labels("checkout-1:8080"),
                "annotations": first_annotations,
                "receiver": "opsknight",
                **common,
            },
            links=[{"href": generator, "text": "Source"}],
            occurred_at=times[0],
            raw={**group_fields, "alerts": [payload["alerts"][0]]},
        ),
        NormalizedEvent(
            action=action,
            dedup_key="0f1e2d3c4b5a6978",
            summary="HighRequestLatency on checkout-2:8080",
            severity=Severity.CRITICAL,
            source="checkout-2:8080",
            description="",
            details={
                "labels": labels("checkout-2:8080"),
                "annotations": RUNBOOK,
                "receiver": "opsknight",
                **common,
            },
            links=[{"href": generator, "text": "Source"}],
            occurred_at=times[1],
            raw={**group_fields, "alerts": [payload["alerts"][1]]},
        ),
    ]


def test_two_firing_alerts_are_two_trigger_events():
    payload = load("alertmanager", "firing")
    starts = [
        datetime(2025, 6, 3, 8, 14, 30, 123456, tzinfo=UTC),
        datetime(2025, 6, 3, 8, 15, tzinfo=UTC),
    ]
    assert parse_webhook(payload) == _expected(payload, AlertAction.TRIGGER, starts)


def test_their_resolved_follow_up_is_two_resolve_events():
    payload = load("alertmanager", "resolved")
    ends = [
        datetime(2025, 6, 3, 8, 41, 30, 500000, tzinfo=UTC),
        datetime(2025, 6, 3, 8, 42, tzinfo=UTC),
    ]
    assert parse_webhook(payload) == _expected(payload, AlertAction.RESOLVE, ends)


def test_grouped_by_group_key_the_payload_is_one_event():
    payload = load("alertmanager", "firing")
    [event] = parse_webhook(payload, group_by="group_key")
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=GROUP_KEY,
        summary="HighRequestLatency",
        severity=Severity.CRITICAL,
        source="checkout-api",
        description="",
        details={
            "groupKey": GROUP_KEY,
            "receiver": "opsknight",
            "externalURL": EXTERNAL_URL,
            "groupLabels": {"alertname": "HighRequestLatency"},
            "commonLabels": payload["commonLabels"],
            "commonAnnotations": RUNBOOK,
            "alerts": [
                {
                    key: alert[key]
                    for key in ("status", "labels", "annotations", "fingerprint", "generatorURL")
                }
                for alert in payload["alerts"]
            ],
        },
        links=[{"href": EXTERNAL_URL, "text": "Alertmanager"}],
        occurred_at=datetime(2025, 6, 3, 8, 14, 30, 123456, tzinfo=UTC),
    )
    [resolved] = parse_webhook(load("alertmanager", "resolved"), group_by="group_key")
    assert (resolved.action, resolved.dedup_key) == (AlertAction.RESOLVE, GROUP_KEY)


def _one(alert: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "alerts": [{"status": "firing", **alert}]}


def test_without_a_fingerprint_the_key_is_a_hash_of_the_sorted_labels():
    [event] = parse_webhook(_one({"labels": {"b": "2", "a": "1"}}))
    [same] = parse_webhook(_one({"labels": {"a": "1", "b": "2"}}))
    [other] = parse_webhook(_one({"labels": {"a": "1", "b": "3"}}))
    assert event.dedup_key == same.dedup_key == labels_key({"a": "1", "b": "2"})
    assert event.dedup_key != other.dedup_key
    digest = hashlib.sha256(b'[["a","1"],["b","2"]]').hexdigest()[:32]
    assert event.dedup_key == f"labels:{digest}"


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", Severity.CRITICAL),
        ("PAGE", Severity.CRITICAL),
        ("p1", Severity.CRITICAL),
        ("error", Severity.ERROR),
        ("high", Severity.ERROR),
        ("warning", Severity.WARNING),
        ("warn", Severity.WARNING),
        ("medium", Severity.WARNING),
        ("info", Severity.INFO),
        ("low", Severity.INFO),
        ("none", Severity.INFO),
        ("disaster", Severity.WARNING),
        (None, Severity.WARNING),
    ],
)
def test_severity_label(severity, expected):
    alert_labels = {"alertname": "X"} | ({"severity": severity} if severity else {})
    [event] = parse_webhook(_one({"labels": alert_labels}))
    assert event.severity == expected


@pytest.mark.parametrize(
    ("annotations", "alert_labels", "summary"),
    [
        ({"summary": "S", "description": "D"}, {"alertname": "A"}, "S"),
        ({"description": "D"}, {"alertname": "A", "instance": "i:1"}, "D"),
        ({}, {"alertname": "A", "instance": "i:1"}, "A on i:1"),
        ({}, {"alertname": "A"}, "A"),
        ({}, {"job": "j", "env": "prod"}, "env=prod, job=j"),
    ],
)
def test_summary_falls_back_from_annotations_to_labels(annotations, alert_labels, summary):
    [event] = parse_webhook(_one({"labels": alert_labels, "annotations": annotations}))
    assert event.summary == summary


def test_every_problem_is_listed():
    payload = {
        "version": "3",
        "status": "pending",
        "truncatedAlerts": -1,
        "groupLabels": {"n": 1},
        "extra": True,
        "alerts": [
            {"status": "firing", "labels": {"a": "1"}, "startsAt": "2025-06-03", "value": 1},
            {"status": "ok", "annotations": []},
            "nope",
        ],
    }
    with pytest.raises(InvalidPayload) as raised:
        parse_webhook(payload, group_by="group_key")
    assert raised.value.errors == [
        "'extra' is not a known field.",
        "'version' must be \"4\".",
        "'truncatedAlerts' must be a whole number of at least 0.",
        "'status' must be one of firing, resolved.",
        "'groupLabels' must be an object of string values.",
        "'alerts[0].value' is not a known field.",
        "'alerts[0].startsAt' must be an RFC 3339 date-time.",
        "'alerts[1].status' must be one of firing, resolved.",
        "'alerts[1].labels' is missing.",
        "'alerts[1].annotations' must be an object of string values.",
        "'alerts[2]' must be an object.",
        "'groupKey' is required when this integration groups by group key.",
    ]


# --- end to end -----------------------------------------------------------------------------


def test_firing_then_resolved_opens_and_closes_one_incident_per_alert(client, alertmanager):
    response = post(client, load("alertmanager", "firing"), alertmanager.key)
    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "events": 2,
        "results": [
            {"dedup_key": "a1b2c3d4e5f60718", "outcome": "triggered"},
            {"dedup_key": "0f1e2d3c4b5a6978", "outcome": "triggered"},
        ],
    }
    incidents = Incident.objects.order_by("number")
    assert [(i.title, i.severity, i.urgency) for i in incidents] == [
        ("p99 latency above 2s on checkout-1:8080", "critical", "high"),
        ("HighRequestLatency on checkout-2:8080", "critical", "high"),
    ]
    again = post(client, load("alertmanager", "firing"), alertmanager.key).json()
    assert [r["outcome"] for r in again["results"]] == ["deduplicated", "deduplicated"]
    resolved = post(client, load("alertmanager", "resolved"), alertmanager.key).json()
    assert [r["outcome"] for r in resolved["results"]] == ["resolved", "resolved"]
    assert set(Incident.objects.values_list("status", flat=True)) == {Status.RESOLVED}
    assert Alert.objects.count() == 6
    assert Alert.objects.filter(integration_kind="alertmanager").count() == 6


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"alertmanager:{key}".encode()).decode()


@pytest.mark.parametrize("where", ["bearer", "basic", "query", "url"])
def test_the_key_may_come_from_each_place_alertmanager_can_send_it(client, alertmanager, where):
    key = alertmanager.key
    path = {"query": f"{URL}?key={key}", "url": f"{URL}{key}/"}.get(where, URL)
    headers = {
        "bearer": {"Authorization": f"Bearer {key}"},
        "basic": {"Authorization": _basic(key)},
    }
    response = post(client, load("alertmanager", "firing"), None, path, **headers.get(where, {}))
    assert response.status_code == 202
    assert Incident.objects.count() == 2


def test_grouping_by_group_key_makes_the_group_one_incident(client, service):
    grouped = integration_create(
        service=service,
        kind=IntegrationKind.ALERTMANAGER,
        name="Grouped",
        options={"group_by": "group_key"},
    )
    response = post(client, load("alertmanager", "firing"), grouped.key)
    assert response.json() == {
        "status": "success",
        "events": 1,
        "results": [{"dedup_key": GROUP_KEY, "outcome": "triggered"}],
    }
    incident = Incident.objects.get()
    assert (incident.dedup_key, incident.title) == (GROUP_KEY, "HighRequestLatency")
    post(client, load("alertmanager", "resolved"), grouped.key)
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


# --- errors: our shape, nothing written -----------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ([], ["The payload must be a JSON object."]),
        ({"version": "4", "alerts": []}, ["'alerts' must be a non-empty list."]),
        (
            {"version": 4, "alerts": [{"status": "firing", "labels": ["a"]}]},
            ["'version' must be \"4\".", "'alerts[0].labels' must be an object of string values."],
        ),
        (
            {"version": "4", "alerts": [{"labels": {}}]},
            ["'alerts[0].status' must be one of firing, resolved."],
        ),
        (
            {**load("alertmanager", "firing"), "silenceURL": "http://x"},
            ["'silenceURL' is not a known field."],
        ),
    ],
)
def test_an_invalid_payload_is_400_and_writes_nothing(client, alertmanager, payload, errors):
    response = post(client, payload, alertmanager.key)
    assert_error(response, 400, "invalid_payload", {"errors": errors})
    assert written() == (0, 0)


def test_one_bad_alert_refuses_the_whole_payload(client, alertmanager):
    payload = load("alertmanager", "firing")
    payload["alerts"][1]["endsAt"] = "yesterday"
    response = post(client, payload, alertmanager.key)
    assert_error(
        response,
        400,
        "invalid_payload",
        {"errors": ["'alerts[1].endsAt' must be an RFC 3339 date-time."]},
    )
    assert written() == (0, 0)


def test_malformed_json_is_400(client, alertmanager):
    response = post(client, '{"version": "4", "alerts": [', alertmanager.key)
    assert_error(response, 400, "invalid_json")
    assert response.json()["message"].startswith("The body is not valid JSON")
    assert written() == (0, 0)


def test_an_oversize_body_is_413(client, alertmanager, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = post(client, load("alertmanager", "firing"), alertmanager.key)
    assert response.status_code == 413
    # Refused by RequestBodyLimitMiddleware before any view: {"error", "message", "limit_bytes"}.
    assert response.json()["error"] == "request_too_large"
    assert written() == (0, 0)


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "missing_key"),
        ("GenieKey {key}", "missing_key"),
        ("Bearer 0123456789abcdef0123456789abcdef", "unknown_key"),
    ],
)
def test_a_missing_or_unknown_key_is_401(client, alertmanager, authorization, code):
    headers = {"Authorization": authorization.format(key=alertmanager.key)} if authorization else {}
    response = post(client, load("alertmanager", "firing"), None, **headers)
    assert_error(response, 401, code)
    assert written() == (0, 0)


def test_a_disabled_integration_is_403(client, alertmanager):
    integration_set_enabled(integration=alertmanager.integration, enabled=False)
    response = post(client, load("alertmanager", "firing"), alertmanager.key)
    assert_error(response, 403, "disabled")
    assert response.json()["message"] == "This integration is disabled."
    assert written() == (0, 0)


def test_a_key_of_another_kind_is_403(client, opsgenie):
    response = post(client, load("alertmanager", "firing"), opsgenie.key)
    assert_error(response, 403, "wrong_kind")
    assert written() == (0, 0)


def test_over_the_rate_limit_is_429_with_retry_after(client, service):
    limited = integration_create(
        service=service, kind=IntegrationKind.ALERTMANAGER, name="Limited", rate_limit_per_minute=1
    )
    assert post(client, load("alertmanager", "firing"), limited.key).status_code == 202
    response = post(client, load("alertmanager", "resolved"), limited.key)
    retry_after = int(response["Retry-After"])
    assert_error(response, 429, "rate_limited", {"retry_after": retry_after})
    assert 1 <= retry_after <= 60
    assert written() == (2, 2)
    assert set(Incident.objects.values_list("status", flat=True)) == {Status.TRIGGERED}
