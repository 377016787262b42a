"""Reads of on-call data: who is on call, shifts, hand-offs, schedule health.

Rows are loaded with `values()` in a fixed number of queries however many schedules are asked
about, turned into `oncall.rotation` specs, and computed there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Case, F, Q, QuerySet, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from oncall.models import (
    Layer,
    LayerParticipant,
    LayerRestriction,
    LayerSource,
    Override,
    RestrictionKind,
    RotationType,
    RotationUnit,
    Schedule,
    Team,
    TeamMembership,
    TeamRole,
)
from oncall.rotation import (
    DAILY,
    DAYS,
    HOURS,
    WEEKLY,
    Block,
    LayerSpec,
    OverrideSpec,
    ScheduleSpec,
    Window,
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


def layer_spec(row: dict, participants: tuple[int, ...], windows: tuple[Window, ...]) -> LayerSpec:
    if row["rotation_type"] == RotationType.DAILY:
        length, unit = 1, DAYS
    elif row["rotation_type"] == RotationType.WEEKLY:
        length, unit = 7, DAYS
    else:
        length = row["rotation_length"]
        unit = HOURS if row["rotation_unit"] == RotationUnit.HOURS else DAYS
    fixed = None
    if row["source"] == LayerSource.ICAL:
        fixed = tuple(
            (parse_datetime(s), parse_datetime(e), int(u)) for s, e, u in row["imported"] or ()
        )
    return LayerSpec(
        id=row["id"],
        priority=row["priority"],
        start=row["start"],
        end=row["end"],
        turn_length=length,
        turn_unit=unit,
        handoff_time=row["handoff_time"],
        participants=participants,
        shift_length=row["shift_length"],
        restrictions=windows,
        fixed_blocks=fixed,
    )


def window_spec(row: dict) -> Window:
    if row["kind"] == RestrictionKind.WEEKLY:
        return Window(
            kind=WEEKLY,
            start_time=row["start_time"],
            end_time=row["end_time"],
            start_weekday=row["start_weekday"],
            end_weekday=row["end_weekday"],
        )
    return Window(
        kind=DAILY,
        start_time=row["start_time"],
        end_time=row["end_time"],
        days=frozenset(row["days"] or ()),
    )


_LAYER_FIELDS = (
    "id",
    "schedule_id",
    "priority",
    "source",
    "start",
    "end",
    "rotation_type",
    "rotation_length",
    "rotation_unit",
    "handoff_time",
    "shift_length",
)


def schedule_specs(
    schedules: QuerySet[Schedule] | Iterable[int],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[int, ScheduleSpec]:
    """Specs for many schedules in five queries; overrides only those touching [start, end).

    Pass a QuerySet for many schedules (say, an organization's): it is used as a subquery, so
    the query text does not grow with the number of schedules.
    """
    if not isinstance(schedules, QuerySet):
        schedules = Schedule.objects.filter(pk__in=list(schedules))
    chosen = schedules.values("pk")
    zones = dict(schedules.values_list("id", "time_zone"))
    layer_rows = list(
        Layer.objects.filter(schedule__in=chosen).values(
            *_LAYER_FIELDS,
            # Only imported layers need their blocks: don't decode JSON for every rotation.
            imported=Case(When(source=LayerSource.ICAL, then=F("ical_blocks"))),
        )
    )
    people: dict[int, list[int]] = defaultdict(list)
    for layer_id, user_id in (
        LayerParticipant.objects.filter(layer__schedule__in=chosen)
        .order_by("position", "id")
        .values_list("layer_id", "user_id")
    ):
        people[layer_id].append(user_id)
    windows: dict[int, list[Window]] = defaultdict(list)
    for row in LayerRestriction.objects.filter(layer__schedule__in=chosen).values(
        "layer_id", "kind", "days", "start_weekday", "start_time", "end_weekday", "end_time"
    ):
        windows[row["layer_id"]].append(window_spec(row))
    overrides = Override.objects.filter(schedule__in=chosen)
    if start is not None:
        overrides = overrides.filter(end__gt=start)
    if end is not None:
        overrides = overrides.filter(start__lt=end)
    by_schedule: dict[int, list[OverrideSpec]] = defaultdict(list)
    for row in overrides.values("id", "schedule_id", "user_id", "start", "end", "replaces_id"):
        by_schedule[row["schedule_id"]].append(
            OverrideSpec(row["id"], row["user_id"], row["start"], row["end"], row["replaces_id"])
        )
    layers: dict[int, list[LayerSpec]] = defaultdict(list)
    for row in layer_rows:
        spec = layer_spec(row, tuple(people[row["id"]]), tuple(windows[row["id"]]))
        layers[row["schedule_id"]].append(spec)
    return {
        schedule_id: ScheduleSpec(
            time_zone=zone_name,
            layers=tuple(layers[schedule_id]),
            overrides=tuple(by_schedule[schedule_id]),
        )
        for schedule_id, zone_name in zones.items()
    }


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
    """Who is on call at `at` (default now) in each of many schedules: five queries in all."""
    at = at or timezone.now()
    specs = schedule_specs(schedules, start=at, end=at + timedelta(microseconds=1))
    return {schedule_id: oncall_at(spec, at) for schedule_id, spec in specs.items()}


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
