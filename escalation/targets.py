"""Who a step's targets mean right now. Asked when the step runs, never at trigger time:
a schedule's on-call person is whoever is on call when the page goes out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oncall.models import Schedule, Team, TeamMembership, TeamRole
from oncall.selectors import oncall_user_ids
from opsknight.models import Membership


@dataclass
class Resolution:
    user_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why a target reached nobody

    def add(self, ids: Iterable[int]) -> None:
        for user_id in ids:
            if user_id not in self.user_ids:
                self.user_ids.append(user_id)


def _team_people(team_ids: list[int], lead_only_ids: set[int]) -> dict[int, list[int]]:
    people: dict[int, list[int]] = {pk: [] for pk in team_ids}
    rows = (
        TeamMembership.objects.filter(team_id__in=team_ids, user__is_active=True)
        .order_by("team_id", "id")
        .values_list("team_id", "user_id", "role", "receives_team_notifications")
    )
    for team_id, user_id, role, receives in rows:
        if team_id in lead_only_ids:
            if role == TeamRole.LEAD:
                people[team_id].append(user_id)
        elif receives:
            people[team_id].append(user_id)
    return people


def resolve_targets(
    organization_id: int, targets: Iterable[dict[str, Any]], at: datetime
) -> Resolution:
    """The people `targets` mean at `at`, each once, in target order.

    Only active members of the organization count: a person removed since the policy was
    frozen is not paged. Deleted teams and schedules reach nobody, with a note saying so.
    """
    targets = list(targets)
    by_type: dict[str, list[int]] = {"user": [], "team": [], "schedule": []}
    for target in targets:
        by_type[target["type"]].append(target["id"])
    members = set(
        Membership.objects.filter(
            organization_id=organization_id,
            user_id__in=by_type["user"] + _all_team_user_ids(by_type["team"]),
            user__is_active=True,
        ).values_list("user_id", flat=True)
    )
    teams = set(
        Team.objects.filter(organization_id=organization_id, pk__in=by_type["team"]).values_list(
            "pk", flat=True
        )
    )
    lead_only = {t["id"] for t in targets if t["type"] == "team" and t.get("lead_only")}
    team_people = _team_people(sorted(teams), lead_only)
    schedules = Schedule.objects.filter(organization_id=organization_id, pk__in=by_type["schedule"])
    oncall = oncall_user_ids(schedules, at) if by_type["schedule"] else {}
    oncall_ids = {uid for ids in oncall.values() for uid in ids}
    if oncall_ids:
        members |= set(
            Membership.objects.filter(
                organization_id=organization_id, user_id__in=oncall_ids, user__is_active=True
            ).values_list("user_id", flat=True)
        )

    result = Resolution()
    for target in targets:
        kind, pk, name = target["type"], target["id"], target.get("name", "")
        if kind == "user":
            if pk in members:
                result.add([pk])
            else:
                result.notes.append(f"{name or 'user ' + str(pk)} is no longer an active member")
        elif kind == "team":
            if pk not in teams:
                result.notes.append(f"team {name or pk} no longer exists")
                continue
            found = [uid for uid in team_people[pk] if uid in members]
            if not found:
                who = "no lead" if pk in lead_only else "nobody to notify"
                result.notes.append(f"team {name or pk} has {who}")
            result.add(found)
        else:
            if pk not in oncall:
                result.notes.append(f"schedule {name or pk} no longer exists")
                continue
            found = [uid for uid in oncall[pk] if uid in members]
            if not found:
                result.notes.append(f"nobody is on call in {name or 'schedule ' + str(pk)}")
            result.add(found)
    return result


def _all_team_user_ids(team_ids: list[int]) -> list[int]:
    if not team_ids:
        return []
    return list(
        TeamMembership.objects.filter(team_id__in=team_ids).values_list("user_id", flat=True)
    )
