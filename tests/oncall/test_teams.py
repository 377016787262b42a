from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from oncall.models import Team, TeamRole
from oncall.services import team_create
from opsknight.models import Role
from tests.opsknight.factories import member

pytestmark = pytest.mark.django_db


def test_team_with_lead_and_members(org):
    lead, colleague = member(org, Role.MANAGER), member(org, Role.RESPONDER)
    team = team_create(organization=org, name="Platform", lead=lead, members=[lead, colleague])
    roles = dict(team.memberships.values_list("user_id", "role"))
    assert roles == {lead.pk: TeamRole.LEAD, colleague.pk: TeamRole.MEMBER}


def test_a_team_cannot_hold_people_of_another_organization(org, other_org):
    outsider = member(other_org, Role.RESPONDER)
    with pytest.raises(ValidationError, match="not a member of the team's organization"):
        team_create(organization=org, name="Platform", members=[outsider])
    assert not Team.objects.exists()
