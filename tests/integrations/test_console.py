"""The admin test console: parses like the endpoint, shows where events go, writes nothing."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from incidents.models import Alert, Incident
from integrations.models import IntegrationKind
from integrations.services import integration_create
from tests.integrations.conftest import load
from tests.opsknight.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def console(integration_id: int) -> str:
    return f"/admin/integrations/integration/{integration_id}/test-console/"


def test_the_console_starts_from_the_providers_sample(operator, service):
    kuma = integration_create(service=service, kind=IntegrationKind.UPTIME_KUMA, name="Kuma")
    page = operator.get(console(kuma.integration.pk))
    assert page.status_code == 200
    assert "Checkout API" in page.content.decode()  # the sample payload, ready to try


def test_a_payload_shows_its_events_and_writes_nothing(operator, service, client):
    kuma = integration_create(service=service, kind=IntegrationKind.UPTIME_KUMA, name="Kuma")
    body = json.dumps(load("uptime_kuma", "down"))
    page = operator.post(console(kuma.integration.pk), {"payload": body})
    html = page.content.decode()
    assert "uptime-kuma-7" in html
    assert "opens a new incident" in html
    assert (Alert.objects.count(), Incident.objects.count()) == (0, 0)
    # Once the incident exists, the same payload would join it, and "up" would resolve it.
    client.post(
        f"/api/v1/integrations/uptime-kuma/{kuma.key}/", body, content_type="application/json"
    )
    number = Incident.objects.get().number
    again = operator.post(console(kuma.integration.pk), {"payload": body}).content.decode()
    assert f"joins incident #{number}" in again
    up = json.dumps(load("uptime_kuma", "up"))
    assert (
        f"resolves incident #{number}"
        in operator.post(console(kuma.integration.pk), {"payload": up}).content.decode()
    )
    assert Alert.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "Not valid JSON"),
        ('{"heartbeat": {"status": 0}}', "&#x27;heartbeat.monitorID&#x27; is missing."),
    ],
)
def test_refusals_are_shown_as_the_endpoint_would_give_them(operator, service, payload, message):
    kuma = integration_create(service=service, kind=IntegrationKind.UPTIME_KUMA, name="Kuma")
    html = operator.post(console(kuma.integration.pk), {"payload": payload}).content.decode()
    assert "Refused" in html
    assert message in html


def test_builtin_kinds_work_too(operator, service):
    pd = integration_create(service=service, kind=IntegrationKind.PAGERDUTY, name="PD")
    sample = operator.get(console(pd.integration.pk)).content.decode()
    assert "disk-full-web-1" in sample
    html = operator.post(
        console(pd.integration.pk),
        {"payload": json.dumps({"event_action": "trigger", "payload": {}})},
    ).content.decode()
    assert "Refused" in html


def test_only_operators_reach_the_console(client, service):
    kuma = integration_create(service=service, kind=IntegrationKind.UPTIME_KUMA, name="Kuma")
    client.force_login(UserFactory(is_staff=True))
    assert client.get(console(kuma.integration.pk)).status_code == 302
