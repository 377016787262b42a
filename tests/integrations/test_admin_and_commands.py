from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from integrations.models import Integration
from integrations.selectors import integration_by_key
from integrations.services import integration_create, routing_key
from opsknight.models import AuditEvent
from tests.incidents.factories import make_service
from tests.opsknight.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_creates_an_integration_and_shows_its_key(operator, org):
    service = make_service(org)
    response = operator.post(
        "/admin/integrations/integration/add/",
        {
            "service": service.pk,
            "kind": "pagerduty",
            "name": "Grafana",
            "rate_limit_per_minute": 120,
            "options": "{}",
        },
        follow=True,
    )
    integration = Integration.objects.get()
    key = routing_key(integration)
    assert key in response.content.decode()
    assert integration_by_key(key) == integration
    assert integration.key_hash != key
    assert key not in integration.key_encrypted


def test_admin_rotates_a_key(operator, org):
    issued = integration_create(service=make_service(org), kind="pagerduty", name="pd")
    operator.post(
        "/admin/integrations/integration/",
        {"action": "rotate_keys", "_selected_action": [issued.integration.pk]},
    )
    assert integration_by_key(issued.key) is None
    assert integration_by_key(routing_key(Integration.objects.get())) is not None
    assert AuditEvent.objects.filter(action="integration.key_rotated").count() == 1


def test_admin_disables_through_the_service(operator, org):
    issued = integration_create(service=make_service(org), kind="pagerduty", name="pd")
    url = f"/admin/integrations/integration/{issued.integration.pk}/change/"
    operator.post(url, {"name": "pd", "rate_limit_per_minute": 120, "options": "{}"})
    issued.integration.refresh_from_db()
    assert issued.integration.enabled is False
    assert AuditEvent.objects.filter(action="integration.disabled").count() == 1


def test_integration_key_command_prints_keys(org, capsys):
    service = make_service(org, name="Search")
    issued = integration_create(service=service, kind="alertmanager", name="prom")
    call_command("integration_key", "Search")
    assert capsys.readouterr().out == f"alertmanager\tprom\t{issued.key}\n"


def test_integration_key_command_explains_what_is_wrong(org, other_org):
    make_service(org, name="Search")
    with pytest.raises(CommandError, match="has no integrations"):
        call_command("integration_key", "Search")
    make_service(other_org, name="Search")
    with pytest.raises(CommandError, match="add --org"):
        call_command("integration_key", "Search")
    with pytest.raises(CommandError, match="No service 'Nope'"):
        call_command("integration_key", "Nope")
