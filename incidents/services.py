"""Writes of incident data."""

from __future__ import annotations

from django.db import transaction

from incidents.models import Service
from opsknight.models import Organization


@transaction.atomic
def service_create(*, organization: Organization, name: str, description: str = "") -> Service:
    service = Service(organization=organization, name=name, description=description)
    service.full_clean()
    service.save()
    return service
