"""Who a step's targets mean at a given moment. The engine asks when the step runs, never at
trigger time: a schedule's on-call person is whoever is on call when the page goes out.

A resolver reads everything once for all the targets and moments it is given (the dry run
asks about every level of a policy at once): memberships, teams and schedule specs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oncall.models import Schedule, Team, TeamMembership, TeamRole
from oncall.selectors import oncall_user_ids_at_times
from opsknight.models import Membership


@dataclass
class Resolution:
    user_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why a target reached nobody

    def add(self, ids: Iterable[int]) -> None:
        for user_id in ids:
            if user_id not in self.user_ids:
                self.user_ids.append(user_id)


class TargetResolver:
    """Only active members of the organization count: a person removed since the policy was
    frozen is not paged. Deleted teams and schedules reach nobody, with a note saying so."""

    def __init__(
        self, organization_id: int, targets: Iterable[dict[str, Any]], times: Sequence[datetime]
    ) -> None:
        ids: dict[str, set[int]] = {"user": set(), "team": set(), "schedule": set()}
        for target in targets:
            ids[target["type"]].add(target["id"])
        self.teams = set(
            Team.objects.filter(organization_id=organization_id, pk__in=ids["team"]).values_list(
                "pk", flat=True
            )
        )
        self.team_rows = list(
            TeamMembership.objects.filter(team_id__in=self.teams)
            .order_by("team_id", "id")
            .values_list("team_id", "user_id", "role", "receives_team_notifications")
        )
        self.oncall: dict[datetime, dict[int, tuple[int, ...]]] = {}
        if ids["schedule"]:
            schedules = Schedule.objects.filter(
                organization_id=organization_id, pk__in=ids["schedule"]
            )
            self.oncall = oncall_user_ids_at_times(schedules, times)
        candidates = ids["user"] | {row[1] for row in self.team_rows}
        candidates |= {uid for at in self.oncall.values() for ids_ in at.values() for uid in ids_}
        self.members = set(
            Membership.objects.filter(
                organization_id=organization_id, user_id__in=candidates, user__is_active=True
            ).values_list("user_id", flat=True)
        )

    def _team(self, team_id: int, lead_only: bool) -> list[int]:
        return [
            user_id
            for team, user_id, role, receives in self.team_rows
            if team == team_id
            and user_id in self.members
            and (role == TeamRole.LEAD if lead_only else receives)
        ]

    def resolve(self, targets: Iterable[dict[str, Any]], at: datetime) -> Resolution:
        """The people `targets` mean at `at`, each once, in target order."""
        result = Resolution()
        for target in targets:
            kind, pk, name = target["type"], target["id"], target.get("name", "")
            if kind == "user":
                if pk in self.members:
                    result.add([pk])
                else:
                    label = name or f"user {pk}"
                    result.notes.append(f"{label} is no longer an active member")
            elif kind == "team":
                if pk not in self.teams:
                    result.notes.append(f"team {name or pk} no longer exists")
                    continue
                found = self._team(pk, bool(target.get("lead_only")))
                if not found:
                    who = "no lead" if target.get("lead_only") else "nobody to notify"
                    result.notes.append(f"team {name or pk} has {who}")
                result.add(found)
            else:
                at_time = self.oncall.get(at, {})
                if pk not in at_time:
                    result.notes.append(f"schedule {name or pk} no longer exists")
                    continue
                found = [uid for uid in at_time[pk] if uid in self.members]
                if not found:
                    result.notes.append(f"nobody is on call in {name or 'schedule ' + str(pk)}")
                result.add(found)
        return result


def resolve_targets(
    organization_id: int, targets: Iterable[dict[str, Any]], at: datetime
) -> Resolution:
    targets = list(targets)
    return TargetResolver(organization_id, targets, [at]).resolve(targets, at)
