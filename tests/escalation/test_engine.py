"""The engine in one process: every lifecycle change's effect on pending pages, timing, targets.

Jobs are taken off the real queue and run here (`run_next_step`), so what is tested is what a
worker would run; the worker processes themselves are exercised in test_workers.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from escalation.models import EscalationState, EscalationStatus
from escalation.services import StepInput, policy_update
from incidents import services as lifecycle
from incidents.models import EventKind, IncidentEvent, Status, Urgency
from notifications.models import NotificationRequest
from oncall.models import TeamMembership, TeamRole
from oncall.services import override_create, team_create
from opsknight.actors import Actor
from opsknight.models import Membership
from tests.escalation.factories import policy, queued, run_next_step, step
from tests.incidents.factories import make_service, trigger
from tests.oncall.factories import layer, people, schedule

pytestmark = pytest.mark.django_db


def levels(incident) -> list[str]:
    return list(
        IncidentEvent.objects.filter(incident=incident, kind=EventKind.ESCALATED)
        .order_by("id")
        .values_list("message", flat=True)
    )


def paged(incident) -> list[tuple[int, int]]:
    """(level, user id) of every notification request, in order."""
    return list(
        NotificationRequest.objects.filter(incident=incident)
        .order_by("id")
        .values_list("level", "user_id")
    )


def state(incident) -> EscalationState:
    return EscalationState.objects.get(pk=incident.pk)


def run_all() -> int:
    ran = 0
    while run_next_step():
        ran += 1
    return ran


def someone(org):
    return Actor.for_user(people(org, 1)[0])


@pytest.fixture
def two_people(org):
    return people(org, 2)


@pytest.fixture
def service(org):
    return make_service(org)


def test_trigger_freezes_the_policy_and_queues_the_first_page_at_its_delay(
    org, service, two_people
):
    a, b = two_people
    made = policy(org, [step(a, delay=3), step(b, delay=5)], service=service)
    before = timezone.now()
    incident = trigger(service)
    s = state(incident)
    assert s.status == EscalationStatus.ESCALATING
    assert s.generation == 1
    assert s.cursor == 0
    assert s.snapshot["policy_id"] == made.pk
    assert [t["id"] for t in s.snapshot["steps"][1]["targets"]] == [b.pk]
    [job] = queued()
    assert job.args == {"incident_id": incident.pk, "generation": 1, "tick": 0}
    assert before + timedelta(minutes=3) <= job.scheduled_at == s.due_at
    assert job.scheduled_at <= timezone.now() + timedelta(minutes=3)


def test_without_a_policy_nobody_is_paged(org, service):
    incident = trigger(service)
    assert state(incident).status == EscalationStatus.NO_POLICY
    assert queued() == []
    assert not IncidentEvent.objects.filter(incident=incident).exclude(kind=EventKind.TRIGGERED)


def test_a_full_run_pages_every_level_then_repeats_then_stops(org, service, two_people):
    a, b = two_people
    policy(org, [step(a), step(b, delay=5)], service=service, repeat_count=2)
    incident = trigger(service)
    assert run_all() == 6
    assert levels(incident) == [
        "escalated (level 1)",
        "escalated (level 2)",
        "escalated (level 1, repeat 1)",
        "escalated (level 2, repeat 1)",
        "escalated (level 1, repeat 2)",
        "escalated (level 2, repeat 2)",
    ]
    assert paged(incident) == [(1, a.pk), (2, b.pk)] * 3
    s = state(incident)
    assert s.status == EscalationStatus.EXHAUSTED
    assert s.due_at is None
    assert IncidentEvent.objects.filter(
        incident=incident, kind=EventKind.ESCALATION_NOTE, data__outcome="exhausted"
    ).exists()


def test_each_page_is_due_its_wait_after_the_previous_one_was_due(org, service, two_people):
    a, b = two_people
    policy(org, [step(a, delay=1), step(b, delay=5)], service=service, repeat_after_minutes=7)
    incident = trigger(service)
    first_due = state(incident).due_at
    run_next_step()
    assert state(incident).due_at == first_due + timedelta(minutes=5)
    [job] = queued()
    assert job.scheduled_at == first_due + timedelta(minutes=5)


def test_acknowledge_makes_the_pending_page_a_no_op(org, service, two_people):
    a, b = two_people
    policy(org, [step(a), step(b, delay=5)], service=service)
    incident = trigger(service)
    run_next_step()
    lifecycle.acknowledge(incident_id=incident.pk, actor=someone(org))
    s = state(incident)
    assert s.status == EscalationStatus.ACKNOWLEDGED
    assert s.generation == 2
    assert s.due_at is None
    assert run_all() == 1  # the level-2 job still runs, and does nothing
    assert levels(incident) == ["escalated (level 1)"]
    assert paged(incident) == [(1, a.pk)]


def test_unacknowledge_pages_the_current_level_again_now_and_carries_on(org, service, two_people):
    a, b = two_people
    policy(org, [step(a), step(b, delay=5)], service=service)
    incident = trigger(service)
    run_next_step()
    actor = someone(org)
    lifecycle.acknowledge(incident_id=incident.pk, actor=actor)
    lifecycle.unacknowledge(incident_id=incident.pk, actor=actor)
    s = state(incident)
    assert s.status == EscalationStatus.ESCALATING
    assert s.cursor == 0
    assert s.due_at <= timezone.now()
    run_all()
    assert levels(incident) == [
        "escalated (level 1)",
        "escalated (level 1)",
        "escalated (level 2)",
    ]
    assert paged(incident) == [(1, a.pk), (1, a.pk), (2, b.pk)]


def test_snooze_pauses_and_its_end_is_a_job_at_the_snooze_end(org, service, two_people):
    a, b = two_people
    policy(org, [step(a), step(b, delay=5)], service=service)
    incident = trigger(service)
    run_next_step()
    actor = someone(org)
    lifecycle.snooze(incident_id=incident.pk, actor=actor, duration=timedelta(minutes=30))
    assert state(incident).status == EscalationStatus.SNOOZED
    [wake] = queued("escalation.unsnooze")
    incident.refresh_from_db()
    assert wake.scheduled_at == incident.snoozed_until
    assert run_all() == 1
    assert levels(incident) == ["escalated (level 1)"]

    from escalation.tasks import unsnooze

    unsnooze(**wake.args)
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    assert state(incident).status == EscalationStatus.ESCALATING
    run_all()
    assert levels(incident) == [
        "escalated (level 1)",
        "escalated (level 1)",
        "escalated (level 2)",
    ]


def test_a_snooze_extended_or_ended_by_hand_ignores_the_old_wake_up(org, service, two_people):
    a, _ = two_people
    policy(org, [step(a)], service=service)
    incident = trigger(service)
    actor = someone(org)
    lifecycle.snooze(incident_id=incident.pk, actor=actor, duration=timedelta(minutes=10))
    lifecycle.snooze(incident_id=incident.pk, actor=actor, duration=timedelta(minutes=60))
    first, second = queued("escalation.unsnooze")
    from escalation.snoozes import snooze_expire

    assert snooze_expire(**first.args) is False
    incident.refresh_from_db()
    assert incident.status == Status.SNOOZED
    lifecycle.unsnooze(incident_id=incident.pk, actor=actor)
    assert snooze_expire(**second.args) is False


def test_resolve_stops_and_reopen_starts_over_at_level_one(org, service, two_people):
    a, b = two_people
    policy(org, [step(a), step(b, delay=5)], service=service)
    incident = trigger(service)
    run_next_step()
    run_next_step()
    actor = someone(org)
    lifecycle.resolve(incident_id=incident.pk, actor=actor)
    assert state(incident).status == EscalationStatus.RESOLVED
    lifecycle.reopen(incident_id=incident.pk, actor=actor)
    s = state(incident)
    assert s.status == EscalationStatus.ESCALATING
    assert s.cursor == 0
    assert s.last_tick is None
    run_all()
    assert [level for level, _ in paged(incident)] == [1, 2, 1, 2]


def test_escalate_now_jumps_to_the_next_level_at_once(org, service):
    a, b, c = people(org, 3)
    policy(org, [step(a), step(b, delay=30), step(c, delay=30)], service=service)
    incident = trigger(service)
    run_next_step()
    lifecycle.escalate_now(incident_id=incident.pk, actor=someone(org))
    s = state(incident)
    assert s.cursor == 1
    assert s.due_at <= timezone.now()
    assert s.manual_pending
    run_next_step()  # the stale level-2 job queued by level 1, or the manual one: same page
    run_all()
    assert paged(incident) == [(1, a.pk), (2, b.pk), (3, c.pk)]
    assert "escalated (level 2) by request" in levels(incident)


def test_escalate_now_on_an_acknowledged_incident_pages_once_and_stays_quiet(
    org, service, two_people
):
    a, b = two_people
    policy(org, [step(a), step(b, delay=30)], service=service, repeat_count=1)
    incident = trigger(service)
    run_next_step()
    actor = someone(org)
    lifecycle.acknowledge(incident_id=incident.pk, actor=actor)
    lifecycle.escalate_now(incident_id=incident.pk, actor=actor)
    run_all()
    assert paged(incident) == [(1, a.pk), (2, b.pk)]
    assert state(incident).status == EscalationStatus.ACKNOWLEDGED
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED


def test_escalate_now_on_the_last_level_pages_it_again(org, service, two_people):
    a, b = two_people
    policy(org, [step(a), step(b, delay=30)], service=service)
    incident = trigger(service)
    run_all()
    lifecycle.escalate_now(incident_id=incident.pk, actor=someone(org))
    run_all()
    assert paged(incident) == [(1, a.pk), (2, b.pk), (2, b.pk)]


def test_team_targets_page_members_who_take_team_pages_or_only_the_lead(org, service):
    lead, member, quiet, gone = people(org, 4)
    team = team_create(organization=org, name="Platform")
    TeamMembership.objects.create(team=team, user=lead, role=TeamRole.LEAD)
    TeamMembership.objects.create(team=team, user=member)
    TeamMembership.objects.create(team=team, user=quiet, receives_team_notifications=False)
    TeamMembership.objects.create(team=team, user=gone)
    gone.is_active = False
    gone.save()
    policy(org, [step(team), step(team, delay=5, team_lead_only=True)], service=service)
    incident = trigger(service)
    run_all()
    assert paged(incident) == [(1, lead.pk), (1, member.pk), (2, lead.pk)]


def test_a_person_removed_from_the_organization_after_the_snapshot_is_not_paged(
    org, service, two_people
):
    a, b = two_people
    policy(org, [step(a, b)], service=service)
    incident = trigger(service)
    Membership.objects.filter(user=b, organization=org).delete()
    run_next_step()
    assert paged(incident) == [(1, a.pk)]
    event = IncidentEvent.objects.get(incident=incident, kind=EventKind.ESCALATED)
    assert any("no longer an active member" in note for note in event.data["notes"])


def test_schedule_targets_are_resolved_when_the_step_runs_not_at_trigger(org, service):
    alice, bob = people(org, 2)
    rota = schedule(org)
    layer(rota, [alice], timezone.now() - timedelta(days=30))
    policy(org, [step(rota)], service=service)
    incident = trigger(service)
    override_create(
        schedule=rota,
        user=bob,
        start=timezone.now() - timedelta(minutes=1),
        end=timezone.now() + timedelta(hours=1),
    )
    run_next_step()
    assert paged(incident) == [(1, bob.pk)]


def test_a_schedule_gap_reaches_nobody_and_says_why_then_escalation_goes_on(org, service):
    a = people(org, 1)[0]
    empty = schedule(org, name="Empty")
    policy(org, [step(empty), step(a, delay=5)], service=service)
    incident = trigger(service)
    run_all()
    first, second = IncidentEvent.objects.filter(
        incident=incident, kind=EventKind.ESCALATED
    ).order_by("id")
    assert first.message == "escalated (level 1): nobody to page"
    assert "nobody is on call in Empty" in first.data["notes"]
    assert second.data["user_ids"] == [a.pk]


def test_policy_edits_do_not_change_incidents_in_flight(org, service, two_people):
    a, b = two_people
    made = policy(org, [step(a), step(a, delay=5)], service=service)
    incident = trigger(service)
    policy_update(policy=made, changes={"repeat_count": 3}, steps=[StepInput(user_ids=[b.pk])])
    run_all()
    assert paged(incident) == [(1, a.pk), (2, a.pk)]
    later = trigger(service)
    run_all()
    assert [user for _, user in paged(later)] == [b.pk] * 4


def test_round_robin_pages_one_target_at_a_time(org, service):
    a, b, c = people(org, 3)
    policy(
        org,
        [step(a, b, round_robin=True, round_robin_minutes=2), step(c, delay=10)],
        service=service,
    )
    incident = trigger(service)
    first_due = state(incident).due_at
    run_next_step()
    assert state(incident).due_at == first_due + timedelta(minutes=2)
    run_all()
    assert paged(incident) == [(1, a.pk), (1, b.pk), (2, c.pk)]
    turns = IncidentEvent.objects.filter(incident=incident, kind=EventKind.ESCALATED).order_by("id")
    assert [e.data["round_robin_turn"] for e in turns] == [0, 1, None]


def test_high_urgency_only_steps_are_skipped_for_low_urgency(org, two_people):
    a, b = two_people
    service = make_service(org, default_urgency=Urgency.LOW)
    policy(org, [step(a, high_urgency_only=True), step(b, delay=5)], service=service)
    incident = trigger(service)
    run_all()
    assert paged(incident) == [(2, b.pk)]
    assert IncidentEvent.objects.filter(
        incident=incident, kind=EventKind.ESCALATION_NOTE, data__outcome="skipped"
    ).exists()


def test_a_step_job_run_twice_pages_once(org, service, two_people):
    a, b = two_people
    policy(org, [step(a), step(b, delay=5)], service=service)
    incident = trigger(service)
    [job] = queued()
    from escalation.engine import step_run

    assert step_run(**job.args).reason == "paged"
    assert step_run(**job.args).reason == "stale"
    assert paged(incident) == [(1, a.pk)]
    assert levels(incident) == ["escalated (level 1)"]


def test_step_channel_override_is_handed_to_notifications(org, service, two_people):
    a, _ = two_people
    policy(org, [step(a, channels=["sms", "voice"])], service=service)
    incident = trigger(service)
    run_next_step()
    assert NotificationRequest.objects.get(incident=incident).channels == ["sms", "voice"]
