"""Reads of integration data."""

from __future__ import annotations

from django.db.models import QuerySet

from incidents.ingestion import normalize_dedup_key
from incidents.models import Incident, Service
from integrations.keys import hash_key
from integrations.models import Integration


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


def incident_by_identifier(
    integration: Integration, identifier: str, identifier_type: str
) -> Incident | None:
    """The incident an Opsgenie-style identifier names, within the integration's organization:
    `id` (our primary key), `tiny` (the incident number) or `alias` (an open dedup key)."""
    incidents = Incident.objects.filter(organization_id=integration.organization_id)
    if identifier_type == "alias":
        key = normalize_dedup_key(identifier)
        return incidents.open().filter(service_id=integration.service_id, dedup_key=key).first()
    # Anything not a plausible bigint is simply not found (and never reaches the database).
    if not (identifier.isascii() and identifier.isdigit()) or len(identifier) > 18:
        return None
    if identifier_type == "tiny":
        return incidents.filter(number=int(identifier)).first()
    return incidents.filter(pk=int(identifier)).first()
