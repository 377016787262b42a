"""PagerDuty Events API v2 compatibility: the official client, every error shape, limits."""

from __future__ import annotations

import json
import ssl

import pagerduty
import pytest

from incidents.models import Alert, Incident, Status
from integrations.models import IntegrationKind
from integrations.services import integration_create, integration_set_enabled
from tests.incidents.factories import make_service
from tests.processes import free_port, granian, running, self_signed_certificate, wait_for_https

pytestmark = pytest.mark.django_db


@pytest.fixture
def service(org):
    return make_service(org, name="Checkout API")


@pytest.fixture
def key(service):
    return integration_create(service=service, kind=IntegrationKind.PAGERDUTY, name="pd").key


def _post(client, body, path="/v2/enqueue", **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data, content_type="application/json", **extra)


def _trigger(key, **over):
    event = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "db-disk",
        "payload": {"summary": "Disk 95% on db-1", "source": "db-1", "severity": "critical"},
    }
    event.update(over)
    return event


@pytest.mark.django_db(transaction=True)
def test_the_official_pagerduty_client_works_unchanged(org, tmp_path):
    """python-pagerduty insists on https: serve the app with the production server over TLS."""
    service = make_service(org)
    key = integration_create(service=service, kind=IntegrationKind.PAGERDUTY, name="pd").key
    cert, private_key = self_signed_certificate(tmp_path)
    port = free_port()
    with running(granian(port, tls=(cert, private_key))) as server:
        wait_for_https(f"https://127.0.0.1:{port}/healthz", server, cert)
        base_url = f"https://localhost:{port}"
        trust = ssl.create_default_context(cafile=str(cert))
        client = pagerduty.EventsApiV2Client(key, base_url=base_url, verify=trust)
        dedup_key = client.trigger(
            "CPU on fire",
            "web-1",
            severity="error",
            custom_details={"cpu": 99},
            links=[{"href": "https://x.test"}],
        )
        incident = Incident.objects.get(dedup_key=dedup_key)
        assert (incident.title, incident.urgency, incident.source) == (
            "CPU on fire",
            "medium",
            "web-1",
        )
        client.acknowledge(dedup_key)
        incident.refresh_from_db()
        assert incident.status == Status.ACKNOWLEDGED
        client.resolve(dedup_key)
        incident.refresh_from_db()
        assert incident.status == Status.RESOLVED
        # submit() would build the timestamp itself, but python-pagerduty 7.2 crashes there
        # (datetime.timezone); send the change event it would have sent, quirky suffix included.
        client.send_change_event(
            payload={
                "summary": "Deployed v42",
                "source": "ci",
                "timestamp": "2026-11-23T10:00:00.5+00:00Z",
            }
        )
        assert Alert.objects.filter(action="change", summary="Deployed v42").exists()
        stranger = pagerduty.EventsApiV2Client("0" * 32, base_url=base_url, verify=trust)
        with pytest.raises(pagerduty.Error, match="400"):
            stranger.trigger("x", "y")


def test_trigger_answers_like_pagerduty(client, key):
    response = _post(client, _trigger(key))
    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "db-disk",
    }
    alert = Alert.objects.get()
    assert alert.payload["payload"]["summary"] == "Disk 95% on db-1"


def test_the_key_may_be_in_the_url(client, key):
    body = _trigger(key)
    del body["routing_key"]
    response = _post(client, body, path=f"/integration/{key}/enqueue")
    assert response.status_code == 202


def test_every_field_is_kept(client, key):
    event = _trigger(
        key,
        images=[{"src": "https://img.test/graph.png", "href": "https://x.test", "alt": "graph"}],
        links=[{"href": "https://runbook.test", "text": "Runbook"}],
        client="Grafana",
        client_url="https://grafana.test",
    )
    event["payload"].update(
        timestamp="2026-11-23T10:00:00Z",
        component="postgres",
        group="db",
        **{"class": "disk"},
        custom_details={"free": "5%"},
    )
    assert _post(client, event).status_code == 202
    alert = Alert.objects.get()
    assert alert.details == {
        "component": "postgres",
        "group": "db",
        "class": "disk",
        "custom_details": {"free": "5%"},
        "client": "Grafana",
        "client_url": "https://grafana.test",
    }
    assert alert.links == [{"href": "https://runbook.test", "text": "Runbook"}]
    assert alert.images[0]["src"] == "https://img.test/graph.png"
    assert alert.occurred_at.isoformat() == "2026-11-23T10:00:00+00:00"


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda e: e.update(event_action="explode"), "'event_action' must be one of"),
        (lambda e: e.pop("payload"), "'payload' is missing."),
        (lambda e: e["payload"].pop("summary"), "'payload.summary' is missing."),
        (lambda e: e["payload"].update(summary=""), "'payload.summary' must not be empty."),
        (lambda e: e["payload"].update(summary="x" * 1025), "longer than 1024"),
        (lambda e: e["payload"].update(severity="apocalyptic"), "'payload.severity' must be"),
        (lambda e: e["payload"].update(source=42), "'payload.source' must be a string."),
        (lambda e: e["payload"].update(timestamp="yesterday"), "ISO 8601"),
        (lambda e: e.update(dedup_key=["a"]), "'dedup_key' must be a string."),
        (lambda e: e.update(dedup_key="k" * 256), "longer than 255"),
        (lambda e: e.update(links="https://x"), "'links' must be a list"),
        (lambda e: e.update(images=[{"href": "x"}]), "'images' must be a list"),
        (lambda e: e.update(colour="red"), "'colour' is not a known field."),
        (lambda e: e["payload"].update(colour="red"), "'payload.colour' is not a known field."),
        (lambda e: e.update(event_action="resolve", dedup_key=None), "'dedup_key' is missing."),
        (lambda e: e.update(routing_key=None), "'routing_key' is missing."),
    ],
)
def test_invalid_events_get_pagerduty_400s_and_write_nothing(client, key, mutate, error):
    event = _trigger(key)
    mutate(event)
    event = {k: v for k, v in event.items() if v is not None}
    response = _post(client, event)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event"
    assert body["message"] == "Event object is invalid"
    assert any(error in e for e in body["errors"]), body
    assert not Alert.objects.exists()
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("{not json", "not valid JSON"),
        ("", "The body is empty"),
        ('{"a": NaN}', "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_malformed_bodies(client, body, error):
    response = _post(client, body)
    assert response.status_code == 400
    assert any(error in e for e in response.json()["errors"])
    assert not Alert.objects.exists()


def test_oversize_body_is_413(client, key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    event = _trigger(key)
    event["payload"]["custom_details"] = {"blob": "x" * 2000}
    response = _post(client, event)
    assert response.status_code == 413
    assert not Alert.objects.exists()


def test_unknown_disabled_and_wrong_kind_keys_are_refused(client, key, service):
    assert _post(client, _trigger("0" * 32)).json()["errors"] == [
        "The integration key is not valid."
    ]
    integration = service.integrations.get()
    integration_set_enabled(integration=integration, enabled=False)
    refused = _post(client, _trigger(key))
    assert refused.status_code == 400
    assert refused.json()["errors"] == ["This integration is disabled."]
    alertmanager = integration_create(
        service=service, kind=IntegrationKind.ALERTMANAGER, name="am"
    ).key
    wrong = _post(client, _trigger(alertmanager))
    assert "Prometheus Alertmanager integration" in wrong.json()["errors"][0]
    assert not Alert.objects.exists()


def test_rate_limit_answers_429_with_retry_after(client, service):
    key = integration_create(
        service=service, kind=IntegrationKind.PAGERDUTY, name="pd", rate_limit_per_minute=3
    ).key
    codes = [_post(client, _trigger(key, dedup_key=f"k{i}")).status_code for i in range(5)]
    assert codes == [202, 202, 202, 429, 429]
    limited = _post(client, _trigger(key, dedup_key="late"))
    assert limited.json()["status"] == "throttle event"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert Alert.objects.count() == 3


def test_keys_of_another_organization_route_to_their_own_service(client, org, other_org):
    mine = make_service(org)
    theirs = make_service(other_org)
    key = integration_create(service=theirs, kind=IntegrationKind.PAGERDUTY, name="pd").key
    _post(client, _trigger(key))
    assert Incident.objects.get().service == theirs
    assert not mine.incidents.exists()


def test_get_is_a_json_405(client):
    response = client.get("/v2/enqueue")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_change_event(client, key):
    response = _post(
        client,
        {"routing_key": key, "payload": {"summary": "Deploy v42"}},
        path="/v2/change/enqueue",
    )
    assert response.status_code == 202
    assert Alert.objects.get().action == "change"
    assert not Incident.objects.exists()
    bad = _post(client, {"routing_key": key, "payload": {}}, path="/v2/change/enqueue")
    assert bad.status_code == 400


def test_a_signing_secret_makes_signatures_mandatory(client, service):
    import hashlib
    import hmac

    from integrations.services import integration_set_signing_secret

    issued = integration_create(service=service, kind=IntegrationKind.PAGERDUTY, name="signed")
    secret = "a-shared-secret-of-length"
    integration_set_signing_secret(integration=issued.integration, secret=secret)
    body = json.dumps(_trigger(issued.key))
    good = "sha256=" + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    for signature in (None, "sha256=" + "0" * 64, good.upper()[:-1]):
        extra = {"HTTP_X_OPSKNIGHT_SIGNATURE": signature} if signature else {}
        refused = _post(client, body, **extra)
        assert refused.status_code == 401, refused.content
        assert "signature" in refused.json()["errors"][0]
    assert not Alert.objects.exists()
    accepted = _post(client, body, HTTP_X_OPSKNIGHT_SIGNATURE=good)
    assert accepted.status_code == 202
    also = _post(client, body, HTTP_X_HUB_SIGNATURE_256=good)
    assert also.status_code == 202
