"""Escalation API: policies and steps written and read back, dry runs across a hand-off, a
service's policy, and an incident's escalation as it runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escalation.models import EscalationPolicy, EscalationStep, ServiceEscalation
from incidents.maintenance import maintenance_start
from incidents.models import EventKind, IncidentEvent
from opsknight.models import Role
from tests.escalation.api_world import (
    NOW,
    as_,
    audit,
    day,
    iso,
    key_label,
    make_world,
    policy_url,
    step_body,
    url,
)
from tests.escalation.factories import policy, run_next_step, step
from tests.incidents.factories import make_service, trigger
from tests.opsknight.factories import issue_key, member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.fixture
def world(org):
    return make_world(org)


@pytest.fixture
def manager(world):
    return member(world.org, Role.MANAGER)


def step_ids(policy_id: int) -> list[int]:
    return list(
        EscalationStep.objects.filter(policy_id=policy_id)
        .order_by("position")
        .values_list("pk", flat=True)
    )


def default_body(world) -> dict:
    first, second = step_ids(world.default.pk)
    return {
        "id": world.default.pk,
        "name": "Default",
        "description": "",
        "repeat_count": 0,
        "repeat_after_minutes": 15,
        "steps": [
            step_body(id=first, position=0, users=[world.alice.pk]),
            step_body(id=second, position=1, delay_minutes=10, schedules=[world.primary.pk]),
        ],
        "services": [{"id": world.service.pk, "name": "Payments"}],
        "created_at": iso(world.default.created_at),
        "updated_at": iso(world.default.updated_at),
    }


# --- policies ---------------------------------------------------------------------------------


def test_create_a_policy_with_steps_then_read_it_back(world, manager, api_client):
    client = as_(api_client, manager)
    body = {
        "name": "Payments on call",
        "description": "Cards first",
        "repeat_count": 2,
        "repeat_after_minutes": 30,
        "steps": [
            {"users": [world.bob.pk, world.alice.pk], "round_robin": True, "channels": ["sms"]},
            {
                "delay_minutes": 15,
                "teams": [world.team.pk],
                "team_lead_only": True,
                "schedules": [world.primary.pk],
                "high_urgency_only": True,
                "round_robin_minutes": 3,
            },
        ],
    }
    response = client.post(url(world.org, "/escalation-policies"), body, format="json")
    assert response.status_code == 201, response.json()
    created = EscalationPolicy.objects.get(name="Payments on call")
    first, second = step_ids(created.pk)
    expected = {
        "id": created.pk,
        "name": "Payments on call",
        "description": "Cards first",
        "repeat_count": 2,
        "repeat_after_minutes": 30,
        "steps": [
            # Round-robin order is the order given, not the people's alphabetical order.
            step_body(
                id=first,
                position=0,
                users=[world.bob.pk, world.alice.pk],
                round_robin=True,
                channels=["sms"],
            ),
            step_body(
                id=second,
                position=1,
                delay_minutes=15,
                teams=[world.team.pk],
                team_lead_only=True,
                schedules=[world.primary.pk],
                high_urgency_only=True,
                round_robin_minutes=3,
            ),
        ],
        "services": [],
        "created_at": iso(created.created_at),
        "updated_at": iso(created.updated_at),
    }
    assert response.json() == expected
    assert client.get(policy_url(world, created.pk)).json() == expected
    assert audit(world) == [("escalation_policy.created", manager.pk, manager.email)]


def test_list_policies_by_name(world, manager, api_client):
    other = policy(world.org, [step(world.bob, delay=5)], name="Backup")
    response = as_(api_client, manager).get(url(world.org, "/escalation-policies"))
    assert response.status_code == 200
    (backup_step,) = step_ids(other.pk)
    assert response.json() == [
        {
            "id": other.pk,
            "name": "Backup",
            "description": "",
            "repeat_count": 0,
            "repeat_after_minutes": 15,
            "steps": [step_body(id=backup_step, position=0, delay_minutes=5, users=[world.bob.pk])],
            "services": [],
            "created_at": iso(other.created_at),
            "updated_at": iso(other.updated_at),
        },
        default_body(world),
    ]


def test_listing_costs_the_same_queries_however_many_policies(world, manager, api_client):
    client = as_(api_client, manager)
    path = url(world.org, "/escalation-policies")
    with CaptureQueriesContext(connection) as one:
        client.get(path)
    for _ in range(5):
        policy(world.org, [step(world.bob, world.team), step(world.primary, delay=5)])
    with CaptureQueriesContext(connection) as six:
        assert len(client.get(path).json()) == 6
    assert len(six) == len(one)


def test_patch_replaces_every_step_and_changes_fields(world, manager, api_client):
    old, before = step_ids(world.default.pk), default_body(world)
    body = {
        "name": "Default v2",
        "repeat_count": 1,
        "steps": [{"schedules": [world.secondary.pk], "delay_minutes": 2}],
    }
    response = as_(api_client, manager).patch(policy_url(world), body, format="json")
    assert response.status_code == 200, response.json()
    (new,) = step_ids(world.default.pk)
    assert new not in old
    assert response.json() | {"updated_at": None} == before | {
        "name": "Default v2",
        "repeat_count": 1,
        "steps": [step_body(id=new, position=0, delay_minutes=2, schedules=[world.secondary.pk])],
        "updated_at": None,
    }
    assert audit(world) == [("escalation_policy.updated", manager.pk, manager.email)]


def test_patch_without_steps_keeps_them(world, manager, api_client):
    response = as_(api_client, manager).patch(
        policy_url(world), {"description": "Day shift"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["steps"] == default_body(world)["steps"]
    assert response.json()["description"] == "Day shift"


def test_a_policy_read_can_be_written_back_unchanged(world, manager, api_client):
    client = as_(api_client, manager)
    read = client.get(policy_url(world)).json()
    body = {name: read[name] for name in ("name", "description", "repeat_count", "steps")}
    response = client.patch(policy_url(world), body, format="json")
    assert response.status_code == 200, response.json()
    assert [s | {"id": None} for s in response.json()["steps"]] == [
        s | {"id": None} for s in read["steps"]
    ]


def test_delete_an_unused_policy(world, manager, api_client):
    spare = policy(world.org, [step(world.bob)], name="Spare")
    response = as_(api_client, manager).delete(policy_url(world, spare.pk))
    assert response.status_code == 204
    assert not EscalationPolicy.objects.filter(pk=spare.pk).exists()
    assert not EscalationStep.objects.filter(policy_id=spare.pk).exists()


def test_a_key_writes_in_its_own_name(world, api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer " + issue_key(world.org, "escalation:write"))
    body = {"name": "By key", "steps": [{"users": [world.bob.pk]}]}
    response = api_client.post(url(world.org, "/escalation-policies"), body, format="json")
    assert response.status_code == 201
    assert audit(world, "escalation") == [("escalation_policy.created", None, key_label())]


# --- steps ------------------------------------------------------------------------------------


def test_add_a_step_at_a_position(world, manager, api_client):
    first, second = step_ids(world.default.pk)
    body = {"position": 1, "teams": [world.team.pk], "delay_minutes": 4}
    response = as_(api_client, manager).post(policy_url(world, rest="/steps"), body, format="json")
    assert response.status_code == 201, response.json()
    added = response.json()["id"]
    assert response.json() == step_body(
        id=added, position=1, delay_minutes=4, teams=[world.team.pk]
    )
    assert step_ids(world.default.pk) == [first, added, second]


def test_add_a_step_at_the_end_by_default(world, manager, api_client):
    body = {"users": [world.carol.pk]}
    response = as_(api_client, manager).post(policy_url(world, rest="/steps"), body, format="json")
    assert response.status_code == 201
    assert response.json()["position"] == 2
    assert step_ids(world.default.pk)[-1] == response.json()["id"]


def test_edit_a_step(world, manager, api_client):
    first, _ = step_ids(world.default.pk)
    body = {"users": [world.carol.pk, world.bob.pk], "channels": ["voice", "email"], "position": 0}
    path = policy_url(world, rest=f"/steps/{first}")
    response = as_(api_client, manager).patch(path, body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == step_body(
        id=first, position=0, users=[world.carol.pk, world.bob.pk], channels=["voice", "email"]
    )
    assert audit(world) == [("escalation_step.updated", manager.pk, manager.email)]


def test_editing_a_steps_delay_keeps_its_round_robin_order(world, manager, api_client):
    made = policy(world.org, [step(world.bob, world.alice, round_robin=True)])
    (only,) = step_ids(made.pk)
    path = policy_url(world, made.pk, f"/steps/{only}")
    response = as_(api_client, manager).patch(path, {"delay_minutes": 3}, format="json")
    assert response.status_code == 200
    assert response.json()["users"] == [world.bob.pk, world.alice.pk]


def test_delete_a_step_closes_the_gap(world, manager, api_client):
    policy(world.org, [], name="Unrelated")
    first, second = step_ids(world.default.pk)
    path = policy_url(world, rest=f"/steps/{first}")
    assert as_(api_client, manager).delete(path).status_code == 204
    assert step_ids(world.default.pk) == [second]
    assert EscalationStep.objects.get(pk=second).position == 0


# --- dry run ----------------------------------------------------------------------------------


def _page(offset: int, at, level: int, users, **fields) -> dict:
    return {
        "offset_minutes": offset,
        "at": iso(at),
        "level": level,
        "repeat": 0,
        "round_robin_turn": None,
        "users": [{"id": u.pk, "email": u.email} for u in users],
        "channels": [],
        "high_urgency_only": False,
        "notes": [],
    } | fields


def test_dry_run_across_a_handoff_names_who_each_page_reaches(world, manager, api_client):
    """Primary hands over from bob to alice on Monday 10 March at 09:00: a run starting at
    08:55 reaches bob first, then alice ten minutes later."""
    made = policy(
        world.org,
        [
            step(world.primary, channels=["sms"]),
            step(world.primary, world.secondary, delay=10, high_urgency_only=True),
        ],
        repeat_count=1,
        repeat_after_minutes=15,
    )
    client = as_(api_client, manager)
    response = client.get(policy_url(world, made.pk, "/dry-run"), {"at": "2025-03-10T09:55+01:00"})
    assert response.status_code == 200, response.json()
    nobody = ["nobody is on call in Secondary"]
    expected = [
        _page(0, day(10, 8, 55), 1, [world.bob], channels=["sms"]),
        _page(10, day(10, 9, 5), 2, [world.alice], high_urgency_only=True, notes=nobody),
        _page(25, day(10, 9, 20), 1, [world.alice], repeat=1, channels=["sms"]),
        _page(35, day(10, 9, 30), 2, [world.alice], repeat=1, high_urgency_only=True, notes=nobody),
    ]
    assert response.json() == expected
    by_id = client.get(f"/api/v1/escalation-policies/{made.pk}/dry-run?at=2025-03-10T08:55:00Z")
    assert by_id.json() == expected


def test_dry_run_starts_now_by_default_and_shows_round_robin_turns(world, manager, api_client):
    made = policy(
        world.org,
        [step(world.carol, world.primary, round_robin=True, round_robin_minutes=7)],
    )
    response = as_(api_client, manager).get(policy_url(world, made.pk, "/dry-run"))
    assert response.json() == [
        _page(0, NOW, 1, [world.carol], round_robin_turn=0),
        _page(7, NOW + timedelta(minutes=7), 1, [world.bob], round_robin_turn=1),
    ]


# --- services ---------------------------------------------------------------------------------


def test_read_and_set_a_services_policy(world, manager, api_client):
    client = as_(api_client, manager)
    path = url(world.org, f"/services/{world.service.pk}/escalation-policy")
    payments = {"id": world.service.pk, "name": "Payments"}
    default = {"id": world.default.pk, "name": "Default"}
    assert client.get(path).json() == {
        "service": payments,
        "policy": default,
        "sla_warning_minutes": 5,
    }
    backup = policy(world.org, [step(world.bob)], name="Backup")
    response = client.put(path, {"policy": backup.pk, "sla_warning_minutes": 12}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "service": payments,
        "policy": {"id": backup.pk, "name": "Backup"},
        "sla_warning_minutes": 12,
    }
    response = client.put(path, {"policy": None}, format="json")
    assert response.json() == {"service": payments, "policy": None, "sla_warning_minutes": 12}
    assert ServiceEscalation.objects.get(service=world.service).policy is None
    assert (
        audit(world, "service.")
        == [("service.escalation_policy_set", manager.pk, manager.email)] * 2
    )


def test_a_service_without_a_policy(world, manager, api_client):
    quiet = make_service(world.org, name="Quiet")
    path = url(world.org, f"/services/{quiet.pk}/escalation-policy")
    assert as_(api_client, manager).get(path).json() == {
        "service": {"id": quiet.pk, "name": "Quiet"},
        "policy": None,
        "sla_warning_minutes": 5,
    }


def test_a_policy_in_use_cannot_be_deleted_until_its_services_move(world, manager, api_client):
    client = as_(api_client, manager)
    response = client.delete(policy_url(world))
    assert response.status_code == 409
    assert response.json() == {
        "error": "in_use",
        "message": "Still used by services ['Payments']; give them another policy first.",
    }
    assert EscalationPolicy.objects.filter(pk=world.default.pk).exists()
    services = url(world.org, f"/services/{world.service.pk}/escalation-policy")
    client.put(services, {"policy": None}, format="json")
    assert client.delete(policy_url(world)).status_code == 204


# --- an incident's escalation -----------------------------------------------------------------


def _escalation(client, world, incident=None) -> dict:
    incident = incident or world.incident
    response = client.get(url(world.org, f"/incidents/{incident.pk}/escalation"))
    assert response.status_code == 200, response.json()
    return response.json()


def _upcoming(index: int, due, level: int, targets) -> dict:
    return {
        "index": index,
        "due_at": iso(due),
        "level": level,
        "repeat": 0,
        "round_robin_turn": None,
        "targets": targets,
    }


def test_incident_escalation_after_trigger_and_each_step(world, api_client):
    client = as_(api_client, member(world.org, Role.VIEWER))
    incident = {"id": world.incident.pk, "number": world.incident.number}
    alice = {"type": "user", "id": world.alice.pk, "name": world.alice.email}
    primary = {"type": "schedule", "id": world.primary.pk, "name": "Primary"}
    level_2 = _upcoming(1, NOW + timedelta(minutes=10), 2, [primary])
    assert _escalation(client, world) == {
        "incident": incident | {"status": "triggered"},
        "status": "escalating",
        "status_label": "Escalating",
        "generation": 1,
        "policy": {"id": world.default.pk, "name": "Default"},
        "due_at": iso(NOW),
        "history": [],
        "upcoming": [_upcoming(0, NOW, 1, [alice]), level_2],
    }

    run_next_step()
    first = IncidentEvent.objects.get(incident=world.incident, kind=EventKind.ESCALATED)
    after_one = _escalation(client, world)
    assert after_one["history"] == [
        {
            "kind": "escalated",
            "at": iso(first.created_at),
            "level": 1,
            "repeat": 0,
            "user_ids": [world.alice.pk],
            "message": "escalated (level 1)",
        }
    ]
    assert after_one["upcoming"] == [level_2]
    assert (after_one["status"], after_one["due_at"]) == ("escalating", level_2["due_at"])

    run_next_step()  # bob is on call in Primary this week
    done = _escalation(client, world)
    assert [(h["kind"], h["level"], h["user_ids"]) for h in done["history"]] == [
        ("escalated", 1, [world.alice.pk]),
        ("escalated", 2, [world.bob.pk]),
        ("escalation_note", None, []),
    ]
    assert done["status"] == "exhausted"
    assert (done["due_at"], done["upcoming"]) == (None, [])


def test_incident_of_a_service_without_a_policy(world, api_client):
    incident = trigger(make_service(world.org, name="Quiet"))
    body = _escalation(as_(api_client, member(world.org, Role.VIEWER)), world, incident)
    assert body["status"] == "no_policy"
    assert (body["policy"], body["due_at"], body["upcoming"]) == (None, None, [])
    assert body["history"] == []


def test_incident_suppressed_in_maintenance_never_escalated(world, api_client):
    maintenance_start(organization=world.org, service=world.service, minutes=60)
    incident = trigger(world.service)
    body = _escalation(as_(api_client, member(world.org, Role.VIEWER)), world, incident)
    assert body == {
        "incident": {"id": incident.pk, "number": incident.number, "status": "suppressed"},
        "status": None,
        "status_label": "Not escalating: this incident never paged.",
        "generation": None,
        "policy": None,
        "due_at": None,
        "history": [],
        "upcoming": [],
    }


def test_oncall_shows_who_each_escalation_level_pages_at_a_time(world, api_client):
    client = as_(api_client, member(world.org, Role.VIEWER))

    def levels(at):
        response = client.get(url(world.org, "/oncall"), {"at": iso(at)})
        assert response.status_code == 200
        [found] = response.json()["escalation_policies"]
        assert (found["id"], found["name"]) == (world.default.pk, "Default")
        return [
            (level["level"], level["delay_minutes"], [u["id"] for u in level["users"]])
            for level in found["levels"]
        ]

    assert levels(NOW) == [(1, 0, [world.alice.pk]), (2, 10, [world.bob.pk])]
    assert levels(day(10, 10)) == [(1, 0, [world.alice.pk]), (2, 10, [world.alice.pk])]


def test_oncall_levels_need_schedule_view_and_stay_in_the_organization(
    world, api_client, other_org
):
    stranger = member(other_org, Role.OWNER)
    assert as_(api_client, stranger).get(url(world.org, "/oncall")).status_code == 404
    api_client.force_authenticate(None)
    key = issue_key(world.org, "escalation:read")
    response = api_client.get(url(world.org, "/oncall"), HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 403
    assert response.json()["error"]
