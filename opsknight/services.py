"""Writes of core data. Each service is one transaction and records its audit event."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from opsknight.models import APIKey, AuditEvent, Membership, Organization, Role, User
from opsknight.permissions import Scope

API_KEY_PREFIX = "ok_"
# last_used_at is a hint for humans; writing it on every request would put a row-lock
# and a WAL record on the hot path of every API call.
API_KEY_LAST_USED_RESOLUTION = timedelta(minutes=1)


class OwnerRequiredError(ValidationError):
    pass


def audit_record(
    *,
    action: str,
    organization: Organization | None = None,
    actor: User | None = None,
    actor_label: str = "",
    target: Any = None,
    data: dict[str, Any] | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Append one audit event. Call it inside the transaction of the change it records."""
    if not actor_label:
        actor_label = actor.email if actor else "system"
    return AuditEvent.objects.create(
        organization=organization,
        actor=actor,
        actor_label=actor_label,
        action=action,
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        data=data or {},
        ip_address=ip_address,
    )


@transaction.atomic
def organization_create(
    *, name: str, owner: User, slug: str = "", time_zone: str = "UTC"
) -> Organization:
    """Create a tenant with its first owner."""
    organization = Organization(name=name, slug=slug or slugify(name)[:60], time_zone=time_zone)
    organization.full_clean()
    organization.save()
    Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    audit_record(
        action="organization.created", organization=organization, actor=owner, target=organization
    )
    return organization


@transaction.atomic
def membership_set(
    *, organization: Organization, user: User, role: Role, actor: User | None = None
) -> Membership:
    """Add a member or change their role. Refuses to leave an organization without an owner."""
    _lock_organization(organization)
    membership = (
        Membership.objects.select_for_update().filter(organization=organization, user=user).first()
    )
    previous = membership.role if membership else None
    if previous == Role.OWNER and role != Role.OWNER:
        _ensure_another_owner(organization=organization, leaving=user)
    if membership is None:
        membership = Membership.objects.create(organization=organization, user=user, role=role)
    elif previous != role:
        membership.role = role
        membership.save(update_fields=["role"])
    if previous != role:
        audit_record(
            action="member.added" if previous is None else "member.role_changed",
            organization=organization,
            actor=actor,
            target=user,
            data={"role": str(role), "previous_role": previous},
        )
    return membership


@transaction.atomic
def membership_remove(*, organization: Organization, user: User, actor: User | None = None) -> None:
    """Take a user out of an organization (never its last owner)."""
    _lock_organization(organization)
    membership = (
        Membership.objects.select_for_update().filter(organization=organization, user=user).first()
    )
    if membership is None:
        return
    if membership.role == Role.OWNER:
        _ensure_another_owner(organization=organization, leaving=user)
    membership.delete()
    audit_record(action="member.removed", organization=organization, actor=actor, target=user)


def _lock_organization(organization: Organization) -> None:
    """Membership changes of one organization take turns: the organization row is the mutex, so
    two concurrent demotions cannot both see "another owner", and cannot deadlock either."""
    Organization.objects.select_for_update().filter(pk=organization.pk).values_list("pk").first()


def _ensure_another_owner(*, organization: Organization, leaving: User) -> None:
    owners = list(
        Membership.objects.filter(organization=organization, role=Role.OWNER).values_list(
            "user_id", flat=True
        )
    )
    if not [uid for uid in owners if uid != leaving.pk]:
        raise OwnerRequiredError("An organization must keep at least one owner.")


@dataclass(frozen=True)
class IssuedAPIKey:
    api_key: APIKey
    token: str  # shown to the user once, never stored


def _hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    name: str,
    scopes: list[str],
    created_by: User | None = None,
    expires_at: datetime | None = None,
) -> IssuedAPIKey:
    """Issue a key. The returned token is the only time the secret exists outside the caller."""
    unknown = sorted(set(scopes) - {s.value for s in Scope})
    if unknown:
        raise ValidationError({"scopes": f"Unknown scopes: {', '.join(unknown)}."})
    if not scopes:
        raise ValidationError({"scopes": "Choose at least one scope."})
    prefix = API_KEY_PREFIX + secrets.token_hex(4)
    token = f"{prefix}_{secrets.token_urlsafe(32)}"
    api_key = APIKey(
        organization=organization,
        name=name,
        prefix=prefix,
        secret_hash=_hash_secret(token),
        scopes=sorted(set(scopes)),
        created_by=created_by,
        expires_at=expires_at,
    )
    api_key.full_clean()
    api_key.save()
    audit_record(
        action="apikey.created",
        organization=organization,
        actor=created_by,
        target=api_key,
        data={"name": name, "prefix": prefix, "scopes": api_key.scopes},
    )
    return IssuedAPIKey(api_key=api_key, token=token)


@transaction.atomic
def api_key_revoke(*, api_key: APIKey, actor: User | None = None) -> APIKey:
    """Stop a key working, at once and for good. Revoking twice is a no-op."""
    locked = APIKey.objects.select_for_update().get(pk=api_key.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(
            action="apikey.revoked",
            organization=locked.organization,
            actor=actor,
            target=locked,
            data={"prefix": locked.prefix},
        )
    return locked


def api_key_authenticate(token: str) -> APIKey | None:
    """The active key this token belongs to, or None. Touches last_used_at at most once a minute."""
    if not token.startswith(API_KEY_PREFIX) or len(token) > 200:
        return None
    digest = _hash_secret(token)
    api_key = APIKey.objects.select_related("organization").filter(secret_hash=digest).first()
    # The lookup is by hash, so timing reveals nothing about the secret; the compare is belt
    # and braces against a future change of lookup.
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, digest):
        return None
    if not api_key.is_active or not api_key.organization.is_active:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > API_KEY_LAST_USED_RESOLUTION:
        APIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
