"""What the Schedule admin page shows besides its forms: the final schedule and its health.

The preview is `shifts_between` over 14 calendar days of the schedule's zone, cut at local
midnights, so each row is one local day (23 or 25 hours when the clocks change) and every time
on it is the wall-clock time people in that zone see. It shows the saved rows: what pages
people, not what the form on the page would change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from django.utils import timezone

from oncall.models import Layer, LayerRestriction, RestrictionKind, Schedule, Weekday
from oncall.rotation import Block, localize, zone
from oncall.selectors import schedule_health, shifts_between
from opsknight.models import User

PREVIEW_DAYS = 14
GAPS_LISTED = 20
_WEEKDAYS = [label[:3] for _, label in Weekday.choices]


@dataclass(frozen=True)
class Segment:
    """Part of one block inside one local day; `width` is its share of that day in percent."""

    start: str
    end: str
    names: tuple[str, ...]
    width: str
    colour: int

    @property
    def is_gap(self) -> bool:
        return not self.names

    @property
    def label(self) -> str:
        return ", ".join(self.names) if self.names else "Gap"


@dataclass(frozen=True)
class PreviewDay:
    day: date
    segments: tuple[Segment, ...]

    @property
    def iso(self) -> str:
        return self.day.isoformat()

    @property
    def label(self) -> str:
        return f"{self.day:%a %d %b}"


@dataclass(frozen=True)
class Span:
    start: str
    end: str


@dataclass(frozen=True)
class HealthSummary:
    """`schedule_health` from now, with names and local times instead of ids and UTC."""

    gap_count: int
    gaps: list[Span]
    single_person_layers: list[str]
    empty_layers: list[str]
    layers_ending_soon: list[tuple[str, str]]

    @property
    def healthy(self) -> bool:
        return not (self.gap_count or self.single_person_layers or self.empty_layers)


@dataclass(frozen=True)
class SchedulePreview:
    time_zone: str
    first_day: date
    days: tuple[PreviewDay, ...]
    health: HealthSummary

    @property
    def previous(self) -> str:
        return (self.first_day - timedelta(days=PREVIEW_DAYS)).isoformat()

    @property
    def next(self) -> str:
        return (self.first_day + timedelta(days=PREVIEW_DAYS)).isoformat()


def _local_text(instant: datetime, tz: ZoneInfo) -> str:
    return f"{instant.astimezone(tz):%a %d %b %H:%M}"


def _names(blocks: list[Block]) -> dict[int, str]:
    ids = {user_id for block in blocks for user_id in block.users}
    return {user.pk: str(user) for user in User.objects.filter(pk__in=ids)}


def _day_segments(
    blocks: list[Block],
    day_start: datetime,
    day_end: datetime,
    tz: ZoneInfo,
    names: dict[int, str],
) -> tuple[Segment, ...]:
    length = (day_end - day_start).total_seconds()
    segments = []
    for block in blocks:
        start, end = max(block.start, day_start), min(block.end, day_end)
        if start >= end:
            continue
        segments.append(
            Segment(
                start=f"{start.astimezone(tz):%H:%M}",
                end="24:00" if end == day_end else f"{end.astimezone(tz):%H:%M}",
                names=tuple(names.get(user_id, f"#{user_id}") for user_id in block.users),
                width=f"{(end - start).total_seconds() / length * 100:.3f}",
                colour=block.users[0] % 6 if block.users else 0,
            )
        )
    return tuple(segments)


def _health(schedule: Schedule, tz: ZoneInfo, now: datetime) -> HealthSummary:
    health = schedule_health(schedule, now)
    layers = {
        row["id"]: row
        for row in Layer.objects.filter(schedule=schedule).values("id", "name", "end")
    }
    return HealthSummary(
        gap_count=len(health.gaps),
        gaps=[
            Span(_local_text(gap.start, tz), _local_text(gap.end, tz))
            for gap in health.gaps[:GAPS_LISTED]
        ],
        single_person_layers=[layers[i]["name"] for i in health.single_person_layers],
        empty_layers=[layers[i]["name"] for i in health.empty_layers],
        layers_ending_soon=[
            (layers[i]["name"], _local_text(layers[i]["end"], tz))
            for i in health.layers_ending_soon
        ],
    )


def schedule_preview(
    schedule: Schedule, *, first_day: date | None = None, now: datetime | None = None
) -> SchedulePreview:
    """The final schedule over 14 local days from `first_day` (default today), and its health."""
    tz = zone(schedule.time_zone)
    now = now or timezone.now()
    first_day = first_day or now.astimezone(tz).date()
    bounds = [
        localize(datetime.combine(first_day + timedelta(days=offset), time(0)), tz)
        for offset in range(PREVIEW_DAYS + 1)
    ]
    blocks = shifts_between(schedule, bounds[0], bounds[-1])
    names = _names(blocks)
    days = tuple(
        PreviewDay(
            day=first_day + timedelta(days=index),
            segments=_day_segments(blocks, day_start, day_end, tz, names),
        )
        for index, (day_start, day_end) in enumerate(pairwise(bounds))
    )
    return SchedulePreview(
        time_zone=schedule.time_zone,
        first_day=first_day,
        days=days,
        health=_health(schedule, tz, now),
    )


def restriction_text(restriction: LayerRestriction) -> str:
    """One restriction in words, e.g. "Mon, Tue 09:00-17:00" or "Fri 17:00 → Mon 09:00"."""
    start, end = f"{restriction.start_time:%H:%M}", f"{restriction.end_time:%H:%M}"
    if restriction.kind == RestrictionKind.WEEKLY:
        start_day = _WEEKDAYS[restriction.start_weekday or 0]
        end_day = _WEEKDAYS[restriction.end_weekday or 0]
        return f"{start_day} {start} → {end_day} {end}"
    days = ", ".join(_WEEKDAYS[day] for day in sorted(restriction.days or [])) or "Every day"
    return f"{days} {start}-{end}"
