"""The one place that says who may do what. API, UI, admin, Slack and SMS actions all ask here.

Roles are cumulative: each role may do everything the role below it may. API keys carry
scopes instead of a role; a scope grants a fixed set of actions in the key's organization.
"""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied

from opsknight.models import APIKey, Organization, Role, User
from opsknight.selectors import membership_role


class Action(StrEnum):
    # viewer
    INCIDENT_VIEW = "incident.view"
    SERVICE_VIEW = "service.view"
    SCHEDULE_VIEW = "schedule.view"
    ESCALATION_VIEW = "escalation.view"
    TEAM_VIEW = "team.view"
    MEMBER_VIEW = "member.view"
    # responder
    INCIDENT_CREATE = "incident.create"
    INCIDENT_RESPOND = "incident.respond"  # acknowledge, snooze, resolve, reassign, escalate
    INCIDENT_NOTE = "incident.note"
    OVERRIDE_SELF = "override.self"  # cover a shift themselves, swap shifts
    EVENTS_SEND = "events.send"
    # manager
    SERVICE_MANAGE = "service.manage"
    SCHEDULE_MANAGE = "schedule.manage"
    ESCALATION_MANAGE = "escalation.manage"
    TEAM_MANAGE = "team.manage"
    INTEGRATION_MANAGE = "integration.manage"
    OVERRIDE_ANY = "override.any"
    # admin
    MEMBER_MANAGE = "member.manage"
    APIKEY_MANAGE = "apikey.manage"
    AUDIT_VIEW = "audit.view"
    ORGANIZATION_SETTINGS = "organization.settings"
    # owner
    OWNER_MANAGE = "owner.manage"  # grant or remove the owner role
    ORGANIZATION_DELETE = "organization.delete"


_VIEWER = frozenset(
    {
        Action.INCIDENT_VIEW,
        Action.SERVICE_VIEW,
        Action.SCHEDULE_VIEW,
        Action.ESCALATION_VIEW,
        Action.TEAM_VIEW,
        Action.MEMBER_VIEW,
    }
)
_RESPONDER = _VIEWER | {
    Action.INCIDENT_CREATE,
    Action.INCIDENT_RESPOND,
    Action.INCIDENT_NOTE,
    Action.OVERRIDE_SELF,
    Action.EVENTS_SEND,
}
_MANAGER = _RESPONDER | {
    Action.SERVICE_MANAGE,
    Action.SCHEDULE_MANAGE,
    Action.ESCALATION_MANAGE,
    Action.TEAM_MANAGE,
    Action.INTEGRATION_MANAGE,
    Action.OVERRIDE_ANY,
}
_ADMIN = _MANAGER | {
    Action.MEMBER_MANAGE,
    Action.APIKEY_MANAGE,
    Action.AUDIT_VIEW,
    Action.ORGANIZATION_SETTINGS,
}
_OWNER = _ADMIN | {Action.OWNER_MANAGE, Action.ORGANIZATION_DELETE}

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.VIEWER: _VIEWER,
    Role.RESPONDER: _RESPONDER,
    Role.MANAGER: _MANAGER,
    Role.ADMIN: _ADMIN,
    Role.OWNER: _OWNER,
}


class Scope(StrEnum):
    EVENTS_WRITE = "events:write"
    INCIDENTS_READ = "incidents:read"
    INCIDENTS_WRITE = "incidents:write"
    SERVICES_READ = "services:read"
    SERVICES_WRITE = "services:write"
    SCHEDULES_READ = "schedules:read"
    SCHEDULES_WRITE = "schedules:write"
    ESCALATION_READ = "escalation:read"
    ESCALATION_WRITE = "escalation:write"


SCOPE_ACTIONS: dict[Scope, frozenset[Action]] = {
    Scope.EVENTS_WRITE: frozenset({Action.EVENTS_SEND}),
    Scope.INCIDENTS_READ: frozenset({Action.INCIDENT_VIEW}),
    Scope.INCIDENTS_WRITE: frozenset(
        {
            Action.INCIDENT_VIEW,
            Action.INCIDENT_CREATE,
            Action.INCIDENT_RESPOND,
            Action.INCIDENT_NOTE,
        }
    ),
    Scope.SERVICES_READ: frozenset({Action.SERVICE_VIEW, Action.TEAM_VIEW}),
    Scope.SERVICES_WRITE: frozenset(
        {Action.SERVICE_VIEW, Action.SERVICE_MANAGE, Action.INTEGRATION_MANAGE}
    ),
    Scope.SCHEDULES_READ: frozenset({Action.SCHEDULE_VIEW, Action.TEAM_VIEW}),
    Scope.SCHEDULES_WRITE: frozenset(
        {Action.SCHEDULE_VIEW, Action.SCHEDULE_MANAGE, Action.OVERRIDE_ANY}
    ),
    Scope.ESCALATION_READ: frozenset({Action.ESCALATION_VIEW}),
    Scope.ESCALATION_WRITE: frozenset({Action.ESCALATION_VIEW, Action.ESCALATION_MANAGE}),
}
SCOPE_CHOICES = [(scope.value, scope.value) for scope in Scope]


def role_allows(role: Role | str | None, action: Action) -> bool:
    if role is None:
        return False
    return action in ROLE_ACTIONS[Role(role)]


_SCOPE_BY_VALUE: dict[str, Scope] = {scope.value: scope for scope in Scope}


def scopes_allow(scopes: list[str], action: Action) -> bool:
    """Unknown scope strings (say, from a newer version's key) grant nothing."""
    return any(action in SCOPE_ACTIONS[_SCOPE_BY_VALUE[s]] for s in scopes if s in _SCOPE_BY_VALUE)


def roles_that_may(action: Action) -> set[Role]:
    """Roles that may perform `action`: used to build queries like "who can manage services"."""
    return {role for role, actions in ROLE_ACTIONS.items() if action in actions}


def can(actor: User | APIKey | None, organization: Organization | int, action: Action) -> bool:
    """May this user or API key perform `action` in `organization`?

    Superusers are platform operators: they may do anything anywhere. Inactive users and
    revoked or expired keys may do nothing.
    """
    org_id = organization if isinstance(organization, int) else organization.pk
    if actor is None:
        return False
    if isinstance(actor, APIKey):
        return (
            actor.is_active
            and actor.organization_id == org_id
            and scopes_allow(actor.scopes, action)
        )
    if not actor.is_authenticated or not actor.is_active:
        return False
    if actor.is_superuser:
        return True
    return role_allows(membership_role(user=actor, organization_id=org_id), action)


def require(actor: User | APIKey | None, organization: Organization | int, action: Action) -> None:
    """Raise PermissionDenied (403 in views and the API) unless `can(...)`."""
    if not can(actor, organization, action):
        raise PermissionDenied(f"Not allowed: {action}.")
