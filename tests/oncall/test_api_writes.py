"""Schedules API writes: schedules, layers, swaps and calendar feeds, with exact bodies and the
audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import pytest
from django.core.exceptions import ValidationError
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
    swap_offer,
)
from opsknight.models import AuditEvent, Role, User
from tests.oncall.writes_world import (
    NOW,
    as_,
    audit,
    day,
    iso,
    key_label,
    make_world,
    minimal_layer,
    summary,
    url,
)
from tests.opsknight.factories import issue_key, member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.fixture
def world(org):
    return make_world(org)


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


# --- audit ------------------------------------------------------------------------------------


def test_every_write_by_an_api_key_is_audited_under_the_key(world, api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer " + issue_key(world.org, "schedules:write"))
    assert audit(world) == [("apikey.created", None, "system")]
    base = url(world.org)
    created = api_client.post(f"{base}/schedules", {"name": "Keyed"}, format="json").json()
    sched = f"{base}/schedules/{created['id']}"
    assert api_client.patch(sched, {"description": "By a key"}, format="json").status_code == 200
    made = api_client.post(f"{sched}/layers", minimal_layer(world), format="json").json()
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
