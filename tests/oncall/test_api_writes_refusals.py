"""Schedules API writes: the permission matrix and bad input (every refusal a 4xx naming the
field, writing nothing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from oncall.models import (
    CalendarFeed,
    Layer,
    Schedule,
    ShiftSwap,
    SwapStatus,
)
from oncall.services import (
    calendar_feed_create,
    swap_offer,
    team_create,
)
from opsknight.models import Role, User
from tests.oncall.factories import layer, people, schedule
from tests.oncall.writes_world import NOW, as_, audit, day, iso, make_world, minimal_layer, url
from tests.opsknight.factories import issue_key, member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.fixture
def world(org):
    return make_world(org)


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
    assert list(_bad(client, "post", path, minimal_layer(world, **changes))) == [field]
    assert not Layer.objects.filter(schedule=world.secondary).exists()


def test_bad_layer_messages(world, other_org, api_client):
    client = as_(api_client, member(world.org, Role.MANAGER))
    (stranger,) = people(other_org, 1)
    path = url(world.org, f"/schedules/{world.secondary.pk}/layers")
    people_of_another_org = minimal_layer(world, participants=[world.alice.pk, stranger.pk, 10**15])
    assert _bad(client, "post", path, people_of_another_org) == {
        "participants": [f"No member of this organization has the id {stranger.pk}, {10**15}."]
    }
    windows = [
        {"kind": "weekly", "start_time": "09:00", "end_time": "17:00", "days": [1]},
        {"kind": "weekly", "start_time": "09:00", "end_time": "17:00"},
        {"start_weekday": 1, "start_time": "09:00", "end_time": "17:00", "days": [7]},
    ]
    assert _bad(client, "post", path, minimal_layer(world, restrictions=windows)) == {
        "restrictions": {
            "0": {"days": ["Only a daily window has days; a weekly one has weekdays."]},
            "1": {
                "start_weekday": ["A time-of-week window needs its starting day."],
                "end_weekday": ["A time-of-week window needs its ending day."],
            },
            "2": {"days": {"0": ["Ensure this value is less than or equal to 6."]}},
        }
    }
    daily = minimal_layer(world, rotation_type="daily", shift_length="PT25H")
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
        ("post", f"{them}/layers", minimal_layer(world)),
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
