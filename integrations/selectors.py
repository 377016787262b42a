"""Reads of integration data."""

from __future__ import annotations

from django.db.models import QuerySet

from incidents.models import Service
from integrations.models import Integration
from integrations.services import hash_key


def integration_by_key(key: str) -> Integration | None:
    """The integration this routing key belongs to (enabled or not), or None.

    Looked up by the key's hash, so the comparison leaks nothing through timing.
    """
    if not key or len(key) > 200:
        return None
    return (
        Integration.objects.select_related("service", "organization")
        .filter(key_hash=hash_key(key))
        .first()
    )


def service_integrations(*, service: Service) -> QuerySet[Integration]:
    return Integration.objects.filter(service=service)
