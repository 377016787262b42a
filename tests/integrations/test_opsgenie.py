"""Opsgenie Alert API v2: the parser from recorded payloads, then HTTP end to end to incidents."""

from __future__ import annotations

import json
import uuid
from datetime import UTC
from typing import Any

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import (
    Alert,
    AlertAction,
    Incident,
    IncidentEvent,
    Note,
    Severity,
    Status,
    Urgency,
)
from integrations.models import IntegrationKind
from integrations.services import integration_create, integration_set_enabled
from integrations.sources.opsgenie import InvalidAlert, parse_create
from tests.integrations.conftest import load, written

ALIAS = "checkout-api-error-rate-eu-west-1"


def post(client, path: str, body: Any, key: str | None, **headers: str):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    if key is not None:
        headers.setdefault("Authorization", f"GenieKey {key}")
    return client.post(path, data=data, content_type="application/json", headers=headers)


def status_of(client, request_id: str, key: str) -> dict[str, Any]:
    response = client.get(
        f"/v2/alerts/requests/{request_id}", headers={"Authorization": f"GenieKey {key}"}
    )
    assert response.status_code == 200
    return response.json()["data"]


def assert_error(response, status: int, message: str, errors: dict[str, str] | None = None):
    body = response.json()
    assert response.status_code == status
    assert set(body) == {"message", "took", "requestId"} | ({"errors"} if errors else set())
    assert body["message"] == message
    assert body.get("errors") == errors
    assert response["X-Request-ID"] == body["requestId"] == str(uuid.UUID(body["requestId"]))


# --- the parser, from recorded payloads -----------------------------------------------------


def test_create_with_every_field_is_one_trigger_event():
    body = load("opsgenie", "create_all_fields")
    assert parse_create(body, default_source="203.0.113.9") == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=ALIAS,
        summary="Checkout API error rate above 5% in eu-west-1",
        severity=Severity.CRITICAL,
        source="datadog-monitor-118842",
        description="The 5xx ratio of the checkout API has been above 5% for 10 minutes.\n"
        "Dashboard: https://grafana.example.com/d/checkout",
        details={
            "tags": ["checkout", "eu-west-1", "Critical"],
            "actions": ["Restart", "Rollback"],
            "responders": body["responders"],
            "visibleTo": [
                {"name": "Payments", "type": "team"},
                {"username": "cto@example.com", "type": "user"},
            ],
            "details": {"region": "eu-west-1", "error_rate": "7.3%", "deploy": "v2.14.1"},
            "entity": "checkout-api",
            "user": "monitoring@example.com",
            "note": "Started right after the 08:00 deploy.",
        },
        urgency=Urgency.HIGH,
        priority="P1",
    )
    assert len(body["responders"]) == 6


@pytest.mark.parametrize(
    ("priority", "severity", "urgency"),
    [
        (None, Severity.WARNING, Urgency.MEDIUM),
        ("P1", Severity.CRITICAL, Urgency.HIGH),
        ("P2", Severity.ERROR, Urgency.HIGH),
        ("P3", Severity.WARNING, Urgency.MEDIUM),
        ("P4", Severity.INFO, Urgency.LOW),
        ("P5", Severity.INFO, Urgency.LOW),
    ],
)
def test_priority_sets_severity_and_urgency(priority, severity, urgency):
    body = {"message": "m"} | ({"priority": priority} if priority else {})
    event = parse_create(body, default_source="203.0.113.9")
    assert (event.severity, event.urgency, event.priority) == (severity, urgency, priority or "P3")
    assert (event.source, event.dedup_key, event.details) == ("203.0.113.9", None, {})


def test_a_long_message_is_truncated_as_opsgenie_does():
    assert parse_create({"message": "x" * 200}).summary == "x" * 130


def test_every_invalid_field_is_named():
    body = {
        "message": "  ",
        "alias": "a" * 513,
        "description": 7,
        "tags": ["ok", 3],
        "actions": [f"a{n}" for n in range(11)],
        "details": {"count": 3},
        "responders": [{"name": "NOC", "type": "squad"}],
        "priority": "P0",
        "severity": "high",
    }
    with pytest.raises(InvalidAlert) as raised:
        parse_create(body)
    assert raised.value.errors == {
        "severity": "severity is not a known field.",
        "message": "Message can not be empty.",
        "alias": "alias can not be longer than 512 characters.",
        "description": "description must be a string.",
        "tags": "tags must be a list of strings.",
        "actions": "actions can have at most 10 items.",
        "responders": "responders must be a list of at most 50 objects with a type "
        "(escalation, schedule, team, user) and an id, name or username.",
        "details": "details must be an object of string values.",
        "priority": "priority must be one of P1, P2, P3, P4, P5.",
    }


# --- create, end to end ---------------------------------------------------------------------


def test_create_opens_an_incident_and_answers_like_opsgenie(client, opsgenie, service):
    response = post(client, "/v2/alerts", load("opsgenie", "create_all_fields"), opsgenie.key)
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"result", "took", "requestId"}
    assert body["result"] == "Request will be processed"
    assert isinstance(body["took"], float)
    alert = Alert.objects.get()
    assert body["requestId"] == str(alert.request_id) == response["X-Request-ID"]
    incident = Incident.objects.get()
    assert (incident.service, incident.dedup_key, incident.status) == (service, ALIAS, "triggered")
    assert (incident.priority, incident.urgency, incident.severity) == ("P1", "high", "critical")
    assert incident.title == "Checkout API error rate above 5% in eu-west-1"
    assert (alert.incident, alert.outcome, alert.integration_kind) == (
        incident,
        "triggered",
        "opsgenie",
    )
    assert alert.details["tags"] == ["checkout", "eu-west-1", "Critical"]
    triggered = IncidentEvent.objects.get(incident=incident)
    assert triggered.actor_label == "integration Opsgenie (monitoring@example.com)"


def test_the_same_alias_twice_is_one_incident(client, opsgenie):
    for _ in range(2):
        response = post(
            client, "/v2/alerts", {"message": "Disk full", "alias": "disk"}, opsgenie.key
        )
        assert response.status_code == 202
    assert Incident.objects.get().dedup_key == "disk"
    assert sorted(Alert.objects.values_list("outcome", flat=True)) == ["deduplicated", "triggered"]
    assert status_of(client, response.json()["requestId"], opsgenie.key)["isSuccess"] is True


def test_an_alias_longer_than_a_dedup_key_still_deduplicates(client, opsgenie):
    alias = "a" * 512
    for _ in range(2):
        assert (
            post(client, "/v2/alerts", {"message": "m", "alias": alias}, opsgenie.key).status_code
            == 202
        )
    assert Incident.objects.count() == 1
    assert (
        post(client, f"/v2/alerts/{alias}/close?identifierType=alias", "", opsgenie.key).status_code
        == 202
    )
    assert Incident.objects.get().status == Status.RESOLVED


def test_the_key_may_come_as_the_api_key_parameter(client, opsgenie):
    response = post(client, f"/v2/alerts?apiKey={opsgenie.key}", {"message": "m"}, None)
    assert response.status_code == 202
    assert Incident.objects.count() == 1


# --- acknowledge and close ------------------------------------------------------------------


def _open_incident(client, key: str, alias: str = ALIAS) -> Incident:
    assert (
        post(client, "/v2/alerts", {"message": "Disk full", "alias": alias}, key).status_code == 202
    )
    return Incident.objects.get(dedup_key=alias)


@pytest.mark.parametrize("identifier_type", ["id", "alias", "tiny", None])
def test_acknowledge_by_each_identifier_type(client, opsgenie, identifier_type):
    incident = _open_incident(client, opsgenie.key)
    identifier = {"alias": ALIAS, "tiny": incident.number}.get(identifier_type, incident.pk)
    query = f"?identifierType={identifier_type}" if identifier_type else ""
    body = {"user": "ann@example.com", "source": "laptop"}
    response = post(client, f"/v2/alerts/{identifier}/acknowledge{query}", body, opsgenie.key)
    assert response.status_code == 202
    assert set(response.json()) == {"result", "took", "requestId"}
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED
    acked = IncidentEvent.objects.get(incident=incident, kind="acknowledged")
    assert acked.actor_label == "integration Opsgenie (ann@example.com)"
    alert = Alert.objects.get(action=AlertAction.ACKNOWLEDGE)
    assert (alert.incident, alert.outcome, alert.source) == (incident, "acknowledged", "laptop")
    assert status_of(client, response.json()["requestId"], opsgenie.key) == {
        "success": True,
        "action": "Acknowledge",
        "processedAt": alert.received_at.astimezone(UTC).isoformat(timespec="milliseconds")[:-6]
        + "Z",
        "integrationId": str(opsgenie.integration.pk),
        "isSuccess": True,
        "status": "Acknowledged alert",
        "alertId": str(incident.pk),
        "alias": ALIAS,
    }


def test_close_with_a_note_resolves_and_keeps_the_note(client, opsgenie):
    incident = _open_incident(client, opsgenie.key)
    body = {"note": "Rolled back v2.14.1."}
    response = post(client, f"/v2/alerts/{incident.pk}/close", body, opsgenie.key)
    assert response.status_code == 202
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert Note.objects.get(incident=incident).body == "Rolled back v2.14.1."
    data = status_of(client, response.json()["requestId"], opsgenie.key)
    assert (data["action"], data["status"], data["isSuccess"]) == ("Close", "Closed alert", True)


def test_close_without_a_body(client, opsgenie):
    incident = _open_incident(client, opsgenie.key)
    assert (
        post(
            client, f"/v2/alerts/{incident.number}/close?identifierType=tiny", "", opsgenie.key
        ).status_code
        == 202
    )
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


@pytest.mark.parametrize("identifier", ["999999", "not-a-number", "9" * 40])
def test_an_unknown_identifier_is_accepted_and_reported_as_failed(client, opsgenie, identifier):
    incident = _open_incident(client, opsgenie.key)
    response = post(client, f"/v2/alerts/{identifier}/acknowledge", {}, opsgenie.key)
    assert response.status_code == 202
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    data = status_of(client, response.json()["requestId"], opsgenie.key)
    assert (data["isSuccess"], data["success"], data["status"]) == (
        False,
        False,
        "Alert does not exist",
    )
    assert (data["action"], data["alertId"]) == ("Acknowledge", "")


def test_closing_an_unknown_alias_does_not_resolve_its_next_alert(client, opsgenie):
    response = post(client, "/v2/alerts/disk/close?identifierType=alias", "", opsgenie.key)
    data = status_of(client, response.json()["requestId"], opsgenie.key)
    assert (data["isSuccess"], data["alias"], data["alertId"]) == (False, "disk", "")
    created = post(client, "/v2/alerts", {"message": "Disk full", "alias": "disk"}, opsgenie.key)
    assert created.status_code == 202
    assert Incident.objects.get().status == Status.TRIGGERED


def test_another_organizations_incident_cannot_be_touched(client, opsgenie, other_service):
    theirs = integration_create(service=other_service, kind=IntegrationKind.OPSGENIE, name="Theirs")
    incident = _open_incident(client, theirs.key)
    events = IncidentEvent.objects.filter(incident=incident).count()
    for identifier, kind in [(incident.pk, "id"), (incident.number, "tiny"), (ALIAS, "alias")]:
        path = f"/v2/alerts/{identifier}/close?identifierType={kind}"
        response = post(client, path, {"note": "mine now"}, opsgenie.key)
        assert response.status_code == 202
        assert status_of(client, response.json()["requestId"], opsgenie.key)["isSuccess"] is False
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    assert IncidentEvent.objects.filter(incident=incident).count() == events
    assert not Note.objects.exists()
    assert not Alert.objects.filter(incident=incident).exclude(action=AlertAction.TRIGGER).exists()


def test_acknowledging_a_closed_alert_is_reported_as_failed(client, opsgenie):
    incident = _open_incident(client, opsgenie.key)
    post(client, f"/v2/alerts/{incident.pk}/close", "", opsgenie.key)
    response = post(client, f"/v2/alerts/{incident.pk}/acknowledge", {"note": "late"}, opsgenie.key)
    assert response.status_code == 202
    data = status_of(client, response.json()["requestId"], opsgenie.key)
    assert data["isSuccess"] is False
    assert data["status"] == f"Incident #{incident.number} is resolved; it cannot be acknowledged."
    assert not Note.objects.exists()


# --- request status -------------------------------------------------------------------------


def test_request_status_of_a_create(client, opsgenie):
    response = post(client, "/v2/alerts", {"message": "m", "alias": "k"}, opsgenie.key)
    request_id = response.json()["requestId"]
    lookup = client.get(
        f"/v2/alerts/requests/{request_id}", headers={"Authorization": f"GenieKey {opsgenie.key}"}
    )
    body = lookup.json()
    assert set(body) == {"data", "took", "requestId"}
    assert body["requestId"] != request_id
    incident = Incident.objects.get()
    assert body["data"]["alertId"] == str(incident.pk)
    assert (body["data"]["action"], body["data"]["status"], body["data"]["alias"]) == (
        "Create",
        "Created alert",
        "k",
    )


@pytest.mark.parametrize("which", ["other_org", "unknown", "malformed"])
def test_request_status_of_another_organization_is_not_found(
    client, opsgenie, other_service, which
):
    theirs = integration_create(service=other_service, kind=IntegrationKind.OPSGENIE, name="Theirs")
    their_request = post(client, "/v2/alerts", {"message": "m"}, theirs.key).json()["requestId"]
    request_id = {"other_org": their_request, "unknown": str(uuid.uuid4()), "malformed": "nope"}[
        which
    ]
    response = client.get(
        f"/v2/alerts/requests/{request_id}", headers={"Authorization": f"GenieKey {opsgenie.key}"}
    )
    assert_error(response, 404, "Request not found. It might not be processed, yet.")


# --- errors: Opsgenie's shape, nothing written ----------------------------------------------


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ([{"message": "m"}], {"request": "The body must be a JSON object."}),
        ({"alias": "k"}, {"message": "Message can not be empty."}),
        (
            {"message": 5, "tags": "a,b"},
            {"message": "message must be a string.", "tags": "tags must be a list of strings."},
        ),
        ({"message": "m", "teams": []}, {"teams": "teams is not a known field."}),
    ],
)
def test_an_invalid_create_is_422_and_writes_nothing(client, opsgenie, body, errors):
    response = post(client, "/v2/alerts", body, opsgenie.key)
    assert_error(response, 422, "Request body is not processable. Please check the errors.", errors)
    assert written() == (0, 0)


def test_malformed_json_is_400(client, opsgenie):
    response = post(client, "/v2/alerts", '{"message": "m",', opsgenie.key)
    assert response.status_code == 400
    assert_error(response, 400, response.json()["message"])
    assert response.json()["message"].startswith("The body is not valid JSON")
    assert written() == (0, 0)


def test_an_oversize_body_is_413(client, opsgenie, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = post(client, "/v2/alerts", {"message": "m", "description": "x" * 2000}, opsgenie.key)
    assert response.status_code == 413
    # Refused by RequestBodyLimitMiddleware before any view, in its own (not Opsgenie's) shape.
    assert response.json()["error"] == "request_too_large"
    assert written() == (0, 0)


def test_an_invalid_identifier_type_is_422(client, opsgenie):
    incident = _open_incident(client, opsgenie.key)
    response = post(
        client, f"/v2/alerts/{incident.pk}/close?identifierType=tinyid", "", opsgenie.key
    )
    assert_error(
        response,
        422,
        "Request body is not processable. Please check the errors.",
        {"identifierType": "identifierType must be one of id, alias, tiny."},
    )
    assert written() == (1, 1)
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


@pytest.mark.parametrize(
    ("authorization", "status", "message"),
    [
        (None, 401, "Key format is not valid!"),
        ("Bearer {key}", 401, "Key format is not valid!"),
        ("GenieKey ", 401, "Key format is not valid!"),
        ("GenieKey 0123456789abcdef0123456789abcdef", 401, "Could not authenticate"),
    ],
)
def test_a_missing_or_unknown_key_is_401(client, opsgenie, authorization, status, message):
    headers = {"Authorization": authorization.format(key=opsgenie.key)} if authorization else {}
    for path in ["/v2/alerts", "/v2/alerts/1/close"]:
        response = client.post(
            path, data='{"message": "m"}', content_type="application/json", headers=headers
        )
        assert_error(response, status, message)
    assert written() == (0, 0)


def test_a_disabled_integration_is_401(client, opsgenie):
    integration_set_enabled(integration=opsgenie.integration, enabled=False)
    response = post(client, "/v2/alerts", {"message": "m"}, opsgenie.key)
    assert_error(response, 401, "This integration is disabled.")
    assert written() == (0, 0)


def test_a_key_of_another_kind_is_403(client, service):
    pagerduty = integration_create(service=service, kind=IntegrationKind.PAGERDUTY, name="PD")
    response = post(client, "/v2/alerts", {"message": "m"}, pagerduty.key)
    assert_error(
        response,
        403,
        "This key belongs to a PagerDuty Events API v2 integration; "
        "send its events to that endpoint.",
    )
    assert written() == (0, 0)


def test_over_the_rate_limit_is_429_with_retry_after(client, service):
    limited = integration_create(
        service=service, kind=IntegrationKind.OPSGENIE, name="Limited", rate_limit_per_minute=1
    )
    assert post(client, "/v2/alerts", {"message": "m"}, limited.key).status_code == 202
    response = post(client, "/v2/alerts", {"message": "m"}, limited.key)
    assert_error(response, 429, "More than 1 events a minute for this integration; retry later.")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert written() == (1, 1)
