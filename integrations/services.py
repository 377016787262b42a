"""Writes of integration data, and `receive`: the one entry point every endpoint calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from incidents import services as incident_services
from incidents.ingestion import (
    IngestResult,
    NormalizedEvent,
    ingest,
    normalize_dedup_key,
    record_alert,
)
from incidents.models import Alert, AlertAction, Service
from integrations.keys import hash_key, new_routing_key
from integrations.models import Integration, IntegrationKind
from integrations.routing import Route, load_rules, route
from integrations.selectors import forget_cached_keys, incident_by_identifier
from integrations.sources.opsgenie import ActionRequest
from opsknight.actors import Actor
from opsknight.crypto import decrypt, encrypt
from opsknight.models import User
from opsknight.services import audit_record


@dataclass(frozen=True)
class IssuedIntegration:
    integration: Integration
    key: str


# Senders that cannot sign with a shared secret: a secret would refuse every request they make.
# (SNS messages carry AWS's own signature, which is always checked.)
UNSIGNABLE_KINDS = {IntegrationKind.CLOUDWATCH}


def _check_secret_allowed(kind: str, secret: str) -> None:
    if secret and kind in UNSIGNABLE_KINDS:
        raise ValidationError(
            {"signing_secret": "This sender cannot sign requests with a shared secret."}
        )


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
    _check_secret_allowed(kind, signing_secret)
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
    transaction.on_commit(forget_cached_keys)
    forget_cached_keys()
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
    _check_secret_allowed(integration.kind, secret)
    if secret and len(secret) < 16:
        raise ValidationError({"signing_secret": "Use at least 16 characters."})
    integration.signing_secret_encrypted = encrypt(secret) if secret else ""
    integration.save(update_fields=["signing_secret_encrypted"])
    transaction.on_commit(forget_cached_keys)
    forget_cached_keys()
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
    transaction.on_commit(forget_cached_keys)
    forget_cached_keys()
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


@transaction.atomic(savepoint=False)
def receive_for_service(
    *, service: Service, events: Sequence[NormalizedEvent], payload: Any, actor: Actor
) -> list[IngestResult]:
    """Events sent with an API key instead of an integration key: same path, no integration.

    Rules belong to an integration, so none apply: the caller chose the service itself.
    """
    return [
        ingest(service=service, event=event, payload=payload, integration_kind="api", actor=actor)
        for event in events
    ]


@transaction.atomic(savepoint=False)
def receive(
    *,
    integration: Integration,
    events: Sequence[NormalizedEvent],
    payload: Any,
    actor: Actor | None = None,
) -> list[IngestResult]:
    """Apply every event of one request in one transaction: all are committed, or none.

    Each event first passes the integration's routing and grouping rules (loaded once per
    request): it may go to another service of the organization, change urgency or severity,
    take a grouped dedup key, or be dropped (stored with outcome "dropped", no incident).
    """
    actor = actor or Actor.for_integration(integration.name)
    rules = load_rules(integration)
    return [_receive_routed(integration, route(rules, event), payload, actor) for event in events]


def _receive_routed(
    integration: Integration, routed: Route, payload: Any, actor: Actor
) -> IngestResult:
    event = routed.event
    if not routed.dropped:
        return ingest(
            service=routed.service,
            event=event,
            payload=payload,
            integration_id=integration.pk,
            integration_kind=integration.kind,
            actor=actor,
        )
    # Dropped, not lost: the alert log shows what came in and that a rule stopped it.
    key = normalize_dedup_key(event.dedup_key or "")
    alert = record_alert(
        service=routed.service,
        action=event.action,
        outcome="dropped",
        incident=None,
        summary=event.summary,
        payload=event.raw if event.raw is not None else payload,
        dedup_key=key,
        source=event.source,
        details=event.details,
        integration_id=integration.pk,
        integration_kind=integration.kind,
    )
    return IngestResult(outcome="dropped", dedup_key=key, alert=alert)


# --- Opsgenie acknowledge / close requests ----------------------------------------------------

OPSGENIE_NOT_FOUND = "Alert does not exist"
NOTE_MAX_LENGTH = 20_000  # incidents.Note; Opsgenie allows 25,000, the raw body keeps the rest
OPSGENIE_ACTION_NAMES = {AlertAction.ACKNOWLEDGE: "Acknowledge", AlertAction.RESOLVE: "Close"}


def opsgenie_actor(integration: Integration, user: str) -> Actor:
    """The integration, naming the Opsgenie `user` the sender acted for when it gave one."""
    actor = Actor.for_integration(integration.name)
    return Actor(user=None, label=f"{actor.label} ({user})"[:200]) if user else actor


@transaction.atomic
def apply_alert_action(
    *,
    integration: Integration,
    action: AlertAction,
    identifier: str,
    identifier_type: str,
    request: ActionRequest,
    payload: Any,
) -> Alert:
    """Acknowledge or close the identified incident and record the request as an Alert row.

    A missing incident or an impossible move is recorded, not raised,
    so the request-status lookup can report it as Opsgenie does.
    """
    actor = opsgenie_actor(integration, request.user)
    incident = incident_by_identifier(integration, identifier, identifier_type)
    error = ""
    if incident is None:
        outcome, error = "not_found", OPSGENIE_NOT_FOUND
    else:
        try:
            if action == AlertAction.ACKNOWLEDGE:
                incident_services.acknowledge(incident_id=incident.pk, actor=actor)
                outcome = "acknowledged"
            else:
                incident_services.resolve(incident_id=incident.pk, actor=actor)
                outcome = "resolved"
        except incident_services.TransitionError as exc:
            outcome, error = "failed", exc.messages[0]
        if request.note.strip() and outcome != "failed":
            incident_services.add_note(
                incident_id=incident.pk, actor=actor, body=request.note.strip()[:NOTE_MAX_LENGTH]
            )
    details = {"identifier": identifier, "identifierType": identifier_type}
    details |= {name: value for name, value in asdict(request).items() if value}
    return record_alert(
        service=integration.service,
        incident=incident,
        integration_id=integration.pk,
        integration_kind=integration.kind,
        action=action,
        outcome=outcome,
        # Unmatched: no dedup key, or ingest would take a close for a resolve that arrived
        # before its trigger and open the next alert with that alias already resolved.
        dedup_key=incident.dedup_key if incident is not None else "",
        summary=f"{OPSGENIE_ACTION_NAMES[action]} {identifier_type} {identifier}",
        source=request.source,
        details={**details, "error": error} if error else details,
        payload=payload,
    )
