"""The escalation admin as operators use it: pages rendered, forms posted as a browser posts them.

Every POST starts from the fields of the page as rendered (`page_form`, the on-call admin
tests' helper, formsets' management forms included), changes a few, and posts the lot.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.test import Client

from escalation.models import EscalationPolicy, EscalationStep, ServiceEscalation, SlaTarget
from incidents.models import Service
from oncall.models import Team
from opsknight.models import AuditEvent, Organization, User
from tests.escalation.factories import policy, step
from tests.incidents.factories import make_service, trigger
from tests.oncall.factories import layer, people, schedule
from tests.oncall.test_admin import errors_of, page_form, put
from tests.opsknight.factories import UserFactory, member

pytestmark = pytest.mark.django_db

POLICIES = "/admin/escalation/escalationpolicy/"
LINKS = "/admin/escalation/serviceescalation/"


@pytest.fixture
def operator() -> User:
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def operator_client(client: Client, operator: User) -> Client:
    client.force_login(operator)
    return client


def step_errors(response) -> list[dict[str, list[str]]]:
    """Each step row's errors, by field ("__all__": the row's own)."""
    (steps,) = [
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.prefix == "steps"
    ]
    return [{name: list(errors) for name, errors in form.errors.items()} for form in steps.forms]


def through_order(relation: str, on: EscalationStep) -> list[int]:
    """A step's targets in the order added: the round-robin order."""
    column = {"users": "user_id", "teams": "team_id", "schedules": "schedule_id"}[relation]
    rows = getattr(EscalationStep, relation).through.objects.filter(escalationstep=on)
    return list(rows.order_by("id").values_list(column, flat=True))


def new_policy_form(client: Client, org: Organization, **fields: object) -> dict[str, list[str]]:
    data = page_form(client.get(POLICIES + "add/"), "escalationpolicy_form")
    return put(data, organization=org.pk, name="Primary", **fields)


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))


# --- pages ----------------------------------------------------------------------------------


def test_pages_render(operator_client, org):
    alice, bob = people(org, 2)
    service = make_service(org)
    made = policy(org, [step(alice), step(bob, delay=10)], service=service, name="Primary")
    trigger(service)
    link = ServiceEscalation.objects.get()
    for path in [
        POLICIES,
        POLICIES + "add/",
        f"{POLICIES}{made.pk}/change/",
        f"{POLICIES}{made.pk}/dry-run/",
        LINKS,
        LINKS + "add/",
        f"{LINKS}{link.pk}/change/",
        "/admin/escalation/escalationstate/",
        "/admin/escalation/auditfinding/",
    ]:
        assert operator_client.get(path).status_code == 200, path
    listing = operator_client.get(POLICIES).text
    assert "Primary" in listing
    page = operator_client.get(f"{POLICIES}{made.pk}/change/").text
    assert f'href="{POLICIES}{made.pk}/dry-run/"' in page
    assert service.name in page  # "services using this policy"


def test_state_page_is_read_only_and_shows_the_snapshot(operator_client, org):
    (alice,) = people(org, 1)
    service = make_service(org)
    policy(org, [step(alice)], service=service, name="Frozen")
    incident = trigger(service)

    page = operator_client.get(f"/admin/escalation/escalationstate/{incident.pk}/change/")

    assert page.status_code == 200
    assert '<pre class="escalation-snapshot">' in page.text
    assert "&quot;name&quot;: &quot;Frozen&quot;" in page.text
    assert 'name="status"' not in page.text  # nothing to edit
    assert operator_client.get("/admin/escalation/escalationstate/add/").status_code == 403


@pytest.mark.parametrize("staff", [True, False])
def test_only_superusers_reach_the_admin(org, staff):
    made = policy(org, [step(member(org))])
    client = Client()
    client.force_login(member(org, is_staff=staff))
    for path in [POLICIES, f"{POLICIES}{made.pk}/change/", f"{POLICIES}{made.pk}/dry-run/"]:
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


# --- creating and editing policies ----------------------------------------------------------


def test_policy_with_two_steps_is_created_in_position_order_and_audited(operator_client, org):
    alice, bob, carol = people(org, 3)
    team = Team.objects.create(organization=org, name="Ops")
    primary = schedule(org)
    data = new_policy_form(operator_client, org, repeat_count=2, repeat_after_minutes=10)
    put(data, steps__TOTAL_FORMS=2)
    put(data, steps__0__position=7, steps__0__delay_minutes=15, steps__0__teams=team.pk)
    put(data, steps__0__team_lead_only="on", steps__0__high_urgency_only="on")
    data["steps-0-channels"] = ["sms", "voice"]
    put(data, steps__1__position=3, steps__1__delay_minutes=0, steps__1__schedules=primary.pk)
    put(data, steps__1__round_robin="on", steps__1__round_robin_minutes=2)
    data["steps-1-users"] = [str(carol.pk), str(alice.pk)]  # round robin: carol first

    response = operator_client.post(POLICIES + "add/", data)

    assert response.status_code == 302, errors_of(response)
    made = EscalationPolicy.objects.get()
    assert (made.organization, made.name, made.repeat_count, made.repeat_after_minutes) == (
        org,
        "Primary",
        2,
        10,
    )
    first, second = made.steps.order_by("position")
    assert (first.position, first.delay_minutes, first.round_robin) == (0, 0, True)
    assert through_order("users", first) == [carol.pk, alice.pk]
    assert through_order("schedules", first) == [primary.pk]
    assert (second.position, second.delay_minutes, second.channels) == (1, 15, ["sms", "voice"])
    assert (second.team_lead_only, second.high_urgency_only) == (True, True)
    assert through_order("teams", second) == [team.pk]
    assert not bob.escalation_steps.exists()
    audit = AuditEvent.objects.get(action="escalation_policy.created")
    assert (audit.organization, audit.actor.is_superuser) == (org, True)
    assert audit.data == {"name": "Primary", "steps": 2}


@pytest.fixture
def strangers(other_org):
    """Someone outside `org`, and a team and a schedule of another organization."""
    return (
        UserFactory(),
        Team.objects.create(organization=other_org, name="Theirs"),
        schedule(other_org, name="Theirs"),
    )


REFUSALS = {
    "no target": ({}, "__all__", "A step needs at least one user, team or schedule to page."),
    "delay too long": (
        {"delay_minutes": 1441, "users": "ME"},
        "delay_minutes",
        "Ensure this value is less than or equal to 1440.",
    ),
    "round robin wait zero": (
        {"round_robin_minutes": 0, "users": "ME"},
        "round_robin_minutes",
        "Ensure this value is greater than or equal to 1.",
    ),
    "user not a member": ({"users": "STRANGER"}, "users", "Not members of this organization"),
    "team of another org": ({"teams": "TEAM"}, "teams", "No such teams in this organization"),
    "schedule of another org": (
        {"schedules": "SCHEDULE"},
        "schedules",
        "No such schedules in this organization",
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_bad_step_is_a_form_error_on_its_field_and_nothing_is_written(
    operator_client, org, strangers, case
):
    fields, field, message = REFUSALS[case]
    (me,) = people(org, 1)
    stranger, team, their_schedule = strangers
    ids = {"ME": me.pk, "STRANGER": stranger.pk, "TEAM": team.pk, "SCHEDULE": their_schedule.pk}
    data = new_policy_form(operator_client, org)
    put(data, steps__0__delay_minutes=5)  # a changed row is a step, even without targets
    for name, value in fields.items():
        put(data, **{f"steps__0__{name}": ids.get(str(value), value)})
    before = actions()

    response = operator_client.post(POLICIES + "add/", data)

    assert response.status_code == 200
    errors = step_errors(response)[0]
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert EscalationPolicy.objects.count() == 0
    assert EscalationStep.objects.count() == 0
    assert actions() == before


def test_a_bad_step_on_an_existing_policy_changes_nothing(operator_client, org, strangers):
    alice, bob = people(org, 2)
    made = policy(org, [step(alice), step(bob, delay=5)], name="Primary")
    before = actions()
    data = page_form(operator_client.get(f"{POLICIES}{made.pk}/change/"), "escalationpolicy_form")
    put(data, name="Renamed", steps__1__teams=strangers[1].pk)

    response = operator_client.post(f"{POLICIES}{made.pk}/change/", data)

    assert response.status_code == 200
    assert step_errors(response)[1] == {
        "teams": [f"No such teams in this organization: [{strangers[1].pk}]."]
    }
    made.refresh_from_db()
    assert made.name == "Primary"
    assert [list(s.users.all()) for s in made.steps.order_by("position")] == [[alice], [bob]]
    assert actions() == before


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "Taken"}, "name", "This organization already has a policy with this name."),
        ({"repeat_count": 10}, "repeat_count", "less than or equal to 9"),
        ({"repeat_after_minutes": 0}, "repeat_after_minutes", "greater than or equal to 1"),
    ],
)
def test_bad_policy_fields_are_form_errors(operator_client, org, fields, field, message):
    (alice,) = people(org, 1)
    policy(org, [step(alice)], name="Taken")
    made = policy(org, [step(alice)], name="Primary")
    data = page_form(operator_client.get(f"{POLICIES}{made.pk}/change/"), "escalationpolicy_form")
    put(data, **fields)

    response = operator_client.post(f"{POLICIES}{made.pk}/change/", data)

    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[field])
    made.refresh_from_db()
    assert (made.name, made.repeat_count, made.repeat_after_minutes) == ("Primary", 0, 15)


def test_more_steps_than_allowed_is_refused(operator_client, org):
    (alice,) = people(org, 1)
    data = new_policy_form(operator_client, org)
    put(data, steps__TOTAL_FORMS=21)
    for number in range(21):
        put(data, **{f"steps__{number}__users": alice.pk, f"steps__{number}__delay_minutes": 1})
        put(data, **{f"steps__{number}__round_robin_minutes": 5})

    response = operator_client.post(POLICIES + "add/", data)

    assert response.status_code == 200
    assert "at most 20" in errors_of(response)
    assert EscalationPolicy.objects.count() == 0


def test_editing_reorders_deletes_and_adds_steps_renumbered_from_zero(operator_client, org):
    alice, bob, carol, dave = people(org, 4)
    made = policy(org, [step(alice), step(bob, delay=5), step(carol, delay=10)], name="Primary")
    data = page_form(operator_client.get(f"{POLICIES}{made.pk}/change/"), "escalationpolicy_form")
    put(data, steps__0__position=40, steps__1__DELETE="on", steps__2__position=9)
    put(data, steps__3__users=dave.pk, steps__3__delay_minutes=1)  # the empty row, blank position

    response = operator_client.post(f"{POLICIES}{made.pk}/change/", data)

    assert response.status_code == 302, errors_of(response)
    steps = list(made.steps.order_by("position"))
    assert [(s.position, list(s.users.all()), s.delay_minutes) for s in steps] == [
        (0, [carol], 10),
        (1, [alice], 0),
        (2, [dave], 1),
    ]
    audit = AuditEvent.objects.filter(action="escalation_policy.updated").get()
    assert audit.data == {"changed": ["steps"]}


def test_saving_other_fields_keeps_the_round_robin_order(operator_client, org):
    alice, bob, carol = people(org, 3)
    data = new_policy_form(operator_client, org)
    put(data, steps__0__round_robin="on")
    data["steps-0-users"] = [str(carol.pk), str(alice.pk), str(bob.pk)]
    assert operator_client.post(POLICIES + "add/", data).status_code == 302
    made = EscalationPolicy.objects.get()

    page = operator_client.get(f"{POLICIES}{made.pk}/change/")
    data = page_form(page, "escalationpolicy_form")
    assert data["steps-0-users"] == [str(carol.pk), str(alice.pk), str(bob.pk)]
    put(data, description="Nights", steps__1__users=alice.pk)  # a new step: all are rewritten
    response = operator_client.post(f"{POLICIES}{made.pk}/change/", data)

    assert response.status_code == 302, errors_of(response)
    first = made.steps.get(position=0)
    assert through_order("users", first) == [carol.pk, alice.pk, bob.pk]
    audit = AuditEvent.objects.filter(action="escalation_policy.updated").get()
    assert audit.data == {"changed": ["description", "steps"]}


def test_saving_an_unchanged_page_writes_nothing(operator_client, org):
    (alice,) = people(org, 1)
    made = policy(org, [step(alice)], service=make_service(org), name="Primary")
    first_step = made.steps.get()
    before = actions()
    data = page_form(operator_client.get(f"{POLICIES}{made.pk}/change/"), "escalationpolicy_form")

    response = operator_client.post(f"{POLICIES}{made.pk}/change/", data)

    assert response.status_code == 302, errors_of(response)
    assert list(made.steps.values_list("pk", flat=True)) == [first_step.pk]
    assert actions() == before


# --- deleting -------------------------------------------------------------------------------


def test_a_policy_in_use_is_not_deleted_and_an_unused_one_is_audited(operator_client, org):
    (alice,) = people(org, 1)
    used = policy(org, [step(alice)], service=make_service(org), name="Used")
    unused = policy(org, [step(alice)], name="Unused")

    refused = operator_client.post(f"{POLICIES}{used.pk}/delete/", {"post": "yes"})
    deleted = operator_client.post(f"{POLICIES}{unused.pk}/delete/", {"post": "yes"})

    assert refused.status_code == 200
    assert "would require deleting the following protected related objects" in refused.text
    assert deleted.status_code == 302
    assert list(EscalationPolicy.objects.values_list("name", flat=True)) == ["Used"]
    audit = AuditEvent.objects.get(action="escalation_policy.deleted")
    assert audit.data == {"name": "Unused"}


# --- services -------------------------------------------------------------------------------


def _link_form(client: Client, service: Service, chosen: EscalationPolicy) -> dict:
    data = page_form(client.get(LINKS + f"add/?policy={chosen.pk}"), "serviceescalation_form")
    assert data["policy"] == [str(chosen.pk)]  # from the policy page's "Use for a service"
    return put(data, service=service.pk, sla_warning_minutes=10)


def test_service_gets_a_policy_and_sla_targets_audited(operator_client, org):
    service = make_service(org)
    made = policy(org, [step(member(org))])
    data = _link_form(operator_client, service, made)
    put(data, sla_targets__TOTAL_FORMS=1, sla_targets__0__urgency="high")
    put(data, sla_targets__0__ack_minutes=5, sla_targets__0__resolve_minutes=60)

    response = operator_client.post(LINKS + "add/", data)

    assert response.status_code == 302, errors_of(response)
    link = ServiceEscalation.objects.get()
    assert (link.service, link.policy, link.sla_warning_minutes) == (service, made, 10)
    target = SlaTarget.objects.get()
    assert (target.urgency, target.ack_minutes, target.resolve_minutes) == ("high", 5, 60)
    set_policy = AuditEvent.objects.get(action="service.escalation_policy_set")
    assert set_policy.data == {"policy": made.pk}
    sla = AuditEvent.objects.get(action="service.sla_targets_set")
    assert sla.data == {
        "sla_targets": [{"urgency": "high", "ack_minutes": 5, "resolve_minutes": 60}]
    }


def test_another_organizations_policy_is_refused_for_a_service(operator_client, org, other_org):
    service = make_service(org)
    theirs = policy(other_org, [step(member(other_org))])
    before = actions()

    response = operator_client.post(LINKS + "add/", _link_form(operator_client, service, theirs))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors == {"policy": ["This policy belongs to another organization."]}
    assert ServiceEscalation.objects.count() == 0
    assert actions() == before


def test_changing_to_another_organizations_policy_is_refused(operator_client, org, other_org):
    service = make_service(org)
    ours = policy(org, [step(member(org))], service=service)
    theirs = policy(other_org, [step(member(other_org))])
    link = ServiceEscalation.objects.get()
    data = page_form(operator_client.get(f"{LINKS}{link.pk}/change/"), "serviceescalation_form")
    put(data, policy=theirs.pk)

    response = operator_client.post(f"{LINKS}{link.pk}/change/", data)

    assert response.status_code == 200
    assert "This policy belongs to another organization." in errors_of(response)
    link.refresh_from_db()
    assert link.policy == ours


def test_two_sla_targets_for_one_urgency_are_refused(operator_client, org):
    service = make_service(org)
    data = _link_form(operator_client, service, policy(org, [step(member(org))]))
    put(data, sla_targets__TOTAL_FORMS=2)
    for number in (0, 1):
        put(data, **{f"sla_targets__{number}__urgency": "low"})
        put(data, **{f"sla_targets__{number}__ack_minutes": 5})
        put(data, **{f"sla_targets__{number}__resolve_minutes": 50})

    response = operator_client.post(LINKS + "add/", data)

    assert response.status_code == 200
    assert "duplicate" in errors_of(response).lower()
    assert ServiceEscalation.objects.count() == SlaTarget.objects.count() == 0


# --- dry run --------------------------------------------------------------------------------


@pytest.fixture
def weekly(org):
    """Alice then Bob, a week each, handing off Mondays 09:00 UTC from 2 March 2026; Carol
    paged ten minutes after the schedule's person."""
    alice, bob, carol = people(org, 3)
    primary = schedule(org, name="Primary")
    layer(primary, [alice, bob], datetime(2026, 3, 2, 9, tzinfo=UTC))
    made = policy(org, [step(primary), step(carol, delay=10, channels=["sms"])], name="Weekly")
    return made, (alice, bob, carol)


def dry_rows(response) -> list[tuple[str, str]]:
    """(level, users) of each page in the dry-run table."""
    row = r'<tr class="page" data-index="\d+" data-level="(\d+)" data-users="([^"]*)"'
    return re.findall(row, response.text)


def test_dry_run_shows_who_the_schedule_reaches_at_two_times(operator_client, weekly):
    made, (alice, bob, carol) = weekly
    url = f"{POLICIES}{made.pk}/dry-run/"

    first_week = operator_client.get(url, {"at": "2026-03-03T12:00", "time_zone": "UTC"})
    second_week = operator_client.get(url, {"at": "2026-03-10T12:00", "time_zone": "UTC"})

    assert dry_rows(first_week) == [("1", alice.email), ("2", carol.email)]
    assert dry_rows(second_week) == [("1", bob.email), ("2", carol.email)]
    assert "Tue 2026-03-10 12:10" in second_week.text  # level 2, ten minutes on
    assert "SMS" in second_week.text


def test_dry_run_reads_the_time_in_the_chosen_zone(operator_client, weekly):
    made, (alice, _, carol) = weekly
    url = f"{POLICIES}{made.pk}/dry-run/"

    # 09:30 in Berlin is 08:30 UTC: still Alice's week; a page ten minutes later is too.
    response = operator_client.get(url, {"at": "2026-03-09T09:30", "time_zone": "Europe/Berlin"})

    assert dry_rows(response) == [("1", alice.email), ("2", carol.email)]
    assert "Mon 2026-03-09 09:30 Europe/Berlin" in response.text


def test_dry_run_notes_nobody_on_call(operator_client, weekly):
    made, (_, _, carol) = weekly

    response = operator_client.get(
        f"{POLICIES}{made.pk}/dry-run/", {"at": "2026-02-01T12:00", "time_zone": "UTC"}
    )

    assert dry_rows(response) == [("1", ""), ("2", carol.email)]
    assert "nobody is on call in Primary" in response.text


@pytest.mark.parametrize(
    ("at", "zone", "message"),
    [
        ("next tuesday", "UTC", "Enter a valid date/time."),
        ("2026-03-29T02:30", "Europe/Berlin", "be interpreted in time zone Europe/Berlin"),
        ("1999-12-31T12:00", "UTC", "Choose a time between 2000 and 2100."),
        ("2026-03-03T12:00", "Mars/Olympus", "Select a valid choice."),
    ],
)
def test_dry_run_refuses_a_bad_time_as_a_form_error(operator_client, weekly, at, zone, message):
    made, _ = weekly

    response = operator_client.get(f"{POLICIES}{made.pk}/dry-run/", {"at": at, "time_zone": zone})

    assert response.status_code == 200
    assert message in errors_of(response)
    assert dry_rows(response) == []


def test_dry_run_defaults_to_now_and_of_an_unknown_policy_is_404(operator_client, weekly):
    made, _ = weekly

    assert dry_rows(operator_client.get(f"{POLICIES}{made.pk}/dry-run/"))[1][0] == "2"
    assert operator_client.get(f"{POLICIES}{made.pk + 1000}/dry-run/").status_code == 404
    assert operator_client.get(f"{POLICIES}nope/dry-run/").status_code == 404
