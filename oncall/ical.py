"""iCalendar (RFC 5545) in and out, as pure functions: no database, no clock, no settings.

Out: on-call blocks become a VCALENDAR for subscription feeds. Each event's UID is derived from
the schedule, the person and the start, so a calendar that re-reads the feed updates the same
events instead of piling up copies; times are written in UTC so no VTIMEZONE is needed.

In: an external calendar becomes the sorted, disjoint (start, end, user id) blocks of a
read-only layer. Recurring events are expanded over a window (the caller refreshes it), events
are matched to people by address or name, and what matches nobody is reported, never guessed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from oncall.rotation import localize, zone

PRODID = "-//OpsKnight//On-call schedules//EN"
UID_DOMAIN = "opsknight"
# A subscribed calendar asks again this often (clients that honour the hint).
REFRESH_INTERVAL = timedelta(minutes=15)
# Past this many occurrences in the window a calendar is refused: a FREQ=SECONDLY rule would
# otherwise expand to millions of events in memory.
MAX_EVENTS = 20_000
MAX_HOURLY_SERIES = 100
MAX_WARNINGS = 20

_DAY = timedelta(days=1)
_CHUNK = timedelta(days=7)
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")


class CalendarError(ValueError):
    """A calendar that cannot be read; the message is meant for the person who supplied it."""


# --- export ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedShift:
    """One person on call in one schedule over [start, end)."""

    schedule_id: int
    schedule_name: str
    user_id: int
    person: str
    email: str
    start: datetime
    end: datetime


def shift_uid(schedule_id: int, user_id: int, start: datetime) -> str:
    """Stable across feed reads: the same shift keeps its UID, so clients update in place."""
    return f"oncall-{schedule_id}-{user_id}-{_utc(start):%Y%m%dT%H%M%SZ}@{UID_DOMAIN}"


def feed_calendar(
    *, title: str, shifts: Iterable[FeedShift], stamp: datetime, name_people: bool
) -> bytes:
    """A published VCALENDAR with one event per shift.

    `name_people` puts the person in each title: a schedule's feed shows everyone, a person's
    own feed does not need to repeat their name. Each event names its person as an ATTENDEE,
    so a feed can itself be imported as a layer elsewhere.
    """
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", title)
    calendar.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH_INTERVAL)
    for shift in shifts:
        summary = f"On call: {shift.schedule_name}"
        if name_people:
            summary += f" ({shift.person})"
        event = icalendar.Event()
        event.add("uid", shift_uid(shift.schedule_id, shift.user_id, shift.start))
        event.add("dtstamp", _utc(stamp))
        event.add("dtstart", _utc(shift.start))
        event.add("dtend", _utc(shift.end))
        event.add("summary", summary)
        event.add("description", f"{shift.person} is on call for {shift.schedule_name}.")
        event.add("transp", "TRANSPARENT")  # being on call is not being busy
        if shift.email:
            attendee = icalendar.vCalAddress(f"mailto:{shift.email}")
            attendee.params["CN"] = shift.person
            attendee.params["PARTSTAT"] = "ACCEPTED"
            event.add("attendee", attendee)
        calendar.add_component(event)
    return calendar.to_ical()


def _utc(value: datetime) -> datetime:
    # Whole seconds: iCalendar has no fractions, and the UID must match what DTSTART says.
    return value.astimezone(UTC).replace(microsecond=0)


# --- import ---------------------------------------------------------------------------------


Block = tuple[datetime, datetime, int]


@dataclass(frozen=True, slots=True)
class ParsedCalendar:
    """Blocks sorted and disjoint, in UTC; warnings for a person to read."""

    blocks: list[Block]
    warnings: list[str] = field(default_factory=list)
    events: int = 0


def parse_calendar(
    text: str | bytes,
    *,
    people: Mapping[str, int],
    time_zone: str,
    start: datetime,
    end: datetime,
) -> ParsedCalendar:
    """Who the calendar puts on call within [start, end).

    `people` maps lower-case emails and display names to user ids. Floating times and all-day
    events are read in `time_zone` (an all-day event covers whole local days there). Where
    events overlap, the later-starting one takes over while it lasts, and the earlier one
    resumes after it: a one-day swap on top of a week-long shift reads as intended.
    """
    calendar = _read(text)
    tz = zone(time_zone)
    found: list[tuple[datetime, datetime, int, int]] = []
    unmatched: Counter[str] = Counter()
    seen = 0
    skipped: list[int] = []
    for event in _occurrences(calendar, start, end, skipped):
        seen += 1
        if seen > MAX_EVENTS:
            raise CalendarError(
                f"The calendar has more than {MAX_EVENTS} events between {start:%Y-%m-%d} "
                f"and {end:%Y-%m-%d}; is a rule repeating every minute or second?"
            )
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        span = _span(event, tz)
        if span is None:
            continue
        s, e = max(span[0], start), min(span[1], end)
        if s >= e:
            continue
        user_id = match_person(event, people)
        if user_id is None:
            unmatched[str(event.get("SUMMARY", "")).strip() or "(untitled)"] += 1
            continue
        found.append((s, e, user_id, seen))
    blocks, overlaps = make_disjoint(found)
    warnings = [_unmatched_warning(title, count) for title, count in unmatched.most_common()]
    if len(warnings) > MAX_WARNINGS:
        more = len(warnings) - MAX_WARNINGS
        warnings = [*warnings[:MAX_WARNINGS], f"…and {more} more titles that match nobody."]
    if bad := sum(skipped):
        warnings.append(
            f"{bad} event series {'was' if bad == 1 else 'were'} skipped: unreadable "
            "(a malformed repeat rule?)."
        )
    if overlaps:
        warnings.append(
            f"{overlaps} overlapping event{'s' if overlaps != 1 else ''}: where events overlap, "
            "the later-starting one is on call while it lasts."
        )
    return ParsedCalendar(blocks=blocks, warnings=warnings, events=len(found))


def _read(text: str | bytes) -> icalendar.Calendar:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if "BEGIN:VCALENDAR" not in text.upper():
        raise CalendarError("This is not an iCalendar file: it has no BEGIN:VCALENDAR.")
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as exc:  # the parser's failures on hostile input are not all ValueError
        raise CalendarError(f"The calendar cannot be read: {_short(exc)}") from exc
    if not isinstance(calendar, icalendar.Calendar) or calendar.name != "VCALENDAR":
        raise CalendarError("This is not an iCalendar file: it holds no VCALENDAR.")
    return calendar


def _occurrences(
    calendar: icalendar.Calendar, start: datetime, end: datetime, skipped: list[int]
) -> Iterable[icalendar.Event]:
    """Expanded events overlapping [start, end), a week at a time.

    A week at a time keeps memory bounded (the caller stops at MAX_EVENTS) and stays fast: the
    library's own lazy `after()` recomputes each series per page and took 24 s for an hourly
    rule over the window. A series the library cannot read (a malformed rule) is skipped and
    counted in `skipped` rather than failing the whole calendar.
    """
    try:
        _refuse_rapid_rules(calendar)
        query = recurring_ical_events.of(calendar, skip_bad_series=True)
        uids = {str(event["UID"]) for event in calendar.walk("VEVENT") if "UID" in event}
        skipped.append(len(uids - {str(series.uid) for series in query.series}))
        seen: set[tuple[str, ...]] = set()
        # A day either side: all-day and floating events are placed in the zone afterwards.
        chunk, stop = start - _DAY, end + _DAY
        while chunk < stop:
            for event in query.between(chunk, min(chunk + _CHUNK, stop)):
                key = tuple(
                    str(event.get(name, "")) for name in ("UID", "DTSTART", "DTEND", "SUMMARY")
                )
                if key not in seen:  # an event crossing into the next week comes back there
                    seen.add(key)
                    yield event
            chunk += _CHUNK
    except CalendarError:
        raise
    except Exception as exc:
        # Hostile or broken input may fail anywhere inside the libraries (an impossible date,
        # a component of the wrong shape): the calendar's fault, reported as such, not a crash.
        raise CalendarError(f"The calendar cannot be expanded: {_short(exc)}") from exc


def _refuse_rapid_rules(calendar: icalendar.Calendar) -> None:
    """Refuse what would expand to millions of events in memory before any is counted.

    A rule repeating every second or minute is never a rota; an hourly one may be, but a week
    of each is expanded at once, so only a few of those are taken.
    """
    events = calendar.walk("VEVENT")
    if len(events) > MAX_EVENTS:
        raise CalendarError(f"The calendar has more than {MAX_EVENTS} events.")
    hourly = 0
    for event in events:
        rules = event.get("RRULE", [])
        for rule in rules if isinstance(rules, list) else [rules]:
            if not isinstance(rule, icalendar.vRecur):
                continue  # unreadable: the expansion skips its series
            frequency = {str(value).upper() for value in rule.get("FREQ", [])}
            hourly += "HOURLY" in frequency
            if frequency & {"SECONDLY", "MINUTELY"} or hourly > MAX_HOURLY_SERIES:
                title = str(event.get("SUMMARY", "")).strip() or "(untitled)"
                raise CalendarError(
                    f"“{title}” repeats too often: on-call calendars may repeat at most hourly, "
                    f"in at most {MAX_HOURLY_SERIES} hourly series."
                )


def _span(event: icalendar.Event, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The event's [start, end) in UTC, or None when it has no length."""
    try:
        raw_start, raw_end = event.start, event.end
    except (KeyError, ValueError, TypeError):
        return None
    s, e = _instant(raw_start, tz), _instant(raw_end, tz)
    return (s, e) if s < e else None


def _instant(value: date | datetime, tz: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):  # an all-day event: local midnight in the zone
        return localize(datetime.combine(value, time()), tz)
    if value.tzinfo is None:  # floating: the schedule's wall clock
        return localize(value, tz)
    return value.astimezone(UTC)


def match_person(event: icalendar.Event, people: Mapping[str, int]) -> int | None:
    """The user an event is about, or None.

    Most specific first: an attendee's address or name, an address or exact name in the
    title, an address in the description, and last the organizer, since in a shared rota
    calendar the organizer is often whoever maintains it rather than who is on call.
    """
    attendees = event.get("ATTENDEE", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    for attendee in attendees:
        found = _address(attendee, people)
        name = str(getattr(attendee, "params", {}).get("CN", "")).strip().lower()
        if found is None and name:
            found = people.get(name)
        if found is not None:
            return found
    summary = str(event.get("SUMMARY", "")).strip()
    description = str(event.get("DESCRIPTION", ""))
    for address in _EMAIL.findall(summary):
        if (found := people.get(address.lower())) is not None:
            return found
    if summary and (found := people.get(summary.lower())) is not None:
        return found
    for address in _EMAIL.findall(description):
        if (found := people.get(address.lower())) is not None:
            return found
    organizer = event.get("ORGANIZER")
    return _address(organizer, people) if organizer is not None else None


def _address(value: Any, people: Mapping[str, int]) -> int | None:
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    return people.get(text.strip().lower()) if text else None


def make_disjoint(
    events: Iterable[tuple[datetime, datetime, int, int]],
) -> tuple[list[Block], int]:
    """Sorted, disjoint, merged blocks from (start, end, user, order) events; and the overlaps.

    Taken in order of start (at equal starts the shorter one last, so both stay visible), each
    event covers its own span and whatever it overlapped resumes after it.
    """
    out: list[Block] = []
    overlaps = 0
    for s, e, user, _ in sorted(
        events, key=lambda ev: (ev[0], -(ev[1] - ev[0]).total_seconds(), ev[3])
    ):
        tail: list[Block] = []
        while out and out[-1][1] > s:
            tail.append(out.pop())
        if tail:
            overlaps += 1
        for ps, _, pu in reversed(tail):
            if ps < s:
                out.append((ps, s, pu))
        out.append((s, e, user))
        rest = sorted((max(ps, e), pe, pu) for ps, pe, pu in tail if pe > e)
        out.extend(rest)
    merged: list[Block] = []
    for block in out:
        if merged and merged[-1][2] == block[2] and merged[-1][1] == block[0]:
            merged[-1] = (merged[-1][0], block[1], block[2])
        else:
            merged.append(block)
    return merged, overlaps


def blocks_to_json(blocks: Iterable[Block]) -> list[list[Any]]:
    """The layer's stored form: [[start, end, user id], ...] in ISO 8601 (UTC)."""
    return [[s.isoformat(), e.isoformat(), user] for s, e, user in blocks]


def _unmatched_warning(title: str, count: int) -> str:
    times = "once" if count == 1 else f"{count} times"
    return f"“{title}” ({times}) matches nobody in the organization; left uncovered."


def _short(exc: Exception) -> str:
    message = str(exc).strip() or type(exc).__name__
    return message if len(message) <= 200 else message[:197] + "…"
