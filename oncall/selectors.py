"""Reads of on-call data: who is on call, shifts, hand-offs, schedule health.

Schedules are loaded in one query however many are asked about (`oncall.loading`), turned into
`oncall.rotation` specs, and computed there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from oncall.loading import schedule_specs
from oncall.models import (
    LayerSource,
    Schedule,
    Team,
    TeamMembership,
    TeamRole,
)
from oncall.rotation import (
    Block,
    ScheduleSpec,
    final_schedule,
    handoffs,
    oncall_at,
)
from opsknight.models import Organization, User

HEALTH_HORIZON = timedelta(days=14)
HANDOFF_HORIZON = timedelta(days=90)


# --- teams ----------------------------------------------------------------------------------


def user_teams(*, user: User, organization: Organization | None = None) -> QuerySet[Team]:
    teams = Team.objects.filter(memberships__user=user)
    if organization is not None:
        teams = teams.filter(organization=organization)
    return teams.distinct()


def team_leads(*, team: Team) -> QuerySet[User]:
    return User.objects.filter(team_memberships__team=team, team_memberships__role=TeamRole.LEAD)


def team_notification_recipients(*, team: Team) -> QuerySet[User]:
    return User.objects.filter(
        pk__in=TeamMembership.objects.filter(team=team, receives_team_notifications=True).values(
            "user_id"
        ),
        is_active=True,
    )


# --- schedules as specs ---------------------------------------------------------------------


def organization_schedules(*, organization: Organization) -> QuerySet[Schedule]:
    return Schedule.objects.filter(organization=organization).select_related("team")


def schedule_spec(
    schedule: Schedule, *, start: datetime | None = None, end: datetime | None = None
) -> ScheduleSpec:
    return schedule_specs(Schedule.objects.filter(pk=schedule.pk), start=start, end=end)[
        schedule.pk
    ]


# --- who and when ---------------------------------------------------------------------------


def _users(ids: Iterable[int]) -> list[User]:
    wanted = list(ids)
    found = User.objects.in_bulk(wanted)
    return [found[i] for i in wanted if i in found]


def oncall_users_at(schedule: Schedule, at: datetime | None = None) -> list[User]:
    """Who is on call in `schedule` at `at` (default now); empty in a gap."""
    at = at or timezone.now()
    spec = schedule_spec(schedule, start=at, end=at + timedelta(microseconds=1))
    return _users(oncall_at(spec, at))


def oncall_user_ids(
    schedules: QuerySet[Schedule] | Iterable[int], at: datetime | None = None
) -> dict[int, tuple[int, ...]]:
    """Who is on call at `at` (default now) in each of many schedules: one query in all."""
    at = at or timezone.now()
    specs = schedule_specs(schedules, start=at, end=at + timedelta(microseconds=1))
    return {schedule_id: oncall_at(spec, at) for schedule_id, spec in specs.items()}


def oncall_user_ids_at_times(
    schedules: QuerySet[Schedule] | Iterable[int], times: Iterable[datetime]
) -> dict[datetime, dict[int, tuple[int, ...]]]:
    """Who is on call in each schedule at each of `times` (an escalation dry run asks this
    for every level): one query in all, however many schedules and times."""
    times = sorted(set(times))
    if not times:
        return {}
    specs = schedule_specs(schedules, start=times[0], end=times[-1] + timedelta(microseconds=1))
    return {at: {pk: oncall_at(spec, at) for pk, spec in specs.items()} for at in times}


def shifts_between(schedule: Schedule, start: datetime, end: datetime) -> list[Block]:
    """The final schedule over [start, end): blocks tiling it, gaps as blocks without users."""
    return final_schedule(schedule_spec(schedule, start=start, end=end), start, end)


@dataclass(frozen=True)
class Handoff:
    at: datetime
    before: tuple[int, ...]
    after: tuple[int, ...]


def next_handoff(
    schedule: Schedule, after: datetime | None = None, horizon: timedelta = HANDOFF_HORIZON
) -> Handoff | None:
    """The next change of who is on call after `after` (default now), within `horizon`."""
    after = after or timezone.now()
    changes = handoffs(shifts_between(schedule, after, after + horizon))
    return Handoff(*changes[0]) if changes else None


@dataclass(frozen=True)
class UserShift:
    schedule: Schedule
    start: datetime
    end: datetime


def user_shifts(
    user: User, start: datetime, end: datetime, *, organization: Organization | None = None
) -> list[UserShift]:
    """A person's shifts in [start, end) across every schedule they could appear in.

    That is schedules where they are in a rotation or have an override, and schedules with an
    imported calendar in their organizations (a calendar names people by email, not by row).
    """
    candidates = Schedule.objects.filter(
        Q(layers__participants__user=user)
        | Q(overrides__user=user, overrides__end__gt=start)
        | Q(layers__source=LayerSource.ICAL, organization__memberships__user=user)
    )
    if organization is not None:
        candidates = candidates.filter(organization=organization)
    schedules = {schedule.pk: schedule for schedule in candidates.distinct()}
    specs = schedule_specs(schedules, start=start, end=end)
    shifts = [
        UserShift(schedules[schedule_id], block.start, block.end)
        for schedule_id, spec in specs.items()
        for block in final_schedule(spec, start, end)
        if user.pk in block.users
    ]
    return sorted(shifts, key=lambda shift: (shift.start, shift.schedule.name))


@dataclass(frozen=True)
class ScheduleHealth:
    gaps: list[Block]
    single_person_layers: list[int]
    empty_layers: list[int]
    layers_ending_soon: list[int]

    @property
    def healthy(self) -> bool:
        return not (self.gaps or self.single_person_layers or self.empty_layers)


def schedule_health(
    schedule: Schedule, now: datetime | None = None, horizon: timedelta = HEALTH_HORIZON
) -> ScheduleHealth:
    """Gaps in the next `horizon`, layers with one or no person, layers ending within it."""
    now = now or timezone.now()
    spec = schedule_spec(schedule, start=now, end=now + horizon)
    blocks = final_schedule(spec, now, now + horizon)
    rotations = [layer for layer in spec.layers if layer.fixed_blocks is None]
    return ScheduleHealth(
        gaps=[block for block in blocks if block.is_gap],
        single_person_layers=[layer.id for layer in rotations if len(set(layer.participants)) == 1],
        empty_layers=[layer.id for layer in rotations if not layer.participants],
        layers_ending_soon=[
            layer.id
            for layer in spec.layers
            if layer.end is not None and now <= layer.end < now + horizon
        ],
    )
