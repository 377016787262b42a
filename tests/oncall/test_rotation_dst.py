"""Hand-offs across daylight-saving changes, with every expected instant written out by hand.

Europe/Berlin, America/New_York and Australia/Sydney all change on a Sunday; a hand-off at
02:30 falls in the skipped hour in spring (it happens when the clocks jump, at 03:00) and, in
Berlin and Sydney, in the repeated hour in autumn (it happens the first time 02:30 comes round).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from oncall.rotation import (
    DAILY,
    DAYS,
    HOURS,
    LayerSpec,
    ScheduleSpec,
    Window,
    final_schedule,
    localize,
    zone,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def wall(*args: int) -> datetime:
    """A naive wall-clock time: what a person reads off the clock in some zone."""
    return datetime(*args, tzinfo=UTC).replace(tzinfo=None)


def handoff_instants(spec: ScheduleSpec, start: datetime, end: datetime) -> list[datetime]:
    return [block.start for block in final_schedule(spec, start, end)[1:]]


def rotation(zone_name: str, start: datetime, days: int, at: time = time(2, 30)) -> ScheduleSpec:
    layer = LayerSpec(
        id=1,
        priority=0,
        start=start,
        turn_length=days,
        turn_unit=DAYS,
        handoff_time=at,
        participants=(1, 2, 3),
    )
    return ScheduleSpec(time_zone=zone_name, layers=(layer,))


DAILY_CASES = [
    # zone, first day (local midnight is before the first hand-off), expected hand-offs (UTC)
    (
        "Europe/Berlin",  # spring forward 2026-03-29 02:00 CET -> 03:00 CEST
        wall(2026, 3, 28),
        [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)],
    ),
    (
        "Europe/Berlin",  # fall back 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice
        wall(2026, 10, 24),
        [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
    ),
    (
        "America/New_York",  # spring forward 2026-03-08 02:00 EST -> 03:00 EDT
        wall(2026, 3, 7),
        [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)],
    ),
    (
        "America/New_York",  # fall back 2026-11-01 02:00 EDT -> 01:00 EST: 02:30 happens once
        wall(2026, 10, 31),
        [utc(2026, 10, 31, 6, 30), utc(2026, 11, 1, 7, 30), utc(2026, 11, 2, 7, 30)],
    ),
    (
        "Australia/Sydney",  # fall back 2026-04-05 03:00 AEDT -> 02:00 AEST
        wall(2026, 4, 4),
        [utc(2026, 4, 3, 15, 30), utc(2026, 4, 4, 15, 30), utc(2026, 4, 5, 16, 30)],
    ),
    (
        "Australia/Sydney",  # spring forward 2026-10-04 02:00 AEST -> 03:00 AEDT
        wall(2026, 10, 3),
        [utc(2026, 10, 2, 16, 30), utc(2026, 10, 3, 16, 0), utc(2026, 10, 4, 15, 30)],
    ),
]


@pytest.mark.parametrize(("zone_name", "first_day", "expected"), DAILY_CASES)
def test_daily_handoff_at_0230_across_dst(zone_name, first_day, expected):
    tz = zone(zone_name)
    start = first_day.replace(tzinfo=tz).astimezone(UTC)
    spec = rotation(zone_name, start, days=1)
    got = handoff_instants(spec, start, start + timedelta(days=3))
    assert got == expected
    blocks = final_schedule(spec, start, start + timedelta(days=3))
    assert [block.users for block in blocks] == [(3,), (1,), (2,), (3,)]


WEEKLY_CASES = [
    # a weekly hand-off on Sunday 02:30 spanning the change
    ("Europe/Berlin", wall(2026, 3, 22), [utc(2026, 3, 22, 1, 30), utc(2026, 3, 29, 1, 0)]),
    ("Europe/Berlin", wall(2026, 10, 18), [utc(2026, 10, 18, 0, 30), utc(2026, 10, 25, 0, 30)]),
    ("America/New_York", wall(2026, 3, 1), [utc(2026, 3, 1, 7, 30), utc(2026, 3, 8, 7, 0)]),
    (
        "America/New_York",
        wall(2026, 10, 25),
        [utc(2026, 10, 25, 6, 30), utc(2026, 11, 1, 7, 30)],
    ),
    (
        "Australia/Sydney",
        wall(2026, 3, 29),
        [utc(2026, 3, 28, 15, 30), utc(2026, 4, 4, 15, 30)],
    ),
    (
        "Australia/Sydney",
        wall(2026, 9, 27),
        [utc(2026, 9, 26, 16, 30), utc(2026, 10, 3, 16, 0)],
    ),
]


@pytest.mark.parametrize(("zone_name", "first_sunday", "expected"), WEEKLY_CASES)
def test_weekly_handoff_on_sunday_0230_across_dst(zone_name, first_sunday, expected):
    assert first_sunday.weekday() == 6
    tz = zone(zone_name)
    start = first_sunday.replace(tzinfo=tz).astimezone(UTC)
    spec = rotation(zone_name, start, days=7)
    got = handoff_instants(spec, start, start + timedelta(days=8))
    assert got == expected
    # The next hand-off is at 02:30 local again, a calendar week later.
    third = handoff_instants(spec, start, start + timedelta(days=15))[2]
    assert third.astimezone(tz).time() == time(2, 30)


def test_hour_rotations_count_elapsed_hours_not_wall_clock():
    tz = zone("Europe/Berlin")
    start = wall(2026, 3, 29, 0, 0).replace(tzinfo=tz).astimezone(UTC)  # 23:00Z the day before
    layer = LayerSpec(
        id=1,
        priority=0,
        start=start,
        turn_length=12,
        turn_unit=HOURS,
        handoff_time=time(0),
        participants=(1, 2),
    )
    spec = ScheduleSpec(time_zone="Europe/Berlin", layers=(layer,))
    got = handoff_instants(spec, start, start + timedelta(hours=30))
    assert got == [start + timedelta(hours=12), start + timedelta(hours=24)]
    # 12 elapsed hours after local midnight on the short day is 13:00 local, not noon.
    assert got[0].astimezone(tz).time() == time(13, 0)


def test_restriction_window_over_the_skipped_hour_is_shorter():
    tz_name = "Europe/Berlin"
    start = utc(2026, 3, 28, 0)
    layer = LayerSpec(
        id=1,
        priority=0,
        start=start,
        turn_length=7,
        turn_unit=DAYS,
        handoff_time=time(0),
        participants=(1,),
        restrictions=(Window(DAILY, time(1), time(4)),),
    )
    spec = ScheduleSpec(time_zone=tz_name, layers=(layer,))
    covered = [b for b in final_schedule(spec, start, utc(2026, 3, 29, 12)) if b.users]
    assert [(b.start, b.end) for b in covered] == [
        (utc(2026, 3, 28, 0), utc(2026, 3, 28, 3)),  # 01:00-04:00 CET: three hours
        (utc(2026, 3, 29, 0), utc(2026, 3, 29, 2)),  # 01:00 CET-04:00 CEST: two hours
    ]


def test_localize_skipped_and_repeated_times():
    berlin = zone("Europe/Berlin")
    assert localize(wall(2026, 3, 29, 2, 0), berlin) == utc(2026, 3, 29, 1, 0)
    assert localize(wall(2026, 3, 29, 2, 59, 59), berlin) == utc(2026, 3, 29, 1, 0)
    assert localize(wall(2026, 3, 29, 3, 0), berlin) == utc(2026, 3, 29, 1, 0)
    assert localize(wall(2026, 10, 25, 2, 30), berlin) == utc(2026, 10, 25, 0, 30)
    lord_howe = zone("Australia/Lord_Howe")  # a half-hour DST jump: 02:00 -> 02:30
    assert localize(wall(2026, 10, 4, 2, 15), lord_howe) == localize(
        wall(2026, 10, 4, 2, 30), lord_howe
    )


def test_shift_length_of_a_day_rotation_ends_at_wall_clock_time():
    """A 09:00-17:00 day shift stays 09:00-17:00 on the day the clocks change."""
    tz = zone("Europe/Berlin")
    start = utc(2026, 3, 28, 0)
    layer = LayerSpec(
        id=1,
        priority=0,
        start=start,
        turn_length=1,
        turn_unit=DAYS,
        handoff_time=time(0),
        participants=(1,),
        shift_length=timedelta(hours=8),
    )
    spec = ScheduleSpec(time_zone="Europe/Berlin", layers=(layer,))
    covered = [b for b in final_schedule(spec, start, utc(2026, 3, 29, 12)) if b.users]
    assert [(b.start.astimezone(tz).time(), b.end.astimezone(tz).time()) for b in covered] == [
        (time(1, 0), time(8, 0)),  # the range starts at 01:00 CET
        (time(0, 0), time(8, 0)),  # the short day: still until 08:00, 7 hours of real time
    ]
    assert covered[1].end - covered[1].start == timedelta(hours=7)
