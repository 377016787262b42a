from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from opsknight.models import APIKey, AuditEvent, Membership, Role
from opsknight.services import (
    OwnerRequiredError,
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    membership_remove,
    membership_set,
    organization_create,
)
from tests.opsknight.factories import UserFactory, member


def test_api_key_secret_is_stored_only_as_a_hash(org):
    admin = member(org, Role.ADMIN)
    issued = api_key_create(organization=org, name="ci", scopes=["events:write"], created_by=admin)
    stored = APIKey.objects.get(pk=issued.api_key.pk)
    assert issued.token.startswith(stored.prefix + "_")
    assert stored.secret_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    secret_part = issued.token.removeprefix(stored.prefix + "_")
    row = APIKey.objects.filter(pk=stored.pk).values().get()
    assert not any(secret_part in str(value) for value in row.values())
    event = AuditEvent.objects.get(action="apikey.created")
    assert event.actor == admin
    assert event.data == {"name": "ci", "prefix": stored.prefix, "scopes": ["events:write"]}
    assert issued.token not in str(event.data)


def test_api_key_authenticates_until_revoked(org):
    issued = api_key_create(organization=org, name="ci", scopes=["events:write"])
    assert api_key_authenticate(issued.token) == issued.api_key
    assert api_key_authenticate(issued.token[:-1] + "x") is None
    assert api_key_authenticate("ok_nothing") is None
    assert api_key_authenticate("not-even-our-format") is None
    api_key_revoke(api_key=issued.api_key)
    assert api_key_authenticate(issued.token) is None
    assert AuditEvent.objects.filter(action="apikey.revoked").count() == 1
    api_key_revoke(api_key=issued.api_key)  # idempotent: no second audit row
    assert AuditEvent.objects.filter(action="apikey.revoked").count() == 1


def test_api_key_of_a_deactivated_organization_does_not_authenticate(org):
    issued = api_key_create(organization=org, name="ci", scopes=["events:write"])
    org.is_active = False
    org.save()
    assert api_key_authenticate(issued.token) is None


def test_expired_api_key_does_not_authenticate(org):
    issued = api_key_create(
        organization=org,
        name="ci",
        scopes=["events:write"],
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert api_key_authenticate(issued.token) is None


def test_last_used_is_written_at_most_once_a_minute(org):
    issued = api_key_create(organization=org, name="ci", scopes=["events:write"])
    api_key_authenticate(issued.token)
    first = APIKey.objects.get(pk=issued.api_key.pk).last_used_at
    assert first is not None
    api_key_authenticate(issued.token)
    assert APIKey.objects.get(pk=issued.api_key.pk).last_used_at == first
    APIKey.objects.filter(pk=issued.api_key.pk).update(last_used_at=first - timedelta(minutes=2))
    api_key_authenticate(issued.token)
    assert APIKey.objects.get(pk=issued.api_key.pk).last_used_at > first


@pytest.mark.parametrize(
    ("scopes", "message"),
    [([], "at least one scope"), (["events:write", "root:all"], "Unknown scopes: root:all")],
)
def test_api_key_scopes_are_validated(org, scopes, message):
    with pytest.raises(ValidationError, match=message):
        api_key_create(organization=org, name="bad", scopes=scopes)
    assert not APIKey.objects.exists()


def test_organization_create_makes_the_creator_owner(db):
    founder = UserFactory()
    org = organization_create(name="Initech Labs", owner=founder)
    assert org.slug == "initech-labs"
    assert Membership.objects.get(organization=org, user=founder).role == Role.OWNER


def test_last_owner_cannot_be_demoted_or_removed(org):
    owner = member(org, Role.OWNER)
    with pytest.raises(OwnerRequiredError):
        membership_set(organization=org, user=owner, role=Role.ADMIN)
    with pytest.raises(OwnerRequiredError):
        membership_remove(organization=org, user=owner)
    second = member(org, Role.OWNER)
    membership_set(organization=org, user=owner, role=Role.ADMIN)
    assert Membership.objects.get(organization=org, user=owner).role == Role.ADMIN
    with pytest.raises(OwnerRequiredError):
        membership_remove(organization=org, user=second)


def test_membership_changes_are_audited(org):
    admin = member(org, Role.ADMIN)
    user = UserFactory()
    membership_set(organization=org, user=user, role=Role.VIEWER, actor=admin)
    membership_set(organization=org, user=user, role=Role.RESPONDER, actor=admin)
    membership_set(organization=org, user=user, role=Role.RESPONDER, actor=admin)  # no change
    membership_remove(organization=org, user=user, actor=admin)
    actions = list(
        AuditEvent.objects.filter(organization=org, actor=admin)
        .order_by("id")
        .values_list("action", "data")
    )
    assert actions == [
        ("member.added", {"role": "viewer", "previous_role": None}),
        ("member.role_changed", {"role": "responder", "previous_role": "viewer"}),
        ("member.removed", {}),
    ]
