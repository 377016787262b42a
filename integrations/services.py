"""Writes of integration data, and `receive`: the one entry point every endpoint calls."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from incidents.ingestion import IngestResult, NormalizedEvent, ingest
from incidents.models import Service
from integrations.models import Integration, IntegrationKind
from opsknight.actors import Actor
from opsknight.crypto import decrypt, encrypt
from opsknight.models import User
from opsknight.services import audit_record


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_routing_key() -> str:
    """32 hex characters: the shape of a PagerDuty routing key, 128 bits of entropy."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class IssuedIntegration:
    integration: Integration
    key: str


@transaction.atomic
def integration_create(
    *,
    service: Service,
    kind: IntegrationKind | str,
    name: str,
    created_by: User | None = None,
    rate_limit_per_minute: int = 120,
    signing_secret: str = "",
    options: dict[str, Any] | None = None,
) -> IssuedIntegration:
    key = new_routing_key()
    integration = Integration(
        organization_id=service.organization_id,
        service=service,
        kind=kind,
        name=name,
        key_prefix=key[:8],
        key_hash=hash_key(key),
        key_encrypted=encrypt(key),
        signing_secret_encrypted=encrypt(signing_secret) if signing_secret else "",
        rate_limit_per_minute=rate_limit_per_minute,
        options=options or {},
        created_by=created_by,
    )
    integration.full_clean()
    integration.save()
    audit_record(
        action="integration.created",
        organization=service.organization,
        actor=created_by,
        target=integration,
        data={"kind": str(kind), "name": name, "service": service.name},
    )
    return IssuedIntegration(integration, key)


@transaction.atomic
def integration_rotate_key(*, integration: Integration, actor: User | None = None) -> str:
    """A new key; the old one stops working when this commits."""
    key = new_routing_key()
    integration.key_prefix, integration.key_hash = key[:8], hash_key(key)
    integration.key_encrypted = encrypt(key)
    integration.save(update_fields=["key_prefix", "key_hash", "key_encrypted"])
    audit_record(
        action="integration.key_rotated",
        organization=integration.organization,
        actor=actor,
        target=integration,
    )
    return key


@transaction.atomic
def integration_set_signing_secret(
    *, integration: Integration, secret: str, actor: User | None = None
) -> None:
    if secret and len(secret) < 16:
        raise ValidationError({"signing_secret": "Use at least 16 characters."})
    integration.signing_secret_encrypted = encrypt(secret) if secret else ""
    integration.save(update_fields=["signing_secret_encrypted"])
    audit_record(
        action="integration.secret_set" if secret else "integration.secret_cleared",
        organization=integration.organization,
        actor=actor,
        target=integration,
    )


@transaction.atomic
def integration_set_enabled(
    *, integration: Integration, enabled: bool, actor: User | None = None
) -> None:
    integration.enabled = enabled
    integration.save(update_fields=["enabled"])
    audit_record(
        action="integration.enabled" if enabled else "integration.disabled",
        organization=integration.organization,
        actor=actor,
        target=integration,
    )


def routing_key(integration: Integration) -> str:
    return decrypt(integration.key_encrypted)


def signing_secret(integration: Integration) -> str:
    return (
        decrypt(integration.signing_secret_encrypted)
        if integration.signing_secret_encrypted
        else ""
    )


@transaction.atomic
def receive(
    *,
    integration: Integration,
    events: Sequence[NormalizedEvent],
    payload: Any,
    actor: Actor | None = None,
) -> list[IngestResult]:
    """Apply every event of one request in one transaction: all are committed, or none."""
    actor = actor or Actor.for_integration(integration.name)
    return [
        ingest(
            service=integration.service,
            event=event,
            payload=payload,
            integration_id=integration.pk,
            integration_kind=integration.kind,
            actor=actor,
        )
        for event in events
    ]
