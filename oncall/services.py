"""Writes of on-call data."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from oncall.models import Team, TeamMembership, TeamRole
from opsknight.models import Organization, User


@transaction.atomic
def team_create(
    *,
    organization: Organization,
    name: str,
    description: str = "",
    lead: User | None = None,
    members: Iterable[User] = (),
) -> Team:
    team = Team(organization=organization, name=name, description=description)
    team.full_clean()
    team.save()
    """A team with its lead and members, all of whom must belong to the organization."""
    people = [(lead, TeamRole.LEAD)] if lead is not None else []
    people += [(user, TeamRole.MEMBER) for user in members if user != lead]
    for user, role in people:
        membership = TeamMembership(team=team, user=user, role=role)
        membership.full_clean()
        membership.save()
    return team
