"""Fixtures for inbound integrations: a service, keys of each kind, recorded payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from incidents.models import Alert, Incident, Service
from incidents.services import service_create
from integrations.models import IntegrationKind
from integrations.services import IssuedIntegration, integration_create

FIXTURES = Path(__file__).parent / "fixtures"


def load(provider: str, name: str) -> Any:
    """A recorded payload from tests/integrations/fixtures/<provider>/<name>.json."""
    return json.loads((FIXTURES / provider / f"{name}.json").read_text())


def written() -> tuple[int, int]:
    """(alerts, incidents) in the database: error tests assert it does not move."""
    return Alert.objects.count(), Incident.objects.count()


@pytest.fixture
def service(org) -> Service:
    return service_create(organization=org, name="Checkout")


@pytest.fixture
def other_service(other_org) -> Service:
    return service_create(organization=other_org, name="Checkout")


@pytest.fixture
def opsgenie(service) -> IssuedIntegration:
    return integration_create(service=service, kind=IntegrationKind.OPSGENIE, name="Opsgenie")


@pytest.fixture
def alertmanager(service) -> IssuedIntegration:
    return integration_create(service=service, kind=IntegrationKind.ALERTMANAGER, name="Prometheus")
