"""Schedules API: shapes with exact values, the permission matrix, bad input, query counts."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from oncall.models import LayerRestriction, Override, RotationType
from oncall.services import RestrictionInput, override_create, schedule_create, team_create
from opsknight.models import APIKey, AuditEvent, Role, User
from tests.oncall.factories import layer, people, schedule
from tests.opsknight.factories import issue_key, member

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 5, 12, tzinfo=UTC)  # a Wednesday; every schedule here is in UTC
NIGHTS = RestrictionInput(start_time=time(22), end_time=time(6))


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def summary(user: User) -> dict[str, Any]:
    return {"id": user.pk, "email": user.email, "display_name": user.display_name}


def day(d: int, hour: int = 0) -> datetime:
    return datetime(2025, 3, d, hour, tzinfo=UTC)


def block(start: datetime, end: datetime, *users: User) -> dict[str, Any]:
    return {
        "start": iso(start),
        "end": iso(end),
        "users": [summary(u) for u in users],
        "gap": not users,
    }


def primary_summary(world: SimpleNamespace) -> dict[str, Any]:
    """Primary as the list shows it at NOW: bob until carol's night starts at 22:00."""
    return {
        "id": world.primary.pk,
        "name": "Primary",
        "description": "Main",
        "time_zone": "UTC",
        "team": {"id": world.team.pk, "name": "SRE"},
        "on_call_now": [summary(world.bob)],
        "next_handoff": {
            "at": "2025-03-05T22:00:00Z",
            "from": [summary(world.bob)],
            "to": [summary(world.carol)],
        },
    }


@pytest.fixture(autouse=True)
def _frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.fixture
def world(org):
    """Primary: bob then alice weekly from Mon 3 March 09:00 until 12 March 09:00; carol nightly
    22:00-06:00 on a higher layer. Secondary: no layers at all."""
    alice, bob, carol = people(org, 3)
    team = team_create(organization=org, name="SRE")
    primary = schedule_create(organization=org, name="Primary", team=team, description="Main")
    days = layer(primary, [bob, alice], day(3, 9), name="Days", end=day(12, 9))
    nights = layer(
        primary,
        [carol],
        day(1),
        name="Nights",
        priority=1,
        rotation_type=RotationType.DAILY,
        handoff_time=time(0),
        restrictions=[NIGHTS],
    )
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
        nights=nights,
    )


def base(org, schedule_id: int | None = None) -> str:
    url = f"/api/v1/organizations/{org.slug}"
    return url if schedule_id is None else f"{url}/schedules/{schedule_id}"


@pytest.fixture
def as_manager(api_client, org):
    api_client.force_authenticate(member(org, Role.MANAGER))
    return api_client


# --- success shapes ---------------------------------------------------------------------------


def test_list_schedules(world, as_manager):
    response = as_manager.get(f"{base(world.org)}/schedules")
    assert response.status_code == 200
    assert response.json() == [
        primary_summary(world),
        {
            "id": world.secondary.pk,
            "name": "Secondary",
            "description": "",
            "time_zone": "UTC",
            "team": None,
            "on_call_now": [],
            "next_handoff": None,
        },
    ]


def test_schedule_detail_has_layers_in_order_and_health(world, as_manager):
    restriction = LayerRestriction.objects.get(layer=world.nights)
    response = as_manager.get(base(world.org, world.primary.pk))
    assert response.status_code == 200
    body = response.json()
    assert body.pop("layers") == [
        {
            "id": world.nights.pk,
            "name": "Nights",
            "priority": 1,
            "source": "rotation",
            "start": "2025-03-01T00:00:00Z",
            "end": None,
            "rotation_type": "daily",
            "turn": {"length": 1, "unit": "days"},
            "handoff_time": "00:00:00",
            "shift_length": None,
            "participants": [{"position": 0, "user": summary(world.carol)}],
            "restrictions": [
                {
                    "id": restriction.pk,
                    "kind": "daily",
                    "days": [],
                    "start_weekday": None,
                    "start_time": "22:00:00",
                    "end_weekday": None,
                    "end_time": "06:00:00",
                }
            ],
        },
        {
            "id": world.days.pk,
            "name": "Days",
            "priority": 0,
            "source": "rotation",
            "start": "2025-03-03T09:00:00Z",
            "end": "2025-03-12T09:00:00Z",
            "rotation_type": "weekly",
            "turn": {"length": 7, "unit": "days"},
            "handoff_time": "09:00:00",
            "shift_length": None,
            "participants": [
                {"position": 0, "user": summary(world.bob)},
                {"position": 1, "user": summary(world.alice)},
            ],
            "restrictions": [],
        },
    ]
    # Days ends on 12 March at 09:00: from then until the 14-day horizon only nights are covered.
    gaps = [{"start": iso(day(12, 9)), "end": iso(day(12, 22))}]
    gaps += [{"start": iso(day(d, 6)), "end": iso(day(d, 22))} for d in range(13, 19)]
    gaps += [{"start": iso(day(19, 6)), "end": iso(day(19, 12))}]
    assert body.pop("health") == {
        "healthy": False,
        "gaps": gaps,
        "single_person_layers": [world.nights.pk],
        "empty_layers": [],
        "layers_ending_soon": [world.days.pk],
    }
    assert body == primary_summary(world)


def test_shift_length_is_an_iso_8601_duration(org, as_manager):
    (person,) = people(org, 1)
    short = schedule(org, "Short")
    layer(
        short,
        [person],
        day(3, 9),
        rotation_type=RotationType.DAILY,
        shift_length=timedelta(hours=8),
    )
    body = as_manager.get(base(org, short.pk)).json()
    assert body["layers"][0]["shift_length"] == "P0DT08H00M00S"
    assert body["on_call_now"] == [summary(person)]  # 09:00-17:00 covers noon


@pytest.mark.parametrize(
    ("query", "at", "who"),
    [
        ("", "2025-03-05T12:00:00Z", "bob"),  # default: now
        ("?at=2025-03-05T23:00:00Z", "2025-03-05T23:00:00Z", "carol"),
        ("?at=2025-03-06T00:30:00%2B01:00", "2025-03-05T23:30:00Z", "carol"),
        ("?at=2025-03-06T00:30:00+01:00", "2025-03-05T23:30:00Z", "carol"),  # "+" not encoded
        ("?at=2025-03-12T12:00:00Z", "2025-03-12T12:00:00Z", None),  # a gap
    ],
)
def test_who_is_on_call_in_one_schedule(world, as_manager, query, at, who):
    response = as_manager.get(f"{base(world.org, world.primary.pk)}/oncall{query}")
    assert response.status_code == 200
    assert response.json() == {
        "schedule": {"id": world.primary.pk, "name": "Primary"},
        "at": at,
        "users": [summary(getattr(world, who))] if who else [],
    }


def test_shifts_tile_the_range_with_gaps_marked(world, as_manager):
    url = f"{base(world.org, world.primary.pk)}/shifts"
    response = as_manager.get(url, {"start": "2025-03-12T00:00:00Z", "end": "2025-03-13T00:00:00Z"})
    assert response.status_code == 200
    assert response.json() == [
        block(day(12), day(12, 6), world.carol),
        block(day(12, 6), day(12, 9), world.alice),
        block(day(12, 9), day(12, 22)),
        block(day(12, 22), day(13), world.carol),
    ]


def test_shifts_default_to_a_week_from_now(world, as_manager):
    blocks = as_manager.get(f"{base(world.org, world.primary.pk)}/shifts").json()
    assert blocks[0] == block(NOW, day(5, 22), world.bob)
    assert blocks[-1]["end"] == "2025-03-12T12:00:00Z"
    assert all(a["end"] == b["start"] for a, b in pairwise(blocks))


def test_create_an_override_and_see_it_in_the_shifts(world, api_client):
    manager = member(world.org, Role.MANAGER)
    api_client.force_authenticate(manager)
    url = f"{base(world.org, world.primary.pk)}/overrides"
    body = {
        "user": world.alice.pk,
        "replaces": world.bob.pk,
        "start": "2025-03-06T09:00:00+01:00",
        "end": "2025-03-06T17:00:00+01:00",
        "reason": "Dentist",
    }
    response = api_client.post(url, body, format="json")
    assert response.status_code == 201
    override = Override.objects.get()
    assert response.json() == {
        "id": override.pk,
        "user": summary(world.alice),
        "replaces": summary(world.bob),
        "start": "2025-03-06T08:00:00Z",
        "end": "2025-03-06T16:00:00Z",
        "reason": "Dentist",
        "created_by": summary(manager),
        "created_at": iso(override.created_at),
    }
    shifts = api_client.get(
        f"{base(world.org, world.primary.pk)}/shifts",
        {"start": "2025-03-06T06:00:00Z", "end": "2025-03-06T22:00:00Z"},
    ).json()
    assert [(b["start"], b["end"], [u["id"] for u in b["users"]]) for b in shifts] == [
        ("2025-03-06T06:00:00Z", "2025-03-06T08:00:00Z", [world.bob.pk]),
        ("2025-03-06T08:00:00Z", "2025-03-06T16:00:00Z", [world.alice.pk]),
        ("2025-03-06T16:00:00Z", "2025-03-06T22:00:00Z", [world.bob.pk]),
    ]


def test_overrides_made_with_an_api_key_are_audited_under_the_key(world, api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer " + issue_key(world.org, "schedules:write"))
    body = {"user": world.carol.pk, "start": iso(day(20)), "end": iso(day(21))}
    created = api_client.post(f"{base(world.org, world.primary.pk)}/overrides", body, format="json")
    assert created.status_code == 201
    deleted = api_client.delete(
        f"{base(world.org, world.primary.pk)}/overrides/{created.json()['id']}"
    )
    assert deleted.status_code == 204
    labels = AuditEvent.objects.filter(action__startswith="schedule.override.").values_list(
        "action", "actor_label"
    )
    assert sorted(labels) == [
        ("schedule.override.created", "API key test key (" + APIKey.objects.get().prefix + ")"),
        ("schedule.override.deleted", "API key test key (" + APIKey.objects.get().prefix + ")"),
    ]


def test_override_list_shows_current_and_upcoming_only(world, as_manager):
    def cover(start: datetime, end: datetime) -> Override:
        return override_create(schedule=world.primary, user=world.alice, start=start, end=end)

    cover(day(4), day(5))  # over before now
    later = cover(day(7), day(8))
    current = cover(day(5, 6), day(5, 18))
    response = as_manager.get(f"{base(world.org, world.primary.pk)}/overrides")
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": o.pk,
            "user": summary(world.alice),
            "replaces": None,
            "start": iso(o.start),
            "end": iso(o.end),
            "reason": "",
            "created_by": None,
            "created_at": iso(o.created_at),
        }
        for o in (current, later)
    ]


def test_delete_an_override(world, as_manager):
    override = override_create(schedule=world.primary, user=world.alice, start=day(7), end=day(8))
    url = f"{base(world.org, world.primary.pk)}/overrides/{override.pk}"
    response = as_manager.delete(url)
    assert response.status_code == 204
    assert not Override.objects.exists()
    assert as_manager.delete(url).status_code == 404


def test_who_is_on_call_across_the_organization(world, as_manager):
    response = as_manager.get(f"{base(world.org)}/oncall", {"at": "2025-03-05T23:00:00Z"})
    assert response.status_code == 200
    assert response.json() == {
        "at": "2025-03-05T23:00:00Z",
        "schedules": [
            {
                "id": world.primary.pk,
                "name": "Primary",
                "team": {"id": world.team.pk, "name": "SRE"},
                "users": [summary(world.carol)],
            },
            {"id": world.secondary.pk, "name": "Secondary", "team": None, "users": []},
        ],
        "escalation_policies": [],  # added by the escalation app (tests/escalation/test_api.py)
    }
    assert as_manager.get(f"{base(world.org)}/oncall").json()["at"] == "2025-03-05T12:00:00Z"


# --- permissions ------------------------------------------------------------------------------
# principal: (read, create covering self, create covering alice, delete alice's, delete own)
# None: not applicable (a key covers no shift itself).
OK_READ, MANAGE = 200, (200, 201, 201, 204, 204)
MATRIX: dict[str, tuple[int | None, ...]] = {
    "viewer": (200, 403, 403, 403, 403),
    "responder": (200, 201, 403, 403, 204),
    "manager": MANAGE,
    "admin": MANAGE,
    "owner": MANAGE,
    "key:schedules:read": (200, None, 403, 403, None),
    "key:schedules:write": (200, None, 201, 204, None),
    "key:incidents:read": (403, None, 403, 403, None),
    "other-org-owner": (404, 404, 404, 404, None),
    "anonymous": (401, None, 401, 401, None),
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


@pytest.mark.parametrize("name", list(MATRIX))
def test_permission_matrix(world, other_org, api_client, name):
    read, create_self, create_other, delete_other, delete_own = MATRIX[name]
    principal = _principal(api_client, world.org, other_org, name)
    sched = base(world.org, world.primary.pk)
    reads = [
        f"{base(world.org)}/schedules",
        f"{base(world.org)}/oncall",
        sched,
        f"{sched}/oncall",
        f"{sched}/shifts",
        f"{sched}/overrides",
    ]
    assert {url: api_client.get(url).status_code for url in reads} == dict.fromkeys(reads, read)

    def create(user: User, d: int) -> int:
        body = {"user": user.pk, "start": iso(day(d)), "end": iso(day(d, 6))}
        status = api_client.post(f"{sched}/overrides", body, format="json").status_code
        made = Override.objects.filter(user=user, start=day(d)).exists()
        assert made is (status == 201)
        return status

    def delete(user: User, d: int) -> int:
        override = override_create(schedule=world.primary, user=user, start=day(d), end=day(d, 6))
        status = api_client.delete(f"{sched}/overrides/{override.pk}").status_code
        assert Override.objects.filter(pk=override.pk).exists() is (status != 204)
        return status

    if create_self is not None:
        covering = principal or member(other_org)  # an outsider names themselves
        assert create(covering, 20) == create_self
    assert create(world.alice, 21) == create_other
    assert delete(world.alice, 22) == delete_other
    if delete_own is not None:
        assert delete(principal, 23) == delete_own


def test_a_schedule_or_override_of_another_organization_is_a_404(world, other_org, as_manager):
    theirs = schedule(other_org, "Theirs")
    (stranger,) = people(other_org, 1)
    their_override = override_create(schedule=theirs, user=stranger, start=day(7), end=day(8))
    ours = base(world.org, theirs.pk)
    for url in (ours, f"{ours}/oncall", f"{ours}/shifts", f"{ours}/overrides"):
        assert as_manager.get(url).status_code == 404
    body = {"user": world.alice.pk, "start": iso(day(20)), "end": iso(day(21))}
    assert as_manager.post(f"{ours}/overrides", body, format="json").status_code == 404
    assert as_manager.delete(f"{ours}/overrides/{their_override.pk}").status_code == 404
    via_our_schedule = f"{base(world.org, world.primary.pk)}/overrides/{their_override.pk}"
    response = as_manager.delete(via_our_schedule)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert Override.objects.filter(pk=their_override.pk).exists()
    assert not Override.objects.filter(schedule=world.primary).exists()
    huge = base(world.org, 10**22)
    assert as_manager.get(huge).status_code == 404


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/oncall", {"at": "2025-03-05T12:00:00"}, "at"),
        ("/oncall", {"at": "tomorrow"}, "at"),
        ("/oncall", {"at": ""}, "at"),
        ("/oncall", {"at": "2025-13-01T00:00:00Z"}, "at"),
        ("/oncall", {"at": "0001-01-01T00:00:00+01:00"}, "at"),
        ("/oncall", {"at": "9999-12-31T23:59:59Z"}, "at"),
        ("{s}/oncall", {"at": "2025-03-05"}, "at"),
        ("{s}/shifts", {"start": "2025-03-05T12:00:00"}, "start"),
        ("{s}/shifts", {"start": "2025-03-05T12:00:00Z", "end": "2025-03-06T12:00"}, "end"),
        ("{s}/shifts", {"start": "2025-03-05T12:00:00Z", "end": "2025-03-05T12:00:00Z"}, "end"),
        ("{s}/shifts", {"start": "2025-03-05T12:00:00Z", "end": "2025-03-04T12:00:00Z"}, "end"),
        ("{s}/shifts", {"start": "2025-03-01T00:00:00Z", "end": "2025-06-02T00:00:01Z"}, "end"),
        ("{s}/shifts", {"end": "2025-03-01T00:00:00Z"}, "end"),
    ],
)
def test_bad_query_parameters_are_a_400_naming_the_parameter(
    world, as_manager, path, params, field
):
    url = base(world.org) + path.format(s=f"/schedules/{world.primary.pk}")
    response = as_manager.get(url, params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert list(body["details"]) == [field]


def test_bad_timestamps_say_what_is_wrong(world, as_manager):
    url = f"{base(world.org, world.primary.pk)}/shifts"
    naive = as_manager.get(url, {"start": "2025-03-05T12:00:00"}).json()
    assert naive["details"] == {
        "start": ["The timestamp has no UTC offset; add one, e.g. Z or +01:00."]
    }
    too_long = as_manager.get(url, {"start": iso(day(1)), "end": iso(day(1) + timedelta(days=94))})
    assert too_long.json()["details"] == {"end": ["Ask for at most 93 days at a time."]}
    longest = as_manager.get(url, {"start": iso(day(1)), "end": iso(day(1) + timedelta(days=93))})
    assert longest.status_code == 200


def _valid(world) -> dict[str, Any]:
    return {"user": world.alice.pk, "start": iso(day(20)), "end": iso(day(21))}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"user": "alice"}, "user"),
        ({"user": True}, "user"),
        ({"user": 1.5}, "user"),
        ({"user": [1]}, "user"),
        ({"user": 10**20}, "user"),
        ({"user": None}, "user"),
        ({"replaces": "bob"}, "replaces"),
        ({"start": 1741176000}, "start"),
        ({"start": "2025-03-20T00:00:00"}, "start"),
        ({"end": "next week"}, "end"),
        ({"end": iso(day(19))}, "end"),
        ({"end": iso(day(20))}, "end"),
        ({"reason": ["x"]}, "reason"),
        ({"reason": "x" * 301}, "reason"),
    ],
)
def test_bad_override_bodies_are_a_400_naming_the_field(world, as_manager, change, field):
    body = _valid(world) | change
    url = f"{base(world.org, world.primary.pk)}/overrides"
    response = as_manager.post(url, body, format="json")
    assert response.status_code == 400
    assert list(response.json()["details"]) == [field]
    assert not Override.objects.exists()


@pytest.mark.parametrize("missing", ["user", "start", "end"])
def test_missing_override_fields_are_a_400(world, as_manager, missing):
    body = _valid(world)
    del body[missing]
    url = f"{base(world.org, world.primary.pk)}/overrides"
    response = as_manager.post(url, body, format="json")
    assert response.status_code == 400
    assert response.json()["details"] == {missing: ["This field is required."]}


@pytest.mark.parametrize("raw", ['["not", "an", "object"]', "null", '{"user": 1', "42"])
def test_override_body_that_is_not_an_object_is_a_400(world, as_manager, raw):
    url = f"{base(world.org, world.primary.pk)}/overrides"
    response = as_manager.generic("POST", url, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid", "parse_error")
    assert not Override.objects.exists()


def test_people_of_another_organization_are_a_400(world, other_org, as_manager):
    (stranger,) = people(other_org, 1)
    url = f"{base(world.org, world.primary.pk)}/overrides"
    for field in ("user", "replaces"):
        response = as_manager.post(url, _valid(world) | {field: stranger.pk}, format="json")
        assert response.status_code == 400
        assert response.json()["details"] == {
            field: ["No member of this organization has this id."]
        }
    assert not Override.objects.exists()


def test_model_rules_come_back_as_a_400_with_the_models_message(world, as_manager):
    url = f"{base(world.org, world.primary.pk)}/overrides"
    itself = as_manager.post(url, _valid(world) | {"replaces": world.alice.pk}, format="json")
    assert itself.status_code == 400
    assert itself.json()["details"] == {"replaces": ["Someone cannot override themselves."]}

    first = override_create(schedule=world.primary, user=world.bob, start=day(20), end=day(21))
    clash = as_manager.post(url, _valid(world), format="json")
    assert clash.status_code == 400
    assert clash.json()["details"] == {
        "start": [
            f"This overlaps override #{first.pk} ({first}); "
            "two overrides may overlap only when each replaces a different person."
        ]
    }
    assert list(Override.objects.all()) == [first]


# --- query counts -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/oncall", "/schedules"])
def test_organization_reads_take_the_same_queries_for_1_or_20_schedules(org, api_client, path):
    api_client.force_authenticate(member(org, Role.VIEWER))
    crew = people(org, 3)

    def add_schedule(n: int) -> None:
        each = schedule(org, f"Schedule {n:02}")
        layer(each, crew[:2], day(3, 9), restrictions=[NIGHTS])
        layer(each, crew[1:], day(3, 9), priority=1)
        override_create(schedule=each, user=crew[2], replaces=crew[0], start=day(5), end=day(6))

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = api_client.get(f"{base(org)}{path}")
        assert response.status_code == 200
        body = response.json()
        return len(queries), len(body["schedules"] if path == "/oncall" else body)

    add_schedule(0)
    one = count()
    for n in range(1, 20):
        add_schedule(n)
    twenty = count()
    assert one[1] == 1
    assert twenty == (one[0], 20)
