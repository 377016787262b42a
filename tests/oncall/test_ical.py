"""iCalendar feeds and imports, on the real database and through the real HTTP view.

Feeds are read back with `icalendar` and `recurring_ical_events`, an implementation independent
of ours, and compared with the final schedule; imports are fetched from a real loopback server.
"""

from __future__ import annotations

import bisect
import random
import threading
import time as clock
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import icalendar
import pytest
import recurring_ical_events
from django.core.exceptions import ValidationError
from django.utils import timezone

from oncall import fetching
from oncall.calendars import (
    FEED_FUTURE,
    FEED_PAST,
    layer_create_imported,
    layer_import_ical,
    layer_refresh_from_url,
    normalize_calendar_url,
    refresh_imported_layers,
)
from oncall.ical import CalendarError, parse_calendar
from oncall.models import Layer, RestrictionKind, RotationType, Weekday
from oncall.selectors import oncall_users_at, shifts_between, user_shifts
from oncall.services import (
    RestrictionInput,
    calendar_feed_create,
    calendar_feed_revoke,
    override_create,
)
from oncall.views import NOT_FOUND
from opsknight.models import AuditEvent, User
from tests.oncall.factories import layer, schedule
from tests.opsknight.factories import member

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)  # the feed window crosses Berlin's 29 March DST
WINDOW = (NOW - FEED_PAST, NOW + FEED_FUTURE)


@pytest.fixture(autouse=True)
def _frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def person(org, name: str) -> User:
    return member(org, email=f"{name.lower()}@example.com", display_name=f"{name} Example")


def read_feed(
    client, token: str
) -> tuple[icalendar.Calendar, list[tuple[datetime, datetime, str]]]:
    """The feed over HTTP, parsed independently: (calendar, [(start, end, attendee email)])."""
    response = client.get(f"/calendars/{token}.ics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.content)
    events = []
    for event in recurring_ical_events.of(calendar).between(*WINDOW):
        email = str(event["ATTENDEE"]).removeprefix("mailto:")
        events.append((event.start.astimezone(UTC), event.end.astimezone(UTC), email))
    return calendar, sorted(events)


# --- feeds ----------------------------------------------------------------------------------


def test_schedule_feed_read_back_independently_matches_the_final_schedule(org, client):
    # Given a Berlin schedule: a weekly rotation until August (then a gap), a daily evening
    # layer on weekdays above it, a weekend layer on top in April, and two overrides, one
    # across the night the clocks spring forward.
    alice, bob, carol, dave, erin, frank, grace = (
        person(org, n) for n in ("Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace")
    )
    primary = schedule(org, time_zone="Europe/Berlin")
    layer(primary, [alice, bob, carol], utc(1, 5, 8), end=utc(8, 1))
    evenings = RestrictionInput(start_time=time(18), end_time=time(23), days=(0, 1, 2, 3, 4))
    layer(
        primary,
        [dave, erin],
        utc(1, 1),
        priority=10,
        rotation_type=RotationType.DAILY,
        handoff_time=time(8),
        restrictions=[evenings],
    )
    weekend = RestrictionInput(
        kind=RestrictionKind.WEEKLY,
        start_weekday=Weekday.SATURDAY,
        start_time=time(10),
        end_weekday=Weekday.SUNDAY,
        end_time=time(22),
    )
    layer(primary, [frank], utc(4, 1), end=utc(5, 1), priority=20, restrictions=[weekend])
    override_create(schedule=primary, user=grace, start=utc(3, 28, 20), end=utc(3, 30, 6))
    override_create(schedule=primary, user=frank, replaces=bob, start=utc(3, 17), end=utc(3, 19))
    issued = calendar_feed_create(organization=org, created_by=alice, schedule=primary)
    emails = {user.email: user.pk for user in (alice, bob, carol, dave, erin, frank, grace)}

    # When the feed is fetched over HTTP and read by another iCalendar implementation
    calendar, events = read_feed(client, issued.token)

    # Then at 1,000 random instants, and either side of every hand-off, the people whose
    # events contain the instant are exactly those the final schedule puts on call.
    blocks = shifts_between(primary, *WINDOW)
    starts = [block.start for block in blocks]

    def expected(at: datetime) -> set[int]:
        return set(blocks[bisect.bisect_right(starts, at) - 1].users)

    def exported(at: datetime) -> set[int]:
        return {emails[email] for s, e, email in events if s <= at < e}

    rng = random.Random(20260310)
    span = int((WINDOW[1] - WINDOW[0]).total_seconds())
    instants = [WINDOW[0] + timedelta(seconds=rng.randrange(span)) for _ in range(1000)]
    edges = [b.start + d for b in blocks[1:] for d in (timedelta(0), -timedelta(seconds=1))]
    wrong = [(at, expected(at), exported(at)) for at in instants + edges]
    assert [w for w in wrong if w[1] != w[2]] == []
    for at in instants[:20]:  # and the selector asked one instant at a time agrees
        assert {user.pk for user in oncall_users_at(primary, at)} == expected(at)

    # The DST night, the replacement and the gap are all in there.
    assert expected(utc(3, 29, 1)) == {grace.pk}
    assert expected(utc(3, 18, 12)) == {frank.pk}
    assert exported(utc(8, 20)) == set()
    assert expected(utc(8, 20)) == set()
    assert any(block.is_gap for block in blocks)
    # No event is a gap, and every event belongs to one of the schedule's people.
    assert len(events) == sum(len(block.users) for block in blocks)
    assert calendar["X-WR-CALNAME"] == "Primary on call"
    assert calendar["METHOD"] == "PUBLISH"
    assert str(calendar["PRODID"]).startswith("-//OpsKnight")
    first = next(iter(calendar.walk("VEVENT")))
    assert first["DTSTART"].to_ical().endswith(b"Z")
    assert str(first["SUMMARY"]).startswith("On call: Primary (")
    assert "DTSTAMP" in first


def test_schedule_feed_uids_are_stable_across_fetches(org, client):
    alice, bob = person(org, "Alice"), person(org, "Bob")
    primary = schedule(org)
    layer(primary, [alice, bob], utc(1, 5))
    token = calendar_feed_create(organization=org, created_by=alice, schedule=primary).token
    first, _ = read_feed(client, token)
    second, _ = read_feed(client, token)
    uids = [str(event["UID"]) for event in first.walk("VEVENT")]
    assert uids == [str(event["UID"]) for event in second.walk("VEVENT")]
    assert len(set(uids)) == len(uids)
    assert f"oncall-{primary.pk}-{bob.pk}-20260309T090000Z@opsknight" in uids


def test_user_feed_lists_only_that_persons_shifts_across_schedules(org, other_org, client):
    # Given alice and bob in two schedules of org, and alice also on call in another org
    alice, bob = person(org, "Alice"), person(org, "Bob")
    days = schedule(org, "Days")
    layer(days, [alice, bob], utc(1, 5))
    nights = schedule(org, "Nights", time_zone="Europe/Berlin")
    late = RestrictionInput(start_time=time(22), end_time=time(6))
    layer(nights, [bob, alice], utc(1, 1), rotation_type=RotationType.DAILY, restrictions=[late])
    elsewhere = schedule(other_org, "Elsewhere")
    other_org.memberships.create(user=alice)
    layer(elsewhere, [alice], utc(1, 5))
    token = calendar_feed_create(organization=org, created_by=alice, user=alice).token

    # When her feed is read
    calendar, events = read_feed(client, token)

    # Then it holds exactly her shifts in org's two schedules, and nobody else's.
    wanted = sorted(
        (block.start, block.end, alice.email)
        for on in (days, nights)
        for block in shifts_between(on, *WINDOW)
        if alice.pk in block.users
    )
    assert events == wanted
    summaries = {str(event["SUMMARY"]) for event in calendar.walk("VEVENT")}
    assert summaries == {"On call: Days", "On call: Nights"}
    assert calendar["X-WR-CALNAME"] == "Alice Example on call"


def test_unknown_or_revoked_tokens_are_not_found(org, other_org, client):
    alice = person(org, "Alice")
    primary = schedule(org)
    layer(primary, [alice], utc(1, 5))
    issued = calendar_feed_create(organization=org, created_by=alice, schedule=primary)
    theirs = schedule(other_org, "Theirs")
    carol = person(other_org, "Carol")
    layer(theirs, [carol], utc(1, 5))
    their_token = calendar_feed_create(
        organization=other_org, created_by=carol, schedule=theirs
    ).token

    # Another organization's token shows its own schedule only.
    calendar, events = read_feed(client, their_token)
    assert calendar["X-WR-CALNAME"] == "Theirs on call"
    assert {email for *_, email in events} == {carol.email}

    for token in ("okcal_" + "x" * 43, "nonsense", issued.token[:-1]):
        response = client.get(f"/calendars/{token}.ics")
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
    calendar_feed_revoke(feed=issued.feed, actor=alice)
    response = client.get(f"/calendars/{issued.token}.ics")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": NOT_FOUND}


# --- imports from text ----------------------------------------------------------------------

ROTA = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example//Rota//EN
BEGIN:VEVENT
UID:weekly-alice
DTSTART;TZID=Europe/Berlin:20260302T090000
DTEND;TZID=Europe/Berlin:20260303T090000
RRULE:FREQ=WEEKLY;COUNT=6
SUMMARY:Primary
ATTENDEE;CN=Someone:mailto:ALICE@EXAMPLE.COM
ORGANIZER:mailto:bob@example.com
END:VEVENT
BEGIN:VEVENT
UID:organizer-bob
DTSTART:20260309T110000Z
DTEND:20260309T140000Z
SUMMARY:Cover
ORGANIZER:mailto:bob@example.com
END:VEVENT
BEGIN:VEVENT
UID:name-carol
DTSTART:20260304T100000Z
DTEND:20260304T120000Z
SUMMARY:carol example
END:VEVENT
BEGIN:VEVENT
UID:description-dave
DTSTART:20260305T100000
DTEND:20260305T120000
SUMMARY:Second line
DESCRIPTION:Reach dave@example.com on the usual number.
END:VEVENT
BEGIN:VEVENT
UID:allday-erin
DTSTART;VALUE=DATE:20260320
DTEND;VALUE=DATE:20260322
SUMMARY:Erin Example
END:VEVENT
BEGIN:VEVENT
UID:offsite
DTSTART:20260306T080000Z
DTEND:20260306T160000Z
SUMMARY:Team offsite
END:VEVENT
BEGIN:VEVENT
UID:cancelled
DTSTART:20260307T080000Z
DTEND:20260307T160000Z
SUMMARY:alice@example.com
STATUS:CANCELLED
END:VEVENT
END:VCALENDAR
"""


def test_import_from_text_maps_people_expands_rules_and_answers_who_is_on_call(org):
    alice, bob, carol, dave, erin = (
        person(org, n) for n in ("Alice", "Bob", "Carol", "Dave", "Erin")
    )
    night = person(org, "Night")
    primary = schedule(org, time_zone="Europe/Berlin")
    layer(primary, [night], utc(1, 1), rotation_type=RotationType.DAILY)

    imported = layer_create_imported(schedule=primary, name="Rota", text=ROTA, priority=5)

    mondays = [utc(3, 2, 8), utc(3, 9, 8), utc(3, 16, 8), utc(3, 23, 8), utc(3, 30, 7)]
    blocks = [
        (utc(3, 2, 8), utc(3, 3, 8), alice.pk),
        (utc(3, 4, 10), utc(3, 4, 12), carol.pk),  # the title is her name
        (utc(3, 5, 9), utc(3, 5, 11), dave.pk),  # floating time, read in Berlin
        (utc(3, 9, 8), utc(3, 9, 11), alice.pk),  # the attendee wins over the organizer...
        (utc(3, 9, 11), utc(3, 9, 14), bob.pk),  # ...who has his own event on top
        (utc(3, 9, 14), utc(3, 10, 8), alice.pk),  # and alice resumes after it
        (utc(3, 16, 8), utc(3, 17, 8), alice.pk),
        (utc(3, 19, 23), utc(3, 21, 23), erin.pk),  # two whole Berlin days
        (utc(3, 23, 8), utc(3, 24, 8), alice.pk),
        (utc(3, 30, 7), utc(3, 31, 7), alice.pk),  # 09:00 Berlin is 07:00 UTC after DST
        (utc(4, 6, 7), utc(4, 7, 7), alice.pk),
    ]
    layer_row = Layer.objects.get(pk=imported.layer.pk)
    assert layer_row.ical_blocks == [[s.isoformat(), e.isoformat(), u] for s, e, u in blocks]
    assert layer_row.ical_text == ROTA
    assert layer_row.ical_fetched_at == NOW
    assert layer_row.ical_error == ""
    assert imported.blocks == len(blocks)
    assert imported.warnings == [
        "“Team offsite” (once) matches nobody in the organization; left uncovered.",
        "1 overlapping event: where events overlap, the later-starting one is on call while "
        "it lasts.",
    ]
    assert [oncall_users_at(primary, at + timedelta(hours=1)) for at in mondays] == [[alice]] * 5
    assert oncall_users_at(primary, utc(3, 9, 12)) == [bob]
    assert oncall_users_at(primary, utc(3, 20, 12)) == [erin]
    assert oncall_users_at(primary, utc(3, 6, 12)) == [night]  # unmatched: the layer below


def test_import_replaces_a_layers_calendar_and_is_audited(org):
    alice, bob = person(org, "Alice"), person(org, "Bob")
    primary = schedule(org)
    created = layer_create_imported(schedule=primary, name="Rota", text=ROTA)
    swapped = ROTA.replace("ALICE@EXAMPLE.COM", "bob@example.com")

    result = layer_import_ical(layer=created.layer, text=swapped, actor=alice)

    assert oncall_users_at(primary, utc(3, 2, 12)) == [bob]
    assert result.layer.ical_text == swapped
    event = AuditEvent.objects.get(action="schedule.layer.calendar_imported")
    assert (event.actor, event.target_id, event.data["blocks"]) == (alice, str(created.layer.pk), 6)


def test_overlaps_give_way_to_the_later_start_and_the_earlier_event_resumes():
    text = """BEGIN:VCALENDAR
BEGIN:VEVENT
UID:week
DTSTART:20260302T000000Z
DTEND:20260309T000000Z
SUMMARY:a@x.org
END:VEVENT
BEGIN:VEVENT
UID:day
DTSTART:20260304T000000Z
DTEND:20260305T000000Z
SUMMARY:b@x.org
END:VEVENT
BEGIN:VEVENT
UID:same-start-shorter
DTSTART:20260302T000000Z
DTEND:20260302T060000Z
SUMMARY:c@x.org
END:VEVENT
END:VCALENDAR
"""
    parsed = parse_calendar(
        text,
        people={"a@x.org": 1, "b@x.org": 2, "c@x.org": 3},
        time_zone="UTC",
        start=utc(1, 1),
        end=utc(6, 1),
    )
    assert parsed.blocks == [
        (utc(3, 2), utc(3, 2, 6), 3),
        (utc(3, 2, 6), utc(3, 4), 1),
        (utc(3, 4), utc(3, 5), 2),
        (utc(3, 5), utc(3, 9), 1),
    ]


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("garbage", "not an iCalendar file"),
        ("<html><body>Sign in</body></html>", "not an iCalendar file"),
        ("BEGIN:VCALENDAR\nthis is not a property\nEND:VCALENDAR\n", "cannot be read"),
        (ROTA.replace("COUNT=6", "FREQ=SECONDLY").replace("FREQ=WEEKLY;", ""), "repeats too often"),
    ],
)
def test_unreadable_calendars_are_refused_and_nothing_is_written(org, text, message):
    alice = person(org, "Alice")
    primary = schedule(org)
    existing = layer_create_imported(schedule=primary, name="Rota", text=ROTA).layer
    audits = AuditEvent.objects.count()

    with pytest.raises(CalendarError, match=message):
        parse_calendar(text, people={}, time_zone="UTC", start=utc(1, 1), end=utc(6, 1))
    with pytest.raises(ValidationError, match=message) as refused:
        layer_create_imported(schedule=primary, name="Broken", text=text, actor=alice)
    assert "ical_text" in refused.value.message_dict
    with pytest.raises(ValidationError, match=message):
        layer_import_ical(layer=existing, text=text, actor=alice)

    assert Layer.objects.filter(schedule=primary).count() == 1
    assert Layer.objects.get(pk=existing.pk).ical_text == ROTA
    assert AuditEvent.objects.count() == audits


def test_only_an_imported_layer_takes_a_calendar(org):
    alice = person(org, "Alice")
    rotation = layer(schedule(org), [alice], utc(1, 5))
    with pytest.raises(ValidationError, match="rotation"):
        layer_import_ical(layer=rotation, text=ROTA)
    with pytest.raises(ValidationError, match="either"):
        layer_create_imported(schedule=rotation.schedule, name="Both", text=ROTA, url="http://x")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("webcal://cal.example.com/rota.ics", "https://cal.example.com/rota.ics"),
        ("  HTTP://cal.example.com/a?b=c ", "http://cal.example.com/a?b=c"),
        ("file:///etc/passwd", None),
        ("ftp://cal.example.com/rota.ics", None),
        ("https:///no-host", None),
    ],
)
def test_calendar_urls_are_http_only(given, expected):
    if expected is None:
        with pytest.raises(fetching.CalendarFetchError, match="must start with"):
            normalize_calendar_url(given)
    else:
        assert normalize_calendar_url(given) == expected


# --- imports from a URL ---------------------------------------------------------------------


class CalendarServer:
    """A loopback HTTP server whose answer the test changes as it goes."""

    def __init__(self) -> None:
        self.status = 200
        self.body = ROTA.encode()
        self.headers: dict[str, str] = {"Content-Type": "text/calendar; charset=utf-8"}
        self.delay = 0.0
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                clock.sleep(owner.delay)
                self.send_response(owner.status)
                for name, value in owner.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        # A client that gave up (the timeout test) leaves a broken pipe: not worth a traceback.
        self.httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/rota.ics"


@pytest.fixture
def server(settings) -> Iterator[CalendarServer]:
    """A calendar server on loopback, which imports may reach only when an operator allows it."""
    settings.CALENDAR_IMPORT_ALLOW_PRIVATE_ADDRESSES = True
    running = CalendarServer()
    thread = threading.Thread(target=running.httpd.serve_forever, daemon=True)
    thread.start()
    yield running
    running.httpd.shutdown()
    running.httpd.server_close()


def test_private_addresses_are_refused_by_default(org, server, settings):
    settings.CALENDAR_IMPORT_ALLOW_PRIVATE_ADDRESSES = False
    primary = schedule(org)
    for url in (server.url, server.url.replace("127.0.0.1", "localhost")):
        with pytest.raises(ValidationError, match=r"private address \(127\.0\.0\.1\)"):
            layer_create_imported(schedule=primary, name="Internal", url=url)
    assert server.requests == 0
    assert not Layer.objects.filter(schedule=primary).exists()


def test_subscribed_calendar_refreshes_and_failures_keep_the_last_rota(org, server):
    alice, bob = person(org, "Alice"), person(org, "Bob")
    primary = schedule(org, time_zone="Europe/Berlin")
    created = layer_create_imported(schedule=primary, name="Rota", url=server.url)
    layer_row = Layer.objects.get(pk=created.layer.pk)
    assert (layer_row.ical_url, layer_row.ical_text) == (server.url, ROTA)
    good_blocks = layer_row.ical_blocks
    assert oncall_users_at(primary, utc(3, 16, 12)) == [alice]

    # The server fails: the blocks stay, and the layer says why.
    for status, body, reason in [
        (500, b"oops", "The calendar server answered HTTP 500 (Internal Server Error)."),
        (200, b"<html>Please sign in</html>", "This is not an iCalendar file"),
    ]:
        server.status, server.body = status, body
        assert layer_refresh_from_url(layer_row) is False
        layer_row.refresh_from_db()
        assert layer_row.ical_blocks == good_blocks
        assert layer_row.ical_text == ROTA
        assert layer_row.ical_error.startswith(reason)
        assert layer_row.ical_error.endswith("The calendar read before is kept.")
        assert oncall_users_at(primary, utc(3, 16, 12)) == [alice]
    assert AuditEvent.objects.filter(action="schedule.layer.calendar_failed").count() == 1

    # It recovers: the periodic refresh picks the layer up once it is due, and only then.
    server.status, server.body = 200, ROTA.replace("ALICE@EXAMPLE.COM", "bob@example.com").encode()
    requests = server.requests
    assert refresh_imported_layers(now=NOW + timedelta(minutes=5)) == 0
    assert server.requests == requests
    assert refresh_imported_layers(now=NOW + timedelta(minutes=16)) == 1
    layer_row.refresh_from_db()
    assert layer_row.ical_error == ""
    assert layer_row.ical_fetched_at == NOW + timedelta(minutes=16)
    assert oncall_users_at(primary, utc(3, 16, 12)) == [bob]
    assert AuditEvent.objects.filter(action="schedule.layer.calendar_refreshed").count() == 1
    assert refresh_imported_layers(now=NOW + timedelta(minutes=20)) == 0


def test_slow_large_and_redirecting_servers_are_refused(org, server, monkeypatch):
    primary = schedule(org)
    monkeypatch.setattr(fetching, "FETCH_TIMEOUT", 0.3)
    server.delay = 1.0
    with pytest.raises(ValidationError, match=r"did not answer within 0\.3 seconds"):
        layer_create_imported(schedule=primary, name="Slow", url=server.url)
    server.delay = 0.0
    monkeypatch.setattr(fetching, "MAX_CALENDAR_BYTES", 1000)
    with pytest.raises(ValidationError, match="larger than 1000 bytes"):
        layer_create_imported(schedule=primary, name="Large", url=server.url)
    server.status, server.headers = 302, {"Location": "ftp://127.0.0.1/rota.ics"}
    with pytest.raises(ValidationError, match="redirected to a non-HTTP address"):
        layer_create_imported(schedule=primary, name="Moved", url=server.url)
    assert not Layer.objects.filter(schedule=primary).exists()


def test_uploaded_calendars_are_re_expanded_daily_without_fetching(org):
    alice = person(org, "Alice")
    primary = schedule(org)
    weekly = ROTA.replace("COUNT=6", "COUNT=100")
    created = layer_create_imported(schedule=primary, name="Rota", text=weekly)
    last = Layer.objects.get(pk=created.layer.pk).ical_blocks[-1]
    assert last[:2] == [utc(8, 31, 7).isoformat(), utc(9, 1, 7).isoformat()]  # the last Monday

    later = NOW + timedelta(days=30)
    assert refresh_imported_layers(now=NOW + timedelta(hours=2)) == 0
    assert refresh_imported_layers(now=later) == 1
    assert oncall_users_at(primary, utc(9, 21, 12)) == [alice]  # past the first window


def test_shifts_from_an_imported_calendar_count_as_the_persons_shifts(org, other_org):
    alice = person(org, "Alice")
    primary = schedule(org, time_zone="Europe/Berlin")
    layer_create_imported(schedule=primary, name="Rota", text=ROTA)
    shifts = user_shifts(alice, utc(3, 2), utc(3, 4), organization=org)
    assert [(s.schedule, s.start, s.end) for s in shifts] == [(primary, utc(3, 2, 8), utc(3, 3, 8))]
    assert user_shifts(alice, utc(3, 2), utc(3, 4), organization=other_org) == []


def test_a_person_feed_is_only_for_members(org, other_org):
    outsider = member(other_org)
    with pytest.raises(ValidationError, match="not a member"):
        calendar_feed_create(organization=org, created_by=None, user=outsider)
