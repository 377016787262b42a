"""The final schedule as pure functions: no database, no clock, no settings.

Everything here takes plain dataclasses and aware datetimes and returns aware UTC datetimes, so
the rules can be tested exhaustively (tests/oncall/test_rotation_properties.py) and a schedule
can be computed anywhere: a request, a worker, a benchmark.

The rules, in order:
- A layer's turns are anchored at its start date at the hand-off time, in the schedule's zone.
  Whole-day turns advance by calendar days in that zone (a weekly 09:00 hand-off stays at 09:00
  across DST); hour turns advance by elapsed hours. Turn k belongs to participant k mod n.
- A shift length shorter than the turn leaves the rest of the turn uncovered.
- Restrictions mask a layer: it is on call only inside one of its windows.
- Where layers overlap, the highest priority wins (ties: the lower layer id).
- An override for everyone always wins, over layers and gaps alike. An override that replaces
  one person swaps that person (as the layers computed them) for the override's user.
- Adjacent blocks of the same people are merged; uncovered time is returned as a gap block
  (no users), so a range's blocks always tile it exactly.

Wall-clock times that do not exist (the hour skipped when clocks spring forward) mean the first
instant after the gap; times that exist twice (fall back) mean the first of the two.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

HOURS = "hours"
DAYS = "days"
DAILY = "daily"
WEEKLY = "weekly"

_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Window:
    """A restriction window in local wall-clock time.

    daily: from start_time to end_time on each day in `days` (all days when empty), past
    midnight when end_time <= start_time. weekly: from (start_weekday, start_time) to
    (end_weekday, end_time), wrapping past Sunday; Monday is 0.
    """

    kind: str
    start_time: time
    end_time: time
    days: frozenset[int] = frozenset()
    start_weekday: int = 0
    end_weekday: int = 0


@dataclass(frozen=True, slots=True)
class LayerSpec:
    id: int
    priority: int
    start: datetime
    end: datetime | None = None
    turn_length: int = 7
    turn_unit: str = DAYS
    handoff_time: time = time(9, 0)
    participants: tuple[int, ...] = ()
    shift_length: timedelta | None = None
    restrictions: tuple[Window, ...] = ()
    # An imported calendar: its blocks as given (sorted, disjoint), instead of a rotation.
    fixed_blocks: tuple[tuple[datetime, datetime, int], ...] | None = None


@dataclass(frozen=True, slots=True)
class OverrideSpec:
    id: int
    user: int
    start: datetime
    end: datetime
    replaces: int | None = None


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    time_zone: str
    layers: tuple[LayerSpec, ...] = ()
    overrides: tuple[OverrideSpec, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Block:
    """[start, end) with who is on call; `users` is empty for a gap."""

    start: datetime
    end: datetime
    users: tuple[int, ...]

    @property
    def is_gap(self) -> bool:
        return not self.users


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def localize(local: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a naive wall-clock time in `tz` (see the module doc for DST)."""
    before = tz.utcoffset(local)  # fold=0: the offset in force before any change here
    after = tz.utcoffset(local.replace(fold=1))
    if before >= after:  # an ordinary time, or one that exists twice: take the first
        return (local - before).replace(tzinfo=UTC)
    instant = (local - before).replace(tzinfo=UTC)
    # `local` falls in a gap. fold=1 reads it with the offset after the jump, which lands
    # before the jump; fold=0 lands after it. Search the whole seconds in between (zone
    # transitions fall on whole seconds) for the first one whose wall time is past `local`.
    low = int(local.replace(tzinfo=tz, fold=1).timestamp())
    high = int(instant.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if _local(datetime.fromtimestamp(middle, UTC), tz) > local:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _local(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


# --- one layer ------------------------------------------------------------------------------


def layer_turns(
    layer: LayerSpec, tz: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, int]]:
    """The layer's turns overlapping [start, end) as (turn start, turn end, turn number)."""
    if layer.turn_length < 1:
        raise ValueError("A turn lasts at least one hour or one day.")
    anchor = datetime.combine(_local(layer.start, tz).date(), layer.handoff_time)
    turns: list[tuple[datetime, datetime, int]] = []
    if layer.turn_unit == DAYS:
        first_day = _local(start, tz).date()
        k = (first_day - anchor.date()).days // layer.turn_length - 1
        step = timedelta(days=layer.turn_length)
        turn_end = localize(anchor + step * k, tz)
        while turn_end < end:
            turn_start = turn_end
            turn_end = localize(anchor + step * (k + 1), tz)
            if turn_end > start:
                turns.append((turn_start, turn_end, k))
            k += 1
    else:
        origin = localize(anchor, tz)
        step = timedelta(hours=layer.turn_length)
        k = (start - origin) // step
        turn_start = origin + step * k
        while turn_start < end:
            turns.append((turn_start, turn_start + step, k))
            turn_start += step
            k += 1
    return turns


def layer_blocks(
    layer: LayerSpec, tz: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, int]]:
    """Who this layer alone puts on call within [start, end): sorted, disjoint (s, e, user)."""
    lo = max(start, layer.start)
    hi = end if layer.end is None else min(end, layer.end)
    if lo >= hi:
        return []
    if layer.fixed_blocks is not None:
        return [(max(s, lo), min(e, hi), u) for s, e, u in layer.fixed_blocks if s < hi and e > lo]
    if not layer.participants:
        return []
    count = len(layer.participants)
    blocks: list[tuple[datetime, datetime, int]] = []
    for turn_start, turn_end, k in layer_turns(layer, tz, lo, hi):
        shift_end = turn_end
        if layer.shift_length is not None:
            if layer.turn_unit == DAYS:
                shift_end = localize(_local(turn_start, tz) + layer.shift_length, tz)
            else:
                shift_end = turn_start + layer.shift_length
            shift_end = min(shift_end, turn_end)
        s, e = max(turn_start, lo), min(shift_end, hi)
        if s < e:
            blocks.append((s, e, layer.participants[k % count]))
    if layer.restrictions:
        blocks = _intersect(blocks, restriction_windows(layer.restrictions, tz, lo, hi))
    return blocks


def restriction_windows(
    windows: Iterable[Window], tz: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The instants within [start, end) inside any window: sorted, disjoint, merged."""
    first = _local(start, tz).date()
    last = _local(end, tz).date()
    spans: list[tuple[datetime, datetime]] = []
    for window in windows:
        for local_start, local_end in _window_occurrences(window, first, last):
            s, e = localize(local_start, tz), localize(local_end, tz)
            if s < end and e > start and s < e:
                spans.append((max(s, start), min(e, end)))
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _window_occurrences(
    window: Window, first: date, last: date
) -> Iterable[tuple[datetime, datetime]]:
    """Each local (start, end) of `window` that may touch the local dates first..last."""
    if window.kind == WEEKLY:
        span_days = (window.end_weekday - window.start_weekday) % 7
        if span_days == 0 and window.end_time <= window.start_time:
            span_days = 7
        day = first - timedelta(days=7)
        day += timedelta(days=(window.start_weekday - day.weekday()) % 7)
        while day <= last:
            yield (
                datetime.combine(day, window.start_time),
                datetime.combine(day + timedelta(days=span_days), window.end_time),
            )
            day += timedelta(days=7)
        return
    overnight = window.end_time <= window.start_time
    day = first - timedelta(days=1)
    while day <= last:
        if not window.days or day.weekday() in window.days:
            end_day = day + timedelta(days=1) if overnight else day
            yield (
                datetime.combine(day, window.start_time),
                datetime.combine(end_day, window.end_time),
            )
        day += timedelta(days=1)


# --- interval helpers -------------------------------------------------------------------------


def _intersect(
    blocks: Sequence[tuple[datetime, datetime, int]], spans: Sequence[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime, int]]:
    out: list[tuple[datetime, datetime, int]] = []
    i = j = 0
    while i < len(blocks) and j < len(spans):
        bs, be, user = blocks[i]
        ss, se = spans[j]
        s, e = max(bs, ss), min(be, se)
        if s < e:
            out.append((s, e, user))
        if be <= se:
            i += 1
        else:
            j += 1
    return out


def _subtract(
    spans: Sequence[tuple[datetime, datetime]], cuts: Sequence[tuple[datetime, datetime, int]]
) -> list[tuple[datetime, datetime]]:
    """`spans` minus `cuts` (both sorted and disjoint)."""
    out: list[tuple[datetime, datetime]] = []
    j = 0
    for s, e in spans:
        while j < len(cuts) and cuts[j][1] <= s:
            j += 1
        k = j
        cursor = s
        while k < len(cuts) and cuts[k][0] < e:
            cs, ce, _ = cuts[k]
            if cs > cursor:
                out.append((cursor, cs))
            cursor = max(cursor, ce)
            k += 1
        if cursor < e:
            out.append((cursor, e))
    return out


# --- the whole schedule -----------------------------------------------------------------------


def final_schedule(spec: ScheduleSpec, start: datetime, end: datetime) -> list[Block]:
    """Blocks tiling [start, end) exactly: who is on call, gaps included, merged."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes.")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start >= end:
        return []
    tz = zone(spec.time_zone)
    # (start, end, user, user the layers chose): replacements match the layers' choice only.
    pieces: list[tuple[datetime, datetime, int, int]] = []
    uncovered: list[tuple[datetime, datetime]] = [(start, end)]
    for layer in sorted(spec.layers, key=lambda layer: (-layer.priority, layer.id)):
        if not uncovered:
            break
        blocks = layer_blocks(layer, tz, uncovered[0][0], uncovered[-1][1])
        if not blocks:
            continue
        won = _intersect(blocks, uncovered)
        pieces.extend((s, e, u, u) for s, e, u in won)
        uncovered = _subtract(uncovered, won)
    pieces.sort()
    everyone: list[OverrideSpec] = []
    for override in sorted(spec.overrides, key=lambda o: (o.start, o.id)):
        if override.end <= start or override.start >= end:
            continue
        if override.replaces is None:
            everyone.append(override)
        else:
            pieces = _replace(pieces, override)
    if everyone:
        cuts = [(max(o.start, start), min(o.end, end), o.user) for o in everyone]
        cuts = _disjoint(cuts)
        kept = _subtract([(s, e) for s, e, _, _ in pieces], cuts)
        remaining: list[tuple[datetime, datetime, int, int]] = []
        i = 0
        for s, e in kept:  # each kept span lies inside one piece: find it by walking along
            while pieces[i][1] <= s:
                i += 1
            remaining.append((s, e, pieces[i][2], pieces[i][3]))
        pieces = sorted(remaining + [(s, e, u, u) for s, e, u in cuts])
    return _tile(pieces, start, end)


def _disjoint(cuts: list[tuple[datetime, datetime, int]]) -> list[tuple[datetime, datetime, int]]:
    """Overlapping everyone-overrides are refused on save; if some slip in, the later wins."""
    out: list[tuple[datetime, datetime, int]] = []
    for s, e, user in sorted(cuts):
        if out and s < out[-1][1]:
            ps, pe, pu = out.pop()
            if ps < s:
                out.append((ps, s, pu))
            out.append((s, e, user))
            if e < pe:
                out.append((e, pe, pu))
        else:
            out.append((s, e, user))
    return out


def _replace(
    pieces: list[tuple[datetime, datetime, int, int]], override: OverrideSpec
) -> list[tuple[datetime, datetime, int, int]]:
    # Only the pieces inside the override's window change: find them by bisection.
    first = max(bisect_right(pieces, (override.start,)) - 1, 0)
    last = bisect_left(pieces, (override.end,))
    out: list[tuple[datetime, datetime, int, int]] = []
    for s, e, user, chosen in pieces[first:last]:
        if chosen != override.replaces or e <= override.start or s >= override.end:
            out.append((s, e, user, chosen))
            continue
        if s < override.start:
            out.append((s, override.start, user, chosen))
        out.append((max(s, override.start), min(e, override.end), override.user, chosen))
        if e > override.end:
            out.append((override.end, e, user, chosen))
    return pieces[:first] + out + pieces[last:]


def _tile(
    pieces: Sequence[tuple[datetime, datetime, int, int]], start: datetime, end: datetime
) -> list[Block]:
    blocks: list[Block] = []
    cursor = start

    def add(s: datetime, e: datetime, users: tuple[int, ...]) -> None:
        if blocks and blocks[-1].users == users and blocks[-1].end == s:
            blocks[-1] = Block(blocks[-1].start, e, users)
        else:
            blocks.append(Block(s, e, users))

    for s, e, user, _ in pieces:
        if s > cursor:
            add(cursor, s, ())
        add(s, e, (user,))
        cursor = e
    if cursor < end:
        add(cursor, end, ())
    return blocks


def oncall_at(spec: ScheduleSpec, at: datetime) -> tuple[int, ...]:
    """Who is on call at the instant `at` (empty when nobody is)."""
    blocks = final_schedule(spec, at, at + _MICROSECOND)
    return blocks[0].users if blocks else ()


def handoffs(blocks: Sequence[Block]) -> list[tuple[datetime, tuple[int, ...], tuple[int, ...]]]:
    """Each change of who is on call inside `blocks`: (when, before, after)."""
    return [
        (current.start, previous.users, current.users)
        for previous, current in pairwise(blocks)
        if previous.users != current.users
    ]
