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
    if lead is not None:
        TeamMembership.objects.create(team=team, user=lead, role=TeamRole.LEAD)
    for user in members:
        if user != lead:
            TeamMembership.objects.create(team=team, user=user, role=TeamRole.MEMBER)
    return team
