"""The role matrix, written out by hand so that a change to permissions.py must change it too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from opsknight.models import Role
from opsknight.permissions import Action, Scope, can, require, role_allows, scopes_allow
from opsknight.services import api_key_create, api_key_revoke
from tests.opsknight.factories import UserFactory, member

A = Action
V, R, M, AD, OW = "viewer", "responder", "manager", "admin", "owner"

# action -> the roles that may perform it
EXPECTED = {
    A.INCIDENT_VIEW: {V, R, M, AD, OW},
    A.SERVICE_VIEW: {V, R, M, AD, OW},
    A.SCHEDULE_VIEW: {V, R, M, AD, OW},
    A.ESCALATION_VIEW: {V, R, M, AD, OW},
    A.TEAM_VIEW: {V, R, M, AD, OW},
    A.MEMBER_VIEW: {V, R, M, AD, OW},
    A.INCIDENT_CREATE: {R, M, AD, OW},
    A.INCIDENT_RESPOND: {R, M, AD, OW},
    A.INCIDENT_NOTE: {R, M, AD, OW},
    A.OVERRIDE_SELF: {R, M, AD, OW},
    A.EVENTS_SEND: {R, M, AD, OW},
    A.SERVICE_MANAGE: {M, AD, OW},
    A.SCHEDULE_MANAGE: {M, AD, OW},
    A.ESCALATION_MANAGE: {M, AD, OW},
    A.TEAM_MANAGE: {M, AD, OW},
    A.INTEGRATION_MANAGE: {M, AD, OW},
    A.OVERRIDE_ANY: {M, AD, OW},
    A.MEMBER_MANAGE: {AD, OW},
    A.APIKEY_MANAGE: {AD, OW},
    A.AUDIT_VIEW: {AD, OW},
    A.ORGANIZATION_SETTINGS: {AD, OW},
    A.OWNER_MANAGE: {OW},
    A.ORGANIZATION_DELETE: {OW},
}


def test_matrix_covers_every_action():
    assert set(EXPECTED) == set(Action)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_role_allowances(role, action):
    assert role_allows(role, action) is (role.value in EXPECTED[action])


@pytest.mark.parametrize("role", list(Role))
def test_can_asks_the_membership_of_that_organization(org, other_org, role):
    user = member(org, role)
    for action in Action:
        assert can(user, org, action) is (role.value in EXPECTED[action])
        assert can(user, other_org, action) is False, "no membership there, no rights there"


def test_superuser_may_do_anything_anywhere(org):
    root = UserFactory(is_superuser=True, is_staff=True)
    assert all(can(root, org, action) for action in Action)


def test_inactive_user_may_do_nothing(org):
    user = member(org, Role.OWNER, is_active=False)
    assert not any(can(user, org, action) for action in Action)


def test_members_of_a_deactivated_organization_may_do_nothing_there(org):
    owner = member(org, Role.OWNER)
    org.is_active = False
    org.save()
    assert not any(can(owner, org, action) for action in Action)


def test_require_raises_permission_denied(org):
    viewer = member(org, Role.VIEWER)
    require(viewer, org, A.INCIDENT_VIEW)
    with pytest.raises(PermissionDenied, match=r"incident\.respond"):
        require(viewer, org, A.INCIDENT_RESPOND)


def test_scopes_grant_only_their_actions():
    assert scopes_allow([Scope.EVENTS_WRITE], A.EVENTS_SEND)
    assert not scopes_allow([Scope.EVENTS_WRITE], A.INCIDENT_VIEW)
    assert scopes_allow([Scope.INCIDENTS_READ], A.INCIDENT_VIEW)
    assert not scopes_allow([Scope.INCIDENTS_READ], A.INCIDENT_RESPOND)
    assert not scopes_allow(["no-such-scope"], A.INCIDENT_VIEW)
    # No scope grants people or key management: a leaked key cannot mint more keys.
    for scope in Scope:
        for action in (A.APIKEY_MANAGE, A.MEMBER_MANAGE, A.OWNER_MANAGE, A.ORGANIZATION_DELETE):
            assert not scopes_allow([scope], action)


def test_api_key_acts_only_in_its_organization_while_active(org, other_org):
    key = api_key_create(organization=org, name="ci", scopes=[Scope.INCIDENTS_READ]).api_key
    assert can(key, org, A.INCIDENT_VIEW)
    assert not can(key, other_org, A.INCIDENT_VIEW)
    api_key_revoke(api_key=key)
    key.refresh_from_db()
    assert not can(key, org, A.INCIDENT_VIEW)


def test_expired_api_key_may_do_nothing(org):
    key = api_key_create(
        organization=org,
        name="old",
        scopes=[Scope.INCIDENTS_READ],
        expires_at=timezone.now() - timedelta(seconds=1),
    ).api_key
    assert not can(key, org, A.INCIDENT_VIEW)
