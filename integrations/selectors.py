"""Reads of integration data."""

from __future__ import annotations

import time

from django.db.models import QuerySet

from incidents.ingestion import normalize_dedup_key
from incidents.models import Incident, Service
from integrations.keys import hash_key
from integrations.models import Integration

# Every event looks its key up; a few seconds of memory per process spares that query (and its
# ORM cost) on the hot path. The price: another process may honour a key for up to this long
# after it was disabled or rotated (the process making the change forgets at once).
KEY_CACHE_SECONDS = 5.0
_key_cache: dict[str, tuple[float, Integration | None]] = {}


def integration_by_key(key: str) -> Integration | None:
    """The integration this routing key belongs to (enabled or not), or None.

    Looked up by the key's hash, so the comparison leaks nothing through timing.
    """
    if not key or len(key) > 200:
        return None
    digest = hash_key(key)
    now = time.monotonic()
    cached = _key_cache.get(digest)
    if cached is not None and now - cached[0] < KEY_CACHE_SECONDS:
        return cached[1]
    integration = (
        Integration.objects.select_related("service", "organization")
        .filter(key_hash=digest)
        .first()
    )
    if len(_key_cache) > 10_000:  # a flood of made-up keys must not grow memory
        _key_cache.clear()
    _key_cache[digest] = (now, integration)
    return integration


def forget_cached_keys() -> None:
    """Drop this process's cached key lookups (after a change to any integration)."""
    _key_cache.clear()


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
