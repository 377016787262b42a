"""Schedules API writes: schedules, layers, swaps, calendar feeds.

Success shapes with exact values, the permission matrix, bad input, and the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.utils import timezone

from oncall.calendars import layer_create_imported
from oncall.models import (
    CalendarFeed,
    Layer,
    LayerRestriction,
    Schedule,
    ShiftSwap,
    SwapStatus,
)
from oncall.schedule_services import layer_update
from oncall.services import (
    RestrictionInput,
    calendar_feed_create,
    schedule_create,
    swap_offer,
    team_create,
)
from opsknight.models import APIKey, AuditEvent, Role, User
from tests.oncall.factories import layer, people, schedule
from tests.opsknight.factories import issue_key, member

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 5, 12, tzinfo=UTC)  # a Wednesday; every schedule here is in UTC


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def day(d: int, hour: int = 0) -> datetime:
    return datetime(2025, 3, d, hour, tzinfo=UTC)


def summary(user: User) -> dict[str, Any]:
    return {"id": user.pk, "email": user.email, "display_name": user.display_name}


def key_label() -> str:
    return f"API key test key ({APIKey.objects.get().prefix})"


def audit(world: SimpleNamespace, prefix: str = "") -> list[tuple[str, int | None, str]]:
    """(action, actor id, actor label) of what the test did, after the world was built."""
    rows = AuditEvent.objects.filter(pk__gt=world.audited, action__startswith=prefix)
    return list(rows.order_by("id").values_list("action", "actor_id", "actor_label"))


@pytest.fixture(autouse=True)
def _frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.fixture
def world(org):
    """Primary: bob this week (from Mon 3 March 09:00), alice the next. Secondary: empty."""
    alice, bob, carol = people(org, 3)
    team = team_create(organization=org, name="SRE")
    primary = schedule_create(organization=org, name="Primary", team=team)
    days = layer(primary, [bob, alice], day(3, 9), name="Days", end=day(17, 9))
    secondary = schedule(org, "Secondary")
    return SimpleNamespace(
        org=org,
        alice=alice,
        bob=bob,
        carol=carol,
        team=team,
        primary=primary,
        secondary=secondary,
        days=days,
        audited=AuditEvent.objects.aggregate(last=Max("id"))["last"],
    )


def url(org, rest: str = "") -> str:
    return f"/api/v1/organizations/{org.slug}{rest}"


def as_(api_client, user: User):
    api_client.force_authenticate(user)
    return api_client


# --- schedules --------------------------------------------------------------------------------


def test_create_a_schedule_answers_with_its_detail(world, api_client):
    manager = member(world.org, Role.MANAGER)
    body = {
        "name": "Payments",
        "time_zone": "Europe/Berlin",
        "team": world.team.pk,
        "description": "Card flows",
    }
    response = as_(api_client, manager).post(url(world.org, "/schedules"), body, format="json")
    assert response.status_code == 201
    created = Schedule.objects.get(name="Payments")
    assert response.json() == {
        "id": created.pk,
        "name": "Payments",
        "description": "Card flows",
        "time_zone": "Europe/Berlin",
        "team": {"id": world.team.pk, "name": "SRE"},
        "on_call_now": [],
        "next_handoff": None,
        "layers": [],
        "health": {
            "healthy": False,
            "gaps": [{"start": "2025-03-05T12:00:00Z", "end": "2025-03-19T12:00:00Z"}],
            "single_person_layers": [],
            "empty_layers": [],
            "layers_ending_soon": [],
        },
    }
    assert audit(world) == [("schedule.created", manager.pk, manager.email)]


def test_edit_and_delete_a_schedule(world, api_client):
    manager = member(world.org, Role.MANAGER)
    client = as_(api_client, manager)
    path = url(world.org, f"/schedules/{world.primary.pk}")
    changes = {"name": "Primary EU", "team": None, "time_zone": "Europe/Paris"}
    response = client.patch(path, changes, format="json")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("id", "name", "team", "time_zone", "description")} == {
        "id": world.primary.pk,
        "name": "Primary EU",
        "team": None,
        "time_zone": "Europe/Paris",
        "description": "",
    }
    assert [layer["id"] for layer in body["layers"]] == [world.days.pk]
    assert client.patch(path, {}, format="json").status_code == 200  # no change: no audit
    assert client.patch(path, {"name": "Primary EU"}, format="json").status_code == 200

    assert client.delete(path).status_code == 204
    assert not Schedule.objects.filter(pk=world.primary.pk).exists()
    assert not Layer.objects.filter(pk=world.days.pk).exists()
    assert client.delete(path).status_code == 404
    assert audit(world) == [
        ("schedule.changed", manager.pk, manager.email),
        ("schedule.deleted", manager.pk, manager.email),
    ]
    event = AuditEvent.objects.get(action="schedule.changed")
    assert event.data == {"fields": ["name", "team", "time_zone"]}
    assert AuditEvent.objects.get(action="schedule.deleted").data == {"name": "Primary EU"}


def test_unknown_methods_are_a_405_naming_those_allowed(world, api_client):
    client = as_(api_client, member(world.org, Role.MANAGER))
    response = client.put(url(world.org, "/schedules"), {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert set(response["Allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    detail = client.post(url(world.org, f"/schedules/{world.primary.pk}"), {}, format="json")
    assert detail.status_code == 405
    assert set(detail["Allow"].split(", ")) == {"GET", "PATCH", "DELETE", "OPTIONS"}


# --- layers -----------------------------------------------------------------------------------

BUSINESS_LAYER = {
    "name": "Business hours",
    "priority": 5,
    "start": "2025-03-03T09:30:00+01:00",
    "end": None,
    "rotation_type": "custom",
    "rotation_length": 2,
    "rotation_unit": "days",
    "handoff_time": "08:30",
    "shift_length": "PT10H",
    "restrictions": [
        {"kind": "daily", "days": [4, 0, 1, 2, 3], "start_time": "08:00", "end_time": "18:00"},
        {
            "kind": "weekly",
            "start_weekday": 5,
            "start_time": "10:00",
            "end_weekday": 5,
            "end_time": "12:00:30",
        },
    ],
}


def test_create_a_layer_and_see_who_is_on_call(world, api_client):
    manager = member(world.org, Role.MANAGER)
    client = as_(api_client, manager)
    sched = url(world.org, f"/schedules/{world.secondary.pk}")
    body = BUSINESS_LAYER | {"participants": [world.alice.pk, world.bob.pk, world.alice.pk]}
    response = client.post(f"{sched}/layers", body, format="json")
    assert response.status_code == 201
    created = Layer.objects.get(name="Business hours")
    weekdays, saturday = LayerRestriction.objects.filter(layer=created).order_by("id")
    assert response.json() == {
        "id": created.pk,
        "name": "Business hours",
        "priority": 5,
        "source": "rotation",
        "start": "2025-03-03T08:30:00Z",
        "end": None,
        "rotation_type": "custom",
        "turn": {"length": 2, "unit": "days"},
        "handoff_time": "08:30:00",
        "shift_length": "P0DT10H00M00S",
        "participants": [
            {"position": 0, "user": summary(world.alice)},
            {"position": 1, "user": summary(world.bob)},
            {"position": 2, "user": summary(world.alice)},
        ],
        "restrictions": [
            {
                "id": weekdays.pk,
                "kind": "daily",
                "days": [0, 1, 2, 3, 4],
                "start_weekday": None,
                "start_time": "08:00:00",
                "end_weekday": None,
                "end_time": "18:00:00",
            },
            {
                "id": saturday.pk,
                "kind": "weekly",
                "days": [],
                "start_weekday": 5,
                "start_time": "10:00:00",
                "end_weekday": 5,
                "end_time": "12:00:30",
            },
        ],
    }
    # Turn 1 (bob) runs from Wed 08:30 for two days; his shift is 10 h; the window ends at 18:00.
    for at, who in [("2025-03-05T12:00:00Z", [world.bob]), ("2025-03-05T18:30:00Z", [])]:
        now = client.get(f"{sched}/oncall", {"at": at}).json()
        assert now["users"] == [summary(u) for u in who]
    assert audit(world, "schedule.layer.") == [
        ("schedule.layer.created", manager.pk, manager.email)
    ]
    assert AuditEvent.objects.filter(pk__gt=world.audited).get(
        action="schedule.layer.created"
    ).data == {
        "schedule": world.secondary.pk,
        "participants": [world.alice.pk, world.bob.pk, world.alice.pk],
    }


def test_edit_a_layer_replacing_its_people_and_windows(world, api_client):
    manager = member(world.org, Role.MANAGER)
    client = as_(api_client, manager)
    path = url(world.org, f"/schedules/{world.primary.pk}/layers/{world.days.pk}")
    changes = {
        "name": "Weekdays",
        "participants": [world.carol.pk, world.bob.pk],
        "restrictions": [{"start_time": "22:00", "end_time": "06:00"}],
        "shift_length": None,
    }
    response = client.patch(path, changes, format="json")
    assert response.status_code == 200
    body = response.json()
    (night,) = LayerRestriction.objects.filter(layer=world.days)
    assert body["name"] == "Weekdays"
    assert body["participants"] == [
        {"position": 0, "user": summary(world.carol)},
        {"position": 1, "user": summary(world.bob)},
    ]
    assert body["restrictions"] == [
        {
            "id": night.pk,
            "kind": "daily",
            "days": [],
            "start_weekday": None,
            "start_time": "22:00:00",
            "end_weekday": None,
            "end_time": "06:00:00",
        }
    ]
    assert body["start"] == "2025-03-03T09:00:00Z"  # untouched
    oncall = url(world.org, f"/schedules/{world.primary.pk}/oncall")
    assert client.get(oncall, {"at": "2025-03-05T23:00:00Z"}).json()["users"] == [
        summary(world.carol)
    ]
    assert client.get(oncall).json()["users"] == []  # noon: outside the only window

    assert client.patch(path, changes, format="json").status_code == 200  # the same: no audit
    assert client.delete(path).status_code == 204
    assert client.delete(path).status_code == 404
    assert audit(world, "schedule.layer.") == [
        ("schedule.layer.changed", manager.pk, manager.email),
        ("schedule.layer.deleted", manager.pk, manager.email),
    ]
    assert AuditEvent.objects.get(action="schedule.layer.changed").data == {
        "schedule": world.primary.pk,
        "fields": ["name", "participants", "restrictions"],
        "participants": [world.carol.pk, world.bob.pk],
    }


def test_a_bad_restriction_writes_nothing(world, api_client):
    client = as_(api_client, member(world.org, Role.MANAGER))
    sched = url(world.org, f"/schedules/{world.primary.pk}")
    windows = [
        {"start_time": "08:00", "end_time": "18:00"},
        {"kind": "daily", "start_time": "09:00", "end_time": "09:00"},
    ]
    body = {"name": "X", "start": iso(day(3)), "participants": [world.alice.pk]}
    created = client.post(f"{sched}/layers", body | {"restrictions": windows}, format="json")
    assert created.status_code == 400
    assert created.json()["details"] == {
        "restrictions": {"1": {"end_time": ["The window is empty: it ends where it starts."]}}
    }
    changes = {"participants": [world.carol.pk], "name": "Y", "restrictions": windows}
    edited = client.patch(f"{sched}/layers/{world.days.pk}", changes, format="json")
    assert edited.status_code == 400
    assert list(Layer.objects.filter(schedule=world.primary)) == [world.days]
    assert Layer.objects.get().name == "Days"
    assert list(world.days.participants.values_list("user_id", flat=True)) == [
        world.bob.pk,
        world.alice.pk,
    ]
    assert audit(world, "schedule.layer.") == []


def test_layer_update_is_one_transaction(world):
    """The service alone: a window the model refuses undoes the new rotation order too."""
    empty = RestrictionInput(start_time=time(9), end_time=time(9))
    with pytest.raises(ValidationError):
        layer_update(
            layer=world.days,
            changes={"name": "Y"},
            participants=[world.carol],
            restrictions=[empty],
        )
    world.days.refresh_from_db()
    assert world.days.name == "Days"
    assert list(world.days.participants.values_list("user_id", flat=True)) == [
        world.bob.pk,
        world.alice.pk,
    ]


def test_an_imported_calendar_layer_may_only_move(world, api_client):
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:1\r\n"
        "DTSTART:20250306T090000Z\r\nDTEND:20250306T170000Z\r\n"
        f"SUMMARY:{world.alice.email}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    imported = layer_create_imported(schedule=world.secondary, name="Rota", text=ics).layer
    client = as_(api_client, member(world.org, Role.MANAGER))
    path = url(world.org, f"/schedules/{world.secondary.pk}/layers/{imported.pk}")
    refused = client.patch(
        path, {"participants": [world.bob.pk], "handoff_time": "10:00"}, format="json"
    )
    assert refused.status_code == 400
    message = ["An imported calendar layer takes its people and times from the calendar."]
    assert refused.json()["details"] == {"handoff_time": message, "participants": message}
    moved = client.patch(path, {"name": "Rota 2", "priority": 3}, format="json")
    assert moved.status_code == 200
    assert (moved.json()["name"], moved.json()["priority"]) == ("Rota 2", 3)


# --- swaps ------------------------------------------------------------------------------------


def swap_body(swap: ShiftSwap, **changes: Any) -> dict[str, Any]:
    return {
        "id": swap.pk,
        "requester": summary(swap.requester),
        "start": iso(swap.start),
        "end": iso(swap.end),
        "note": swap.note,
        "status": "open",
        "taken_by": None,
        "taken_at": None,
        "override": None,
        "created_at": iso(swap.created_at),
    } | changes


def test_a_swap_offered_and_taken_changes_who_is_on_call(world, api_client):
    sched = url(world.org, f"/schedules/{world.primary.pk}")
    thursday_noon = {"at": "2025-03-06T12:00:00Z"}
    client = as_(api_client, world.bob)
    assert client.get(f"{sched}/oncall", thursday_noon).json()["users"] == [summary(world.bob)]
    body = {"start": "2025-03-06T10:00:00+01:00", "end": "2025-03-06T18:00:00Z", "note": "Dentist"}
    offered = client.post(f"{sched}/swaps", body, format="json")
    assert offered.status_code == 201
    swap = ShiftSwap.objects.get()
    assert offered.json() == swap_body(swap)
    assert (swap.start, swap.end, swap.note) == (day(6, 9), day(6, 18), "Dentist")

    taken = as_(api_client, world.alice).post(f"{sched}/swaps/{swap.pk}/take")
    assert taken.status_code == 200
    swap.refresh_from_db()
    assert taken.json() == swap_body(
        swap,
        status="taken",
        taken_by=summary(world.alice),
        taken_at="2025-03-05T12:00:00Z",
        override=swap.override_id,
    )
    assert client.get(f"{sched}/oncall", thursday_noon).json()["users"] == [summary(world.alice)]
    assert client.get(f"{sched}/swaps").json() == [taken.json()]
    assert audit(world) == [
        ("schedule.swap.offered", world.bob.pk, world.bob.email),
        ("schedule.override.created", world.alice.pk, world.alice.email),
        ("schedule.swap.taken", world.alice.pk, world.alice.email),
    ]
    again = client.post(f"{sched}/swaps/{swap.pk}/take")
    assert again.status_code == 400
    assert again.json()["details"] == {"status": ["This offer is taken."]}


def test_swaps_list_open_and_recent_ones(world, api_client):
    ShiftSwap.objects.create(  # ended over 30 days ago, never taken
        schedule=world.primary,
        requester=world.bob,
        start=datetime(2025, 1, 31, tzinfo=UTC),
        end=datetime(2025, 2, 1, tzinfo=UTC),
    )
    recent = ShiftSwap.objects.create(
        schedule=world.primary,
        requester=world.bob,
        start=day(1),
        end=day(2),
        status=SwapStatus.CANCELLED,
    )
    upcoming = swap_offer(schedule=world.primary, requester=world.bob, start=day(7), end=day(8))
    response = as_(api_client, member(world.org, Role.VIEWER)).get(
        url(world.org, f"/schedules/{world.primary.pk}/swaps")
    )
    assert response.status_code == 200
    assert [s["id"] for s in response.json()] == [recent.pk, upcoming.pk]
    assert response.json()[0]["status"] == "cancelled"


def test_cancel_a_swap(world, api_client):
    sched = url(world.org, f"/schedules/{world.primary.pk}")

    def offer(d: int) -> ShiftSwap:
        return swap_offer(schedule=world.primary, requester=world.bob, start=day(d), end=day(d, 6))

    own, by_manager, by_key = offer(6), offer(7), offer(8)
    refused = as_(api_client, world.alice).post(f"{sched}/swaps/{own.pk}/cancel")
    assert refused.status_code == 403
    assert refused.json()["message"] == "You may only cancel your own offers."
    cancelled = as_(api_client, world.bob).post(f"{sched}/swaps/{own.pk}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json() == swap_body(own, status="cancelled")
    manager = member(world.org, Role.MANAGER)
    assert as_(api_client, manager).post(f"{sched}/swaps/{by_manager.pk}/cancel").status_code == 200
    api_client.force_authenticate(None)
    api_client.credentials(HTTP_AUTHORIZATION="Bearer " + issue_key(world.org, "schedules:write"))
    assert api_client.post(f"{sched}/swaps/{by_key.pk}/cancel").status_code == 200
    assert audit(world, "schedule.swap.cancelled") == [
        ("schedule.swap.cancelled", world.bob.pk, world.bob.email),
        ("schedule.swap.cancelled", manager.pk, manager.email),
        ("schedule.swap.cancelled", None, key_label()),
    ]


def test_api_keys_cannot_offer_or_take_swaps(world, api_client):
    swap = swap_offer(schedule=world.primary, requester=world.bob, start=day(7), end=day(8))
    api_client.credentials(HTTP_AUTHORIZATION="Bearer " + issue_key(world.org, "schedules:write"))
    sched = url(world.org, f"/schedules/{world.primary.pk}")
    offer = {"start": iso(day(6)), "end": iso(day(7))}
    offered = api_client.post(f"{sched}/swaps", offer, format="json")
    taken = api_client.post(f"{sched}/swaps/{swap.pk}/take")
    assert (offered.status_code, taken.status_code) == (403, 403)
    assert offered.json() == {
        "error": "permission_denied",
        "message": "Shift swaps are between people: an API key cannot offer one.",
    }
    assert taken.json()["message"] == "Shift swaps are between people: an API key cannot take one."


# --- calendar feeds ---------------------------------------------------------------------------


def test_a_personal_feed_is_shown_once_served_and_revoked(world, api_client):
    client = as_(api_client, world.bob)
    feeds = url(world.org, "/calendar-feeds")
    created = client.post(feeds, {"user": "me"}, format="json")
    assert created.status_code == 201
    feed = CalendarFeed.objects.get()
    body = created.json()
    address = body.pop("url")
    assert address.startswith(f"http://testserver/calendars/{feed.prefix}")
    assert address.endswith(".ics")
    listed = {
        "id": feed.pk,
        "schedule": None,
        "user": summary(world.bob),
        "prefix": feed.prefix,
        "created_by": summary(world.bob),
        "created_at": iso(feed.created_at),
        "last_used_at": None,
    }
    assert body == listed

    calendar = client.get(address)
    assert calendar.status_code == 200
    assert calendar["Content-Type"] == "text/calendar; charset=utf-8"
    assert b"SUMMARY:On call: Primary" in calendar.content
    assert b"DTSTART:20250303T090000Z" in calendar.content
    assert b"DTEND:20250310T090000Z" in calendar.content
    assert client.get(feeds).json() == [listed | {"last_used_at": "2025-03-05T12:00:00Z"}]

    assert client.delete(f"{feeds}/{feed.pk}").status_code == 204
    assert client.get(address).status_code == 404
    assert client.get(feeds).json() == []
    assert client.delete(f"{feeds}/{feed.pk}").status_code == 404
    assert audit(world) == [
        ("calendar_feed.created", world.bob.pk, world.bob.email),
        ("calendar_feed.revoked", world.bob.pk, world.bob.email),
    ]


def test_who_sees_which_feeds(world, api_client):
    def issue(by: User, **subject: Any) -> CalendarFeed:
        return calendar_feed_create(organization=world.org, created_by=by, **subject).feed

    bobs_schedule_feed = issue(world.bob, schedule=world.primary)
    bobs_own = issue(world.bob, user=world.bob)
    alices_own = issue(world.alice, user=world.alice)
    for_carol = issue(member(world.org, Role.ADMIN), user=world.carol)
    theirs = issue(world.alice, schedule=world.secondary)
    calendar_feed_create(organization=world.org, created_by=world.bob, user=world.bob)
    CalendarFeed.objects.filter(pk=CalendarFeed.objects.latest("id").pk).update(revoked_at=NOW)
    feeds = url(world.org, "/calendar-feeds")

    def ids(client) -> list[int]:
        return [feed["id"] for feed in client.get(feeds).json()]

    assert ids(as_(api_client, world.bob)) == [bobs_schedule_feed.pk, bobs_own.pk]
    assert ids(as_(api_client, world.carol)) == [for_carol.pk]
    manager = member(world.org, Role.MANAGER)
    assert ids(as_(api_client, manager)) == [bobs_schedule_feed.pk, theirs.pk]
    assert as_(api_client, world.bob).delete(f"{feeds}/{alices_own.pk}").status_code == 404
    assert as_(api_client, manager).delete(f"{feeds}/{alices_own.pk}").status_code == 204


def test_a_schedule_feed_for_anyone_who_may_see_the_schedule(world, api_client):
    viewer = member(world.org, Role.VIEWER)
    response = as_(api_client, viewer).post(
        url(world.org, "/calendar-feeds"), {"schedule": world.primary.pk}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["schedule"] == {"id": world.primary.pk, "name": "Primary"}
    assert (body["user"], body["created_by"]) == (None, summary(viewer))
    calendar = api_client.get(body["url"])
    assert calendar.status_code == 200
    assert f"SUMMARY:On call: Primary ({world.bob.display_name})".encode() in calendar.content


# --- permissions ------------------------------------------------------------------------------

OPS = (
    "create schedule",
    "edit schedule",
    "delete schedule",
    "create layer",
    "edit layer",
    "delete layer",
    "offer swap",
    "take swap",
    "cancel another's swap",
    "schedule feed",
    "personal feed",
    "revoke another's feed",
)
MANAGE = (201, 200, 204, 201, 200, 204, 201, 200, 200, 201, 201, 204)
MATRIX: dict[str, tuple[int, ...]] = {
    "viewer": (403, 403, 403, 403, 403, 403, 403, 403, 403, 201, 201, 404),
    "responder": (403, 403, 403, 403, 403, 403, 201, 200, 403, 201, 201, 404),
    "manager": MANAGE,
    "admin": MANAGE,
    "owner": MANAGE,
    "key:schedules:read": (403, 403, 403, 403, 403, 403, 403, 403, 403, 201, 403, 404),
    "key:schedules:write": (201, 200, 204, 201, 200, 204, 403, 403, 200, 201, 403, 204),
    "key:incidents:read": (403,) * 12,
    "other-org-owner": (404,) * 12,
    "anonymous": (401,) * 12,
}


def _principal(api_client, org, other_org, name: str) -> User | None:
    if name.startswith("key:"):
        api_client.credentials(HTTP_AUTHORIZATION="Bearer " + issue_key(org, name[4:]))
        return None
    if name == "other-org-owner":
        api_client.force_authenticate(member(other_org, Role.OWNER))
        return None
    if name == "anonymous":
        return None
    user = member(org, Role(name))
    api_client.force_authenticate(user)
    return user


Operation = tuple[str, str, dict[str, Any] | None, Callable[[], bool]]


def _operations(world, principal: User | None) -> dict[str, Operation]:
    """Each write as (method, path, body, did it happen?), on rows of its own."""
    org, base = world.org, url(world.org)
    primary = f"{base}/schedules/{world.primary.pk}"
    mine = schedule(org, "Mine")  # the principal's own rota, so they have a shift to offer
    if principal is not None:
        layer(mine, [principal], day(3, 9))
    doomed = schedule(org, "Doomed")
    doomed_layer = layer(world.primary, [world.alice], day(3), name="Doomed")
    to_take = swap_offer(schedule=world.primary, requester=world.bob, start=day(7), end=day(8))
    to_cancel = swap_offer(schedule=world.primary, requester=world.bob, start=day(8), end=day(9))
    carols = calendar_feed_create(
        organization=org, created_by=world.carol, schedule=world.primary
    ).feed

    def status_of(swap: ShiftSwap) -> str:
        swap.refresh_from_db()
        return swap.status

    new_layer = {"name": "L", "start": iso(day(3)), "participants": [world.alice.pk]}
    return {
        "create schedule": (
            "post",
            f"{base}/schedules",
            {"name": "New"},
            lambda: Schedule.objects.filter(name="New").exists(),
        ),
        "edit schedule": (
            "patch",
            primary,
            {"description": "x"},
            lambda: Schedule.objects.get(pk=world.primary.pk).description == "x",
        ),
        "delete schedule": (
            "delete",
            f"{base}/schedules/{doomed.pk}",
            None,
            lambda: not Schedule.objects.filter(pk=doomed.pk).exists(),
        ),
        "create layer": (
            "post",
            f"{primary}/layers",
            new_layer,
            lambda: Layer.objects.filter(name="L").exists(),
        ),
        "edit layer": (
            "patch",
            f"{primary}/layers/{world.days.pk}",
            {"priority": 9},
            lambda: Layer.objects.get(pk=world.days.pk).priority == 9,
        ),
        "delete layer": (
            "delete",
            f"{primary}/layers/{doomed_layer.pk}",
            None,
            lambda: not Layer.objects.filter(pk=doomed_layer.pk).exists(),
        ),
        "offer swap": (
            "post",
            f"{base}/schedules/{mine.pk}/swaps",
            {"start": iso(day(6)), "end": iso(day(7))},
            lambda: ShiftSwap.objects.filter(schedule=mine).exists(),
        ),
        "take swap": (
            "post",
            f"{primary}/swaps/{to_take.pk}/take",
            None,
            lambda: status_of(to_take) == SwapStatus.TAKEN,
        ),
        "cancel another's swap": (
            "post",
            f"{primary}/swaps/{to_cancel.pk}/cancel",
            None,
            lambda: status_of(to_cancel) == SwapStatus.CANCELLED,
        ),
        "schedule feed": (
            "post",
            f"{base}/calendar-feeds",
            {"schedule": world.primary.pk},
            lambda: CalendarFeed.objects.filter(schedule=world.primary).count() == 2,
        ),
        "personal feed": (
            "post",
            f"{base}/calendar-feeds",
            {"user": "me"},
            lambda: CalendarFeed.objects.filter(user__isnull=False).exists(),
        ),
        "revoke another's feed": (
            "delete",
            f"{base}/calendar-feeds/{carols.pk}",
            None,
            lambda: CalendarFeed.objects.get(pk=carols.pk).revoked_at is not None,
        ),
    }


@pytest.mark.parametrize("name", list(MATRIX))
def test_permission_matrix(world, other_org, api_client, name):
    principal = _principal(api_client, world.org, other_org, name)
    operations = _operations(world, principal)
    answers = {}
    for op in OPS:
        method, path, body, happened = operations[op]
        answers[op] = getattr(api_client, method)(path, body, format="json").status_code
        assert happened() is (answers[op] in (200, 201, 204)), (op, answers[op])
    assert answers == dict(zip(OPS, MATRIX[name], strict=True))


# --- bad input --------------------------------------------------------------------------------


def _bad(client, method: str, path: str, body: Any) -> dict[str, Any]:
    response = getattr(client, method)(path, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"
    return response.json()["details"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "New", "colour": "red"}, "colour"),
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 12}, "name"),
        ({"name": "x" * 151}, "name"),
        ({"name": "Primary"}, "name"),  # taken
        ({"name": "New", "time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"name": "New", "time_zone": 1}, "time_zone"),
        ({"name": "New", "team": "SRE"}, "team"),
        ({"name": "New", "team": 10**20}, "team"),
        ({"name": "New", "description": ["x"]}, "description"),
    ],
)
def test_bad_schedule_bodies(world, api_client, body, field):
    client = as_(api_client, member(world.org, Role.MANAGER))
    assert list(_bad(client, "post", url(world.org, "/schedules"), body)) == [field]
    assert Schedule.objects.count() == 2


def test_bad_schedule_messages(world, other_org, api_client):
    client = as_(api_client, member(world.org, Role.MANAGER))
    their_team = team_create(organization=other_org, name="Theirs")
    path = url(world.org, f"/schedules/{world.secondary.pk}")
    assert _bad(client, "patch", path, {"name": "Primary", "team": their_team.pk}) == {
        "name": ["This organization has a schedule of this name."],
        "team": ["No team of this organization has this id."],
    }
    assert _bad(client, "patch", path, {"time_zone": "Europe/Atlantis"}) == {
        "time_zone": ["Unknown time zone 'Europe/Atlantis': use an IANA name like Europe/Berlin."]
    }
    for raw in ('["not", "an", "object"]', "null", '{"name": "x"', "42"):
        response = client.generic(
            "POST", url(world.org, "/schedules"), raw, content_type="application/json"
        )
        assert response.status_code == 400
        assert response.json()["error"] in ("invalid", "parse_error")
    assert audit(world) == []


def _layer(world, **changes: Any) -> dict[str, Any]:
    return {"name": "L", "start": iso(day(3)), "participants": [world.alice.pk]} | changes


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"participants": []}, "participants"),
        ({"participants": ["alice"]}, "participants"),
        ({"participants": 3}, "participants"),
        ({"start": "2025-03-03T09:00:00"}, "start"),
        ({"start": None}, "start"),
        ({"end": "2025-03-03T00:00:00Z"}, "end"),  # the model's rule: not after the start
        ({"end": "2025-03-02T00:00:00Z"}, "end"),
        ({"rotation_type": "monthly"}, "rotation_type"),
        ({"rotation_length": 0}, "rotation_length"),
        ({"rotation_length": "2"}, "rotation_length"),
        ({"rotation_length": 367}, "rotation_length"),  # days by default
        ({"rotation_unit": "weeks"}, "rotation_unit"),
        ({"handoff_time": "9am"}, "handoff_time"),
        ({"handoff_time": "24:00"}, "handoff_time"),
        ({"handoff_time": 900}, "handoff_time"),
        ({"shift_length": "8h"}, "shift_length"),
        ({"shift_length": 480}, "shift_length"),
        ({"shift_length": "P9999999999D"}, "shift_length"),
        ({"shift_length": "PT0S"}, "shift_length"),
        ({"shift_length": "P8D"}, "shift_length"),  # longer than a weekly turn
        ({"priority": "high"}, "priority"),
        ({"priority": 2**40}, "priority"),
        ({"priority": 1.5}, "priority"),
        ({"restrictions": "nights"}, "restrictions"),
        ({"restrictions": [5]}, "restrictions"),
        ({"restrictions": [{"start_time": "22:00"}]}, "restrictions"),
        ({"restrictions": [{"start_time": "22:00", "end_time": "06:00", "x": 1}]}, "restrictions"),
    ],
)
def test_bad_layer_bodies(world, api_client, changes, field):
    client = as_(api_client, member(world.org, Role.MANAGER))
    path = url(world.org, f"/schedules/{world.secondary.pk}/layers")
    assert list(_bad(client, "post", path, _layer(world, **changes))) == [field]
    assert not Layer.objects.filter(schedule=world.secondary).exists()


def test_bad_layer_messages(world, other_org, api_client):
    client = as_(api_client, member(world.org, Role.MANAGER))
    (stranger,) = people(other_org, 1)
    path = url(world.org, f"/schedules/{world.secondary.pk}/layers")
    people_of_another_org = _layer(world, participants=[world.alice.pk, stranger.pk, 10**15])
    assert _bad(client, "post", path, people_of_another_org) == {
        "participants": [f"No member of this organization has the id {stranger.pk}, {10**15}."]
    }
    windows = [
        {"kind": "weekly", "start_time": "09:00", "end_time": "17:00", "days": [1]},
        {"kind": "weekly", "start_time": "09:00", "end_time": "17:00"},
        {"start_weekday": 1, "start_time": "09:00", "end_time": "17:00", "days": [7]},
    ]
    assert _bad(client, "post", path, _layer(world, restrictions=windows)) == {
        "restrictions": {
            "0": {"days": ["Only a daily window has days; a weekly one has weekdays."]},
            "1": {
                "start_weekday": ["A time-of-week window needs its starting day."],
                "end_weekday": ["A time-of-week window needs its ending day."],
            },
            "2": {"days": {"0": ["Ensure this value is less than or equal to 6."]}},
        }
    }
    daily = _layer(world, rotation_type="daily", shift_length="PT25H")
    assert _bad(client, "post", path, daily) == {
        "shift_length": ["A shift cannot be longer than one turn of the rotation."]
    }
    edit = url(world.org, f"/schedules/{world.primary.pk}/layers/{world.days.pk}")
    assert _bad(client, "patch", edit, {"end": iso(day(3, 9))}) == {
        "end": ["The end must be after the start."]
    }
    assert _bad(client, "patch", edit, {"rotation_length": 400}) == {
        "rotation_length": ["A turn lasts at most 366 days."]  # the layer's unit
    }
    assert audit(world) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2025-03-06T09:00:00", "end": "2025-03-06T18:00:00Z"}, "start"),
        ({"start": "2025-03-06T09:00:00Z", "end": "2025-03-06T09:00:00Z"}, "end"),
        ({"start": "2025-03-06T09:00:00Z"}, "end"),
        ({"start": "2025-03-06T09:00:00Z", "end": "2025-03-06T18:00:00Z", "to": 1}, "to"),
        ({"start": "2025-03-06T09:00:00Z", "end": "2025-03-06T18:00:00Z", "note": 5}, "note"),
        ({"start": "2025-03-04T09:00:00Z", "end": "2025-03-04T18:00:00Z"}, "end"),  # over
        ({"start": "2025-03-12T09:00:00Z", "end": "2025-03-12T18:00:00Z"}, "start"),  # alice's
    ],
)
def test_bad_swap_offers(world, api_client, body, field):
    path = url(world.org, f"/schedules/{world.primary.pk}/swaps")
    assert list(_bad(as_(api_client, world.bob), "post", path, body)) == [field]
    assert not ShiftSwap.objects.exists()


def test_bad_swap_actions(world, api_client):
    swap = swap_offer(schedule=world.primary, requester=world.bob, start=day(7), end=day(8))
    sched = url(world.org, f"/schedules/{world.primary.pk}")
    own = _bad(as_(api_client, world.bob), "post", f"{sched}/swaps/{swap.pk}/take", None)
    assert own == {"taken_by": ["You cannot take your own offer."]}
    extra = _bad(as_(api_client, world.alice), "post", f"{sched}/swaps/{swap.pk}/take", {"a": 1})
    assert extra == {"a": ["Unknown field."]}
    assert as_(api_client, world.bob).post(f"{sched}/swaps/{swap.pk}/cancel").status_code == 200
    again = _bad(api_client, "post", f"{sched}/swaps/{swap.pk}/cancel", None)
    assert again == {"status": ["This offer is cancelled."]}


ONE_SUBJECT = 'Give either "schedule" (a schedule id) or "user" ("me"), not both or neither.'


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({}, {"non_field_errors": [ONE_SUBJECT]}),
        ({"schedule": "PRIMARY", "user": "me"}, {"non_field_errors": [ONE_SUBJECT]}),
        ({"user": "bob"}, {"user": ['A personal feed is for the calling person: give "me".']}),
        ({"user": 5}, {"user": ["Not a valid string."]}),
        ({"schedule": "1"}, {"schedule": ["A valid integer is required."]}),
        ({"schedule": 10**15}, {"schedule": ["No schedule of this organization has this id."]}),
        ({"user": "me", "expires": "never"}, {"expires": ["Unknown field."]}),
    ],
)
def test_bad_feed_requests(world, api_client, body, details):
    if body.get("schedule") == "PRIMARY":
        body = body | {"schedule": world.primary.pk}
    feeds = url(world.org, "/calendar-feeds")
    assert _bad(as_(api_client, world.bob), "post", feeds, body) == details
    assert not CalendarFeed.objects.exists()


def test_things_of_another_organization_are_a_404(world, other_org, api_client):
    (stranger,) = people(other_org, 1)
    theirs = schedule(other_org, "Theirs")
    their_layer = layer(theirs, [stranger], day(3, 9))
    their_swap = swap_offer(schedule=theirs, requester=stranger, start=day(6), end=day(7))
    their_feed = calendar_feed_create(organization=other_org, created_by=stranger, user=stranger)
    client = as_(api_client, member(world.org, Role.OWNER))
    base = url(world.org)
    ours, them = f"{base}/schedules/{world.primary.pk}", f"{base}/schedules/{theirs.pk}"
    requests = [
        ("patch", them, {"name": "Mine"}),
        ("delete", them, None),
        ("post", f"{them}/layers", _layer(world)),
        ("patch", f"{them}/layers/{their_layer.pk}", {"name": "Mine"}),
        ("patch", f"{ours}/layers/{their_layer.pk}", {"name": "Mine"}),
        ("delete", f"{ours}/layers/{their_layer.pk}", None),
        ("get", f"{them}/swaps", None),
        ("post", f"{them}/swaps", {"start": iso(day(6)), "end": iso(day(7))}),
        ("post", f"{ours}/swaps/{their_swap.pk}/take", None),
        ("post", f"{them}/swaps/{their_swap.pk}/cancel", None),
        ("delete", f"{base}/calendar-feeds/{their_feed.feed.pk}", None),
        ("delete", f"{base}/schedules/{10**22}", None),
    ]
    for method, path, body in requests:
        response = getattr(client, method)(path, body, format="json")
        assert (path, response.status_code) == (path, 404)
        assert response.json()["error"] == "not_found"
    assert Schedule.objects.get(pk=theirs.pk).name == "Theirs"
    assert Layer.objects.get(pk=their_layer.pk).name == "Layer"
    assert ShiftSwap.objects.get(pk=their_swap.pk).status == SwapStatus.OPEN
    assert CalendarFeed.objects.get(pk=their_feed.feed.pk).revoked_at is None


# --- audit ------------------------------------------------------------------------------------


def test_every_write_by_an_api_key_is_audited_under_the_key(world, api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer " + issue_key(world.org, "schedules:write"))
    assert audit(world) == [("apikey.created", None, "system")]
    base = url(world.org)
    created = api_client.post(f"{base}/schedules", {"name": "Keyed"}, format="json").json()
    sched = f"{base}/schedules/{created['id']}"
    assert api_client.patch(sched, {"description": "By a key"}, format="json").status_code == 200
    made = api_client.post(f"{sched}/layers", _layer(world), format="json").json()
    edit = {"participants": [world.bob.pk]}
    assert api_client.patch(f"{sched}/layers/{made['id']}", edit, format="json").status_code == 200
    assert api_client.delete(f"{sched}/layers/{made['id']}").status_code == 204
    feed = api_client.post(f"{base}/calendar-feeds", {"schedule": created["id"]}, format="json")
    assert feed.status_code == 201
    assert feed.json()["created_by"] is None
    assert api_client.delete(f"{base}/calendar-feeds/{feed.json()['id']}").status_code == 204
    assert api_client.delete(sched).status_code == 204
    label = key_label()
    assert audit(world)[1:] == [
        ("schedule.created", None, label),
        ("schedule.changed", None, label),
        ("schedule.layer.created", None, label),
        ("schedule.layer.changed", None, label),
        ("schedule.layer.deleted", None, label),
        ("calendar_feed.created", None, label),
        ("calendar_feed.revoked", None, label),
        ("schedule.deleted", None, label),
    ]
