"""OpsKnight Events API: integration keys, API keys with events:write, and every refusal."""

from __future__ import annotations

import json

import pytest

from incidents.models import Alert, Incident, Status
from integrations.models import IntegrationKind
from integrations.services import integration_create
from opsknight.models import AuditEvent
from tests.incidents.factories import make_service
from tests.opsknight.factories import issue_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def svc(org):
    return make_service(org, name="Payments")


@pytest.fixture
def key(svc):
    return integration_create(service=svc, kind=IntegrationKind.EVENTS, name="ci").key


def _event(**over):
    event = {
        "event_action": "trigger",
        "dedup_key": "payments-5xx",
        "payload": {
            "summary": "5xx above 2%",
            "source": "lb-1",
            "severity": "error",
            "custom_details": {"rate": 0.023},
        },
    }
    event.update(over)
    return event


def _post(client, body, token, header="Token token={}"):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        "/api/v1/events",
        data,
        content_type="application/json",
        HTTP_AUTHORIZATION=header.format(token),
    )


def test_integration_key_triggers_then_resolves(client, key, settings):
    created = _post(client, _event(), key)
    assert created.status_code == 202
    incident = Incident.objects.get()
    assert created.json() == {
        "status": "success",
        "result": {
            "action": "triggered",
            "dedup_key": "payments-5xx",
            "incident": {
                "id": incident.pk,
                "number": incident.number,
                "url": f"{settings.BASE_URL}/incidents/{incident.pk}/",
            },
        },
    }
    again = _post(client, _event(), key)
    assert again.json()["result"]["action"] == "deduplicated"
    resolved = _post(client, {"event_action": "resolve", "dedup_key": "payments-5xx"}, key)
    assert resolved.json()["result"]["action"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_api_key_with_events_write_names_the_service(client, org, svc):
    token = issue_key(org, "events:write")
    response = _post(client, _event(service_id=svc.pk), token, header="Bearer {}")
    assert response.status_code == 202
    incident = Incident.objects.get()
    assert incident.service == svc
    assert incident.events.get().actor_label.startswith("API key test key")


def test_api_key_without_the_scope_is_403(client, org, svc):
    token = issue_key(org, "incidents:read")
    response = _post(client, _event(service_id=svc.pk), token, header="Bearer {}")
    assert response.status_code == 403
    assert not Alert.objects.exists()


def test_api_key_cannot_reach_another_organizations_service(client, org, other_org):
    theirs = make_service(other_org)
    token = issue_key(org, "events:write")
    response = _post(client, _event(service_id=theirs.pk), token, header="Bearer {}")
    assert response.status_code == 404
    assert not Alert.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_event(event_action="explode"), "event_action"),
        (_event(dedup_key=""), "dedup_key"),
        (_event(dedup_key="k" * 201), "dedup_key"),
        (_event(payload={"summary": "x", "source": "y"}), "payload.severity"),
        (
            _event(payload={"summary": "x" * 501, "source": "y", "severity": "info"}),
            "payload.summary",
        ),
        (_event(colour="red"), "colour"),
        (_event(service_id=1), "service_id"),
        ({"event_action": "trigger", "dedup_key": "k"}, "payload"),
    ],
)
def test_invalid_events_name_the_field_and_write_nothing(client, key, body, field):
    response = _post(client, body, key)
    assert response.status_code == 400
    assert field in response.json()["details"]
    assert not Alert.objects.exists()


def test_api_key_events_need_a_service_id(client, org):
    response = _post(client, _event(), issue_key(org, "events:write"), header="Bearer {}")
    assert response.status_code == 400
    assert "service_id" in response.json()["details"]


@pytest.mark.parametrize(
    ("token", "status"),
    [("0" * 32, 401), ("ok_nope_nope", 401)],
)
def test_bad_credentials(client, token, status):
    response = _post(client, _event(), token)
    assert response.status_code == status
    assert not Alert.objects.exists()


def test_no_credentials(client):
    response = client.post("/api/v1/events", json.dumps(_event()), content_type="application/json")
    assert response.status_code == 401


def test_malformed_json(client, key):
    response = _post(client, "{nope", key)
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]


def test_integration_creation_is_audited(svc, key):
    event = AuditEvent.objects.get(action="integration.created")
    assert event.data == {"kind": "events", "name": "ci", "service": "Payments"}
    assert key not in json.dumps(event.data)


def test_demo_curl_triggers_an_incident(client):
    """The command `make run` prints must work as printed."""
    from integrations.demo import seed_demo

    login = seed_demo()
    command = login.curl("http://testserver")
    body = command.split(" -d '", 1)[1].rstrip("'")
    response = client.post("/v2/enqueue", body, content_type="application/json")
    assert response.status_code == 202
    assert Incident.objects.get().title == "Checkout latency p99 above 2s"


def test_the_demo_incident_pages_whoever_is_on_call(client):
    from escalation.models import EscalationState, EscalationStatus
    from integrations.demo import seed_demo
    from notifications.models import NotificationRequest
    from tests.escalation.factories import run_next_step

    login = seed_demo()
    seed_demo()  # idempotent: still one policy
    body = login.curl("http://testserver").split(" -d '", 1)[1].rstrip("'")
    client.post("/v2/enqueue", body, content_type="application/json")
    incident = Incident.objects.get()
    assert EscalationState.objects.get(pk=incident.pk).status == EscalationStatus.ESCALATING
    run_next_step()
    assert NotificationRequest.objects.filter(incident=incident, level=1).count() >= 1
