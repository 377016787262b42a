"""Escalation API: the permission matrix, and bad input (every refusal a 4xx naming the field,
writing nothing)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from escalation.models import MAX_STEPS, EscalationPolicy, EscalationStep, ServiceEscalation
from oncall.services import team_create
from opsknight.models import Role, User
from tests.escalation.api_world import NOW, as_, counts, make_world, policy_url, url
from tests.escalation.factories import policy, step
from tests.incidents.factories import make_service, trigger
from tests.oncall.factories import people, schedule
from tests.opsknight.factories import issue_key, member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.fixture
def world(org):
    return make_world(org)


@pytest.fixture
def theirs(other_org) -> SimpleNamespace:
    """Another organization's person, team, schedule, policy, service and incident."""
    (user,) = people(other_org, 1)
    service = make_service(other_org, name="Theirs")
    made = policy(other_org, [step(user)], name="Theirs", service=service)
    return SimpleNamespace(
        org=other_org,
        user=user,
        team=team_create(organization=other_org, name="Their team"),
        schedule=schedule(other_org, "Their schedule"),
        policy=made,
        step=EscalationStep.objects.get(policy=made),
        service=service,
        incident=trigger(service),
    )


# --- permissions ------------------------------------------------------------------------------

READS = (
    "list",
    "detail",
    "dry run",
    "dry run by id",
    "service policy",
    "incident escalation",
)
WRITES = (
    "create",
    "update",
    "delete",
    "add step",
    "edit step",
    "delete step",
    "set service policy",
)
OPS = READS + WRITES
MANAGE = (200,) * 6 + (201, 200, 204, 201, 200, 204, 200)
VIEW = (200,) * 6 + (403,) * 7
MATRIX: dict[str, tuple[int, ...]] = {
    "viewer": VIEW,
    "responder": VIEW,
    "manager": MANAGE,
    "admin": MANAGE,
    "owner": MANAGE,
    "key:escalation:read": (200,) * 5 + (403,) + (403,) * 7,
    "key:escalation:write": (200,) * 5 + (403,) + MANAGE[6:],
    "key:incidents:read": (403,) * 5 + (200,) + (403,) * 7,
    "key:schedules:read": (403,) * 13,
    "other-org-owner": (404,) * 13,
    "other-org-key:escalation:write": (404,) * 13,
    "anonymous": (401,) * 13,
}


def _principal(api_client, org, other_org, name: str) -> None:
    if name.startswith("key:"):
        api_client.credentials(HTTP_AUTHORIZATION="Bearer " + issue_key(org, name[4:]))
    elif name.startswith("other-org-key:"):
        token = issue_key(other_org, name.removeprefix("other-org-key:"))
        api_client.credentials(HTTP_AUTHORIZATION="Bearer " + token)
    elif name == "other-org-owner":
        api_client.force_authenticate(member(other_org, Role.OWNER))
    elif name != "anonymous":
        api_client.force_authenticate(member(org, Role(name)))


Operation = tuple[str, str, dict[str, Any] | None, Callable[[], bool] | None]


def _operations(world) -> dict[str, Operation]:
    """Each request as (method, path, body, did it write?), writes on rows of their own."""
    base = url(world.org)
    spare = policy(world.org, [step(world.bob)], name="Spare")
    two = policy(world.org, [step(world.bob), step(world.carol)], name="Two")
    backup = policy(world.org, [step(world.carol)], name="Backup")
    first = EscalationStep.objects.get(policy=world.default, position=0)
    second_of_two = EscalationStep.objects.get(policy=two, position=1)
    service = f"{base}/services/{world.service.pk}/escalation-policy"
    return {
        "list": ("get", f"{base}/escalation-policies", None, None),
        "detail": ("get", policy_url(world), None, None),
        "dry run": ("get", policy_url(world, rest="/dry-run?at=2025-03-10T08:55:00Z"), None, None),
        "dry run by id": (
            "get",
            f"/api/v1/escalation-policies/{world.default.pk}/dry-run",
            None,
            None,
        ),
        "service policy": ("get", service, None, None),
        "incident escalation": (
            "get",
            f"{base}/incidents/{world.incident.pk}/escalation",
            None,
            None,
        ),
        "create": (
            "post",
            f"{base}/escalation-policies",
            {"name": "New", "steps": [{"users": [world.alice.pk]}]},
            lambda: EscalationPolicy.objects.filter(name="New").exists(),
        ),
        "update": (
            "patch",
            policy_url(world),
            {"description": "x"},
            lambda: EscalationPolicy.objects.get(pk=world.default.pk).description == "x",
        ),
        "delete": (
            "delete",
            policy_url(world, spare.pk),
            None,
            lambda: not EscalationPolicy.objects.filter(pk=spare.pk).exists(),
        ),
        "add step": (
            "post",
            policy_url(world, rest="/steps"),
            {"users": [world.bob.pk]},
            lambda: EscalationStep.objects.filter(policy=world.default).count() == 3,
        ),
        "edit step": (
            "patch",
            policy_url(world, rest=f"/steps/{first.pk}"),
            {"delay_minutes": 7},
            lambda: EscalationStep.objects.get(pk=first.pk).delay_minutes == 7,
        ),
        "delete step": (
            "delete",
            policy_url(world, two.pk, f"/steps/{second_of_two.pk}"),
            None,
            lambda: not EscalationStep.objects.filter(pk=second_of_two.pk).exists(),
        ),
        "set service policy": (
            "put",
            service,
            {"policy": backup.pk},
            lambda: ServiceEscalation.objects.get(service=world.service).policy_id == backup.pk,
        ),
    }


@pytest.mark.parametrize("name", list(MATRIX))
def test_permission_matrix(world, other_org, api_client, name):
    _principal(api_client, world.org, other_org, name)
    operations = _operations(world)
    answers = {}
    for op in OPS:
        method, path, body, wrote = operations[op]
        response = getattr(api_client, method)(path, body, format="json")
        answers[op] = response.status_code
        if wrote is not None:
            assert wrote() is (answers[op] in (200, 201, 204)), (op, answers[op])
        if answers[op] >= 400:
            assert set(response.json()) == {"error", "message"}, (op, response.json())
    assert answers == dict(zip(OPS, MATRIX[name], strict=True))


def test_things_of_another_organization_are_a_404(world, theirs, api_client):
    client = as_(api_client, member(world.org, Role.OWNER))
    base = url(world.org)
    them = f"{base}/escalation-policies/{theirs.policy.pk}"
    mine = policy_url(world)
    their_service = f"{base}/services/{theirs.service.pk}/escalation-policy"
    requests = [
        ("get", them, None),
        ("patch", them, {"name": "Mine"}),
        ("delete", them, None),
        ("get", f"{them}/dry-run", None),
        ("post", f"{them}/steps", {"users": [world.alice.pk]}),
        ("patch", f"{them}/steps/{theirs.step.pk}", {"delay_minutes": 9}),
        ("patch", f"{mine}/steps/{theirs.step.pk}", {"delay_minutes": 9}),
        ("delete", f"{mine}/steps/{theirs.step.pk}", None),
        ("get", their_service, None),
        ("put", their_service, {"policy": None}),
        ("patch", f"{mine}/steps/{10**22}", {"delay_minutes": 9}),
        ("get", f"{base}/incidents/{theirs.incident.pk}/escalation", None),
        ("get", f"/api/v1/escalation-policies/{theirs.policy.pk}/dry-run", None),
        ("get", f"/api/v1/escalation-policies/{10**22}/dry-run", None),
        ("get", url(theirs.org, "/escalation-policies"), None),
        ("get", f"{base}/escalation-policies/{10**22}", None),
    ]
    before = counts()
    for method, path, body in requests:
        response = getattr(client, method)(path, body, format="json")
        assert (method, path, response.status_code) == (method, path, 404)
        assert response.json()["error"] == "not_found"
    assert counts() == before
    assert EscalationPolicy.objects.get(pk=theirs.policy.pk).name == "Theirs"
    assert EscalationStep.objects.get(pk=theirs.step.pk).delay_minutes == 0
    assert ServiceEscalation.objects.get(service=theirs.service).policy_id == theirs.policy.pk


# --- bad input --------------------------------------------------------------------------------


def _fill(value: Any, world, theirs) -> Any:
    """Placeholders like "@alice" or "@their_team" become the ids of the world's rows."""
    if isinstance(value, dict):
        return {name: _fill(item, world, theirs) for name, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, world, theirs) for item in value]
    if isinstance(value, str) and value.startswith("@their_"):
        return getattr(theirs, value.removeprefix("@their_")).pk
    if isinstance(value, str) and value.startswith("@"):
        return getattr(world, value[1:]).pk
    return value


def _refused(client, method: str, path: str, body: Any, status: int = 400) -> dict[str, Any]:
    response = getattr(client, method)(path, body, format="json")
    assert response.status_code == status, response.content
    assert response.json()["error"] == "invalid"
    return response.json()["details"]


A_STEP = {"users": ["@alice"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "New", "colour": "red"}, "colour"),
        ({"steps": [A_STEP]}, "name"),
        ({"name": 5}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 151}, "name"),
        ({"name": "Default"}, "name"),  # taken
        ({"name": "New", "description": ["x"]}, "description"),
        ({"name": "New", "repeat_count": 10}, "repeat_count"),
        ({"name": "New", "repeat_count": -1}, "repeat_count"),
        ({"name": "New", "repeat_count": "2"}, "repeat_count"),
        ({"name": "New", "repeat_after_minutes": 0}, "repeat_after_minutes"),
        ({"name": "New", "repeat_after_minutes": 1441}, "repeat_after_minutes"),
        ({"name": "New", "steps": "all"}, "steps"),
        ({"name": "New", "steps": A_STEP}, "steps"),
        ({"name": "New", "steps": [A_STEP] * (MAX_STEPS + 1)}, "steps"),
        ({"name": "New", "steps": [5]}, "steps[0]"),
        ({"name": "New", "steps": [A_STEP | {"delay_minutes": "5"}]}, "steps[0].delay_minutes"),
        ({"name": "New", "steps": [A_STEP | {"delay_minutes": -1}]}, "steps[0].delay_minutes"),
        ({"name": "New", "steps": [A_STEP | {"delay_minutes": 1441}]}, "steps[0].delay_minutes"),
        ({"name": "New", "steps": [A_STEP | {"delay_minutes": 2.5}]}, "steps[0].delay_minutes"),
        ({"name": "New", "steps": [A_STEP | {"delay_minutes": True}]}, "steps[0].delay_minutes"),
        ({"name": "New", "steps": [{"users": ["alice"]}]}, "steps[0].users"),
        ({"name": "New", "steps": [{"users": "@alice"}]}, "steps[0].users"),
        ({"name": "New", "steps": [{"users": [True]}]}, "steps[0].users"),
        ({"name": "New", "steps": [{"users": [1] * 51}]}, "steps[0].users"),
        ({"name": "New", "steps": [A_STEP | {"colour": 1}]}, "steps[0].colour"),
        ({"name": "New", "steps": [{}]}, "steps[0].targets"),
        ({"name": "New", "steps": [A_STEP, {"delay_minutes": 5}]}, "steps[1].targets"),
        ({"name": "New", "steps": [{"users": ["@their_user"]}]}, "steps[0].users"),
        ({"name": "New", "steps": [{"users": [10**15]}]}, "steps[0].users"),
        ({"name": "New", "steps": [{"teams": ["@their_team"]}]}, "steps[0].teams"),
        ({"name": "New", "steps": [{"schedules": ["@their_schedule"]}]}, "steps[0].schedules"),
        ({"name": "New", "steps": [A_STEP | {"channels": ["fax"]}]}, "steps[0].channels"),
        ({"name": "New", "steps": [A_STEP | {"channels": "email"}]}, "steps[0].channels"),
        ({"name": "New", "steps": [A_STEP | {"round_robin": "yes"}]}, "steps[0].round_robin"),
        ({"name": "New", "steps": [A_STEP | {"team_lead_only": 1}]}, "steps[0].team_lead_only"),
        (
            {"name": "New", "steps": [A_STEP | {"round_robin_minutes": 0}]},
            "steps[0].round_robin_minutes",
        ),
        ({"name": "New", "steps": [A_STEP | {"position": 1}]}, "steps[0].position"),
    ],
)
def test_bad_policy_bodies(world, theirs, api_client, body, field):
    client = as_(api_client, member(world.org, Role.MANAGER))
    before = counts()
    path = url(world.org, "/escalation-policies")
    assert list(_refused(client, "post", path, _fill(body, world, theirs))) == [field]
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"name": None}, "name"),
        ({"name": "Backup"}, "name"),  # another policy's
        ({"repeat_count": 10}, "repeat_count"),
        ({"steps": None}, "steps"),
        ({"steps": [A_STEP | {"delay_minutes": -1}]}, "steps[0].delay_minutes"),
        # The fields would be valid: nothing of it may be written when a step is not.
        ({"description": "changed", "repeat_count": 3, "steps": [A_STEP, {}]}, "steps[1].targets"),
        ({"name": "Renamed", "steps": [{"users": ["@their_user"]}]}, "steps[0].users"),
    ],
)
def test_bad_policy_edits_change_nothing(world, theirs, api_client, body, field):
    policy(world.org, [step(world.bob)], name="Backup")
    client = as_(api_client, member(world.org, Role.MANAGER))
    read = client.get(policy_url(world)).json()
    before = counts()
    assert list(_refused(client, "patch", policy_url(world), _fill(body, world, theirs))) == [field]
    assert counts() == before
    assert client.get(policy_url(world)).json() == read


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "targets"),
        ({"users": ["@their_user"]}, "users"),
        ({"schedules": ["@their_schedule"]}, "schedules"),
        (A_STEP | {"delay_minutes": -1}, "delay_minutes"),
        (A_STEP | {"delay_minutes": "0"}, "delay_minutes"),
        (A_STEP | {"position": "0"}, "position"),
        (A_STEP | {"position": -1}, "position"),
        (A_STEP | {"channels": ["fax"]}, "channels"),
        (A_STEP | {"colour": 1}, "colour"),
    ],
)
def test_bad_new_steps(world, theirs, api_client, body, field):
    client = as_(api_client, member(world.org, Role.MANAGER))
    before = counts()
    path = policy_url(world, rest="/steps")
    assert list(_refused(client, "post", path, _fill(body, world, theirs))) == [field]
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"users": []}, "targets"),  # its only target
        ({"teams": ["@their_team"]}, "teams"),
        ({"delay_minutes": 1441}, "delay_minutes"),
        ({"round_robin": None}, "round_robin"),
        ({"position": 1}, "position"),
        ({"colour": 1}, "colour"),
    ],
)
def test_bad_step_edits_change_nothing(world, theirs, api_client, body, field):
    client = as_(api_client, member(world.org, Role.MANAGER))
    first = EscalationStep.objects.get(policy=world.default, position=0)
    read = client.get(policy_url(world)).json()
    before = counts()
    path = policy_url(world, rest=f"/steps/{first.pk}")
    assert list(_refused(client, "patch", path, _fill(body, world, theirs))) == [field]
    assert counts() == before
    assert client.get(policy_url(world)).json() == read


def test_a_full_policy_takes_no_more_steps(world, api_client):
    full = policy(world.org, [step(world.bob)] * MAX_STEPS, name="Full")
    client = as_(api_client, member(world.org, Role.MANAGER))
    before = counts()
    details = _refused(client, "post", policy_url(world, full.pk, "/steps"), {"users": [1]})
    assert details == {"steps": [f"A policy has at most {MAX_STEPS} steps."]}
    assert counts() == before


def test_refusals_say_what_is_wrong(world, theirs, api_client):
    client = as_(api_client, member(world.org, Role.MANAGER))
    path = url(world.org, "/escalation-policies")
    stranger = theirs.user.pk
    body = {"name": "New", "steps": [A_STEP, {"users": [stranger], "teams": [theirs.team.pk]}]}
    assert _refused(client, "post", path, _fill(body, world, theirs)) == {
        "steps[1].users": [f"Not members of this organization: [{stranger}]."],
        "steps[1].teams": [f"No such teams in this organization: [{theirs.team.pk}]."],
    }
    assert _refused(client, "post", path, {"name": "New", "steps": [{}]}) == {
        "steps[0].targets": ["A step needs at least one user, team or schedule to page."]
    }
    assert _refused(client, "post", path, {"name": "Default", "extra": 1, "more": 2}) == {
        "extra": ["Unknown field."],
        "more": ["Unknown field."],
    }
    assert _refused(client, "post", path, {"name": "Default"}) == {
        "name": ["A policy with this name already exists."]
    }
    assert _refused(client, "post", path, {"name": "N", "steps": [{"users": [1], "x": 1}, 7]}) == {
        "steps[0].x": ["Unknown field."],
        "steps[1]": ["Invalid data. Expected a dictionary, but got int."],
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "policy"),
        ({"policy": "@default"}, None),  # the only valid one here: checked below
        ({"policy": "1"}, "policy"),
        ({"policy": "@their_policy"}, "policy"),
        ({"policy": 10**15}, "policy"),
        ({"policy": None, "sla_warning_minutes": -1}, "sla_warning_minutes"),
        ({"policy": None, "sla_warning_minutes": 1441}, "sla_warning_minutes"),
        ({"policy": None, "sla_warning_minutes": "5"}, "sla_warning_minutes"),
        ({"policy": None, "escalate": True}, "escalate"),
    ],
)
def test_bad_service_policy_bodies(world, theirs, api_client, body, field):
    client = as_(api_client, member(world.org, Role.MANAGER))
    path = url(world.org, f"/services/{world.service.pk}/escalation-policy")
    if field is None:
        assert client.put(path, _fill(body, world, theirs), format="json").status_code == 200
        return
    before = counts()
    assert list(_refused(client, "put", path, _fill(body, world, theirs))) == [field]
    assert counts() == before
    assert ServiceEscalation.objects.get(service=world.service).policy_id == world.default.pk


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("yesterday", "Not an ISO 8601 timestamp; use e.g. 2025-03-05T09:00:00+01:00."),
        ("2025-13-01T00:00:00Z", "Not an ISO 8601 timestamp; use e.g. 2025-03-05T09:00:00+01:00."),
        ("2025-03-10T09:00:00", "The timestamp has no UTC offset; add one, e.g. Z or +01:00."),
        ("1900-01-01T00:00:00Z", "The timestamp must lie between the years 1970 and 9000."),
    ],
)
def test_bad_dry_run_times(world, api_client, at, message):
    client = as_(api_client, member(world.org, Role.VIEWER))
    for path in (
        policy_url(world, rest="/dry-run"),
        f"/api/v1/escalation-policies/{world.default.pk}/dry-run",
    ):
        response = client.get(path, {"at": at})
        assert response.status_code == 400
        assert response.json()["details"] == {"at": [message]}


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "error"),
    [
        ('{"name": "x"', "application/json", 400, "parse_error"),
        ("[1, 2]", "application/json", 400, "invalid"),
        ("null", "application/json", 400, "invalid"),
        ("42", "application/json", 400, "invalid"),
        ("name=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_bodies_that_are_not_json_objects(world, api_client, raw, content_type, status, error):
    client = as_(api_client, member(world.org, Role.MANAGER))
    before = counts()
    for method, path in (
        ("POST", url(world.org, "/escalation-policies")),
        ("PATCH", policy_url(world)),
        ("POST", policy_url(world, rest="/steps")),
        ("PUT", url(world.org, f"/services/{world.service.pk}/escalation-policy")),
    ):
        response = client.generic(method, path, raw, content_type=content_type)
        assert (path, response.status_code) == (path, status)
        assert response.json()["error"] == error
    assert counts() == before


def test_an_oversize_body_is_refused_before_parsing(world, api_client, settings):
    client = as_(api_client, member(world.org, Role.MANAGER))
    before = counts()
    body = '{"name": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + '"}'
    path = url(world.org, "/escalation-policies")
    response = client.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"
    assert counts() == before


def test_an_unknown_user_is_refused_even_for_a_superuser(world, api_client):
    """Platform operators see every organization, but a step still pages only its members."""
    operator = User.objects.create_superuser(email="root@example.com", password="x" * 20)
    client = as_(api_client, operator)
    body = {"name": "New", "steps": [{"users": [operator.pk]}]}
    details = _refused(client, "post", url(world.org, "/escalation-policies"), body)
    assert list(details) == ["steps[0].users"]
