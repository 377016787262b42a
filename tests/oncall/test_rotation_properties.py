"""Property tests of the final schedule over random schedules (hypothesis).

The oracle below answers "who is on call at instant t" the slow, obvious way: walk to the turn
containing t, check the shift and each restriction window at t, take the highest layer, apply
overrides. It shares only `localize` (the wall-clock rule, pinned by test_rotation_dst.py) with
the code under test, which sweeps whole ranges.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

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
    localize,
    oncall_at,
    zone,
)

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC"]
# Around the 2026 clock changes of those zones, and an ordinary week.
AROUND = [
    datetime(2026, 3, 26, tzinfo=UTC),
    datetime(2026, 10, 22, tzinfo=UTC),
    datetime(2026, 3, 5, tzinfo=UTC),
    datetime(2026, 10, 29, tzinfo=UTC),
    datetime(2026, 4, 2, tzinfo=UTC),
    datetime(2026, 10, 1, tzinfo=UTC),
    datetime(2026, 7, 1, tzinfo=UTC),
]
USERS = range(1, 7)


# --- the oracle -----------------------------------------------------------------------------


def _local(t: datetime, name: str) -> datetime:
    return t.astimezone(zone(name)).replace(tzinfo=None)


def _boundary(layer: LayerSpec, name: str, k: int) -> datetime:
    anchor = datetime.combine(_local(layer.start, name).date(), layer.handoff_time)
    if layer.turn_unit == DAYS:
        return localize(anchor + timedelta(days=layer.turn_length * k), zone(name))
    return localize(anchor, zone(name)) + timedelta(hours=layer.turn_length * k)


def _in_window(window: Window, name: str, t: datetime) -> bool:
    day = _local(t, name).date()
    for back in range(9):
        start_day = day - timedelta(days=back)
        if window.kind == WEEKLY:
            if start_day.weekday() != window.start_weekday:
                continue
            length = (window.end_weekday - window.start_weekday) % 7
            if length == 0 and window.end_time <= window.start_time:
                length = 7
        else:
            if window.days and start_day.weekday() not in window.days:
                continue
            length = 1 if window.end_time <= window.start_time else 0
        s = localize(datetime.combine(start_day, window.start_time), zone(name))
        e = localize(
            datetime.combine(start_day + timedelta(days=length), window.end_time), zone(name)
        )
        if s <= t < e:
            return True
    return False


def _layer_user_at(layer: LayerSpec, name: str, t: datetime) -> int | None:
    if t < layer.start or (layer.end is not None and t >= layer.end) or not layer.participants:
        return None
    k = 0
    while _boundary(layer, name, k) > t:
        k -= 1
    while _boundary(layer, name, k + 1) <= t:
        k += 1
    turn_start = _boundary(layer, name, k)
    if layer.shift_length is not None:
        if layer.turn_unit == DAYS:
            shift_end = localize(_local(turn_start, name) + layer.shift_length, zone(name))
        else:
            shift_end = turn_start + layer.shift_length
        if t >= shift_end:
            return None
    if layer.restrictions and not any(_in_window(w, name, t) for w in layer.restrictions):
        return None
    return layer.participants[k % len(layer.participants)]


def oracle(spec: ScheduleSpec, t: datetime) -> tuple[int, ...]:
    for override in spec.overrides:
        if override.replaces is None and override.start <= t < override.end:
            return (override.user,)
    chosen = None
    for layer in sorted(spec.layers, key=lambda layer: (-layer.priority, layer.id)):
        chosen = _layer_user_at(layer, spec.time_zone, t)
        if chosen is not None:
            break
    if chosen is None:
        return ()
    for override in spec.overrides:
        if override.replaces == chosen and override.start <= t < override.end:
            return (override.user,)
    return (chosen,)


# --- strategies -----------------------------------------------------------------------------

minutes = st.integers(min_value=0, max_value=47).map(lambda half_hours: half_hours * 30)
times = st.one_of(st.just(time(2, 30)), minutes.map(lambda m: time(m // 60, m % 60)))


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start, end = draw(times), draw(times)
    if draw(st.booleans()):
        assume(start != end)
        days = draw(st.frozensets(st.integers(0, 6), max_size=7))
        return Window(DAILY, start, end, days=days)
    start_day, end_day = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    assume((start_day, start) != (end_day, end))
    return Window(WEEKLY, start, end, start_weekday=start_day, end_weekday=end_day)


@st.composite
def layers(draw: st.DrawFn, layer_id: int, around: datetime) -> LayerSpec:
    start = around + timedelta(minutes=30 * draw(st.integers(-30 * 48, 4 * 48)))
    end = None
    if draw(st.booleans()):
        end = start + timedelta(minutes=30 * draw(st.integers(1, 40 * 48)))
    unit = draw(st.sampled_from([DAYS, HOURS]))
    length = draw(st.integers(1, 14)) if unit == DAYS else draw(st.integers(1, 72))
    turn = timedelta(days=length) if unit == DAYS else timedelta(hours=length)
    shift = None
    if draw(st.booleans()):
        shift = timedelta(minutes=30 * draw(st.integers(1, 48 * 14)))
        assume(shift <= turn)
    return LayerSpec(
        id=layer_id,
        priority=draw(st.integers(0, 3)),
        start=start,
        end=end,
        turn_length=length,
        turn_unit=unit,
        handoff_time=draw(times),
        participants=tuple(draw(st.lists(st.sampled_from(USERS), min_size=1, max_size=4))),
        shift_length=shift,
        restrictions=tuple(draw(st.lists(windows(), max_size=2))),
    )


def _clashes(new: OverrideSpec, others: list[OverrideSpec]) -> bool:
    """The rule the models enforce: overlap only when both replace different people."""
    for other in others:
        overlap = new.start < other.end and other.start < new.end
        same = new.replaces is None or other.replaces is None or new.replaces == other.replaces
        if overlap and same:
            return True
    return False


@st.composite
def schedules(draw: st.DrawFn) -> tuple[ScheduleSpec, datetime, datetime]:
    around = draw(st.sampled_from(AROUND))
    count = draw(st.integers(1, 3))
    specs = tuple(draw(layers(layer_id, around)) for layer_id in range(1, count + 1))
    overrides: list[OverrideSpec] = []
    for override_id in range(draw(st.integers(0, 4))):
        start = around + timedelta(minutes=30 * draw(st.integers(-48, 20 * 48)))
        end = start + timedelta(minutes=30 * draw(st.integers(1, 4 * 48)))
        user = draw(st.sampled_from(USERS))
        replaces = draw(st.one_of(st.none(), st.sampled_from(USERS)))
        new = OverrideSpec(override_id, user, start, end, replaces)
        if replaces != user and not _clashes(new, overrides):
            overrides.append(new)
    spec = ScheduleSpec(draw(st.sampled_from(ZONES)), specs, tuple(overrides))
    start = around + timedelta(minutes=draw(st.integers(-2 * 1440, 1440)))
    end = start + timedelta(minutes=draw(st.integers(1, 21 * 1440)))
    return spec, start, end


def _instants(blocks: list[Block], draw: st.DrawFn) -> list[datetime]:
    points = []
    for block in blocks:
        points += [block.start, block.end - timedelta(microseconds=1)]
        points.append(block.start + (block.end - block.start) / 2)
    span = blocks[-1].end - blocks[0].start
    points += [blocks[0].start + span * draw(st.floats(0, 0.999999)) for _ in range(20)]
    return points


def _merged(blocks: list[Block]) -> list[Block]:
    out: list[Block] = []
    for block in blocks:
        if out and out[-1].users == block.users and out[-1].end == block.start:
            out[-1] = Block(out[-1].start, block.end, block.users)
        else:
            out.append(block)
    return out


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- the properties -------------------------------------------------------------------------


@PROPERTY
@given(case=schedules(), data=st.data())
def test_every_instant_has_exactly_the_winning_user(case, data):
    spec, start, end = case
    blocks = final_schedule(spec, start, end)
    for t in _instants(blocks, data.draw):
        containing = [block for block in blocks if block.start <= t < block.end]
        assert len(containing) == 1, t
        assert containing[0].users == oracle(spec, t), t


@PROPERTY
@given(case=schedules())
def test_blocks_tile_the_range_without_overlap_and_are_merged(case):
    spec, start, end = case
    blocks = final_schedule(spec, start, end)
    assert blocks[0].start == start
    assert blocks[-1].end == end
    for block in blocks:
        assert block.start < block.end
        assert len(block.users) <= 1
    for previous, current in pairwise(blocks):
        assert previous.end == current.start
        assert previous.users != current.users


@PROPERTY
@given(case=schedules(), data=st.data())
def test_a_range_computed_in_pieces_equals_the_range_at_once(case, data):
    spec, start, end = case
    cuts = sorted({start + (end - start) * data.draw(st.floats(0.001, 0.999)) for _ in range(3)})
    bounds = [start, *cuts, end]
    pieces = []
    for lo, hi in pairwise(bounds):
        if lo < hi:
            pieces += final_schedule(spec, lo, hi)
    assert _merged(pieces) == final_schedule(spec, start, end)


@PROPERTY
@given(case=schedules())
def test_overrides_for_everyone_always_win(case):
    spec, start, end = case
    for override in spec.overrides:
        if override.replaces is not None:
            continue
        lo, hi = max(override.start, start), min(override.end, end)
        if lo < hi:
            assert [b.users for b in final_schedule(spec, lo, hi)] == [(override.user,)]


@PROPERTY
@given(case=schedules(), data=st.data())
def test_oncall_at_agrees_with_the_oracle(case, data):
    spec, start, end = case
    t = start + (end - start) * data.draw(st.floats(0, 0.999999))
    assert oncall_at(spec, t) == oracle(spec, t)
