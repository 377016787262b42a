"""SLA clocks: warnings and breaches at their exact moments, and how the lifecycle moves them.

Time is moved by passing `now=` to sla_check (and, for a snooze, by backdating paused_since),
never by sleeping. Clocks start at the incident's created_at.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from django.db import connections
from django.db.models import F

from escalation.events import SlaBreached, SlaEvent, SlaWarning
from escalation.models import SlaClock, SlaTarget
from escalation.services import service_policy_set
from escalation.sla import sla_check
from incidents import services as lifecycle
from incidents.models import EventKind, Incident, IncidentEvent, Urgency
from opsknight.actors import Actor
from opsknight.events import subscribe, unsubscribe
from tests.incidents.factories import make_service, trigger
from tests.oncall.factories import people

MINUTE = timedelta(minutes=1)
TICK = timedelta(microseconds=1)  # the smallest step PostgreSQL stores


def clock(incident: Incident) -> SlaClock:
    return SlaClock.objects.get(pk=incident.pk)


def start(incident: Incident) -> datetime:
    return clock(incident).started_at


def fired(incident: Incident) -> list[tuple[str, str]]:
    """(kind, target) of every SLA timeline row of the incident, in order."""
    return [
        (kind, data["target"])
        for kind, data in IncidentEvent.objects.filter(
            incident=incident, kind__in=[EventKind.SLA_WARNING, EventKind.SLA_BREACHED]
        )
        .order_by("id")
        .values_list("kind", "data")
    ]


def someone(org) -> Actor:
    return Actor.for_user(people(org, 1)[0])


@pytest.fixture
def published():
    """Every SLA event published while the test runs."""
    seen: list[SlaEvent] = []
    subscribe(SlaEvent, seen.append)
    yield seen
    unsubscribe(SlaEvent, seen.append)


@pytest.fixture
def service(org):
    """Acknowledge within 15 min, resolve within 120, warned 5 min before (the default)."""
    return make_service(org, ack_target_minutes=15, resolve_target_minutes=120)


@pytest.mark.django_db
def test_the_clock_starts_with_the_services_targets_and_the_default_warning(service):
    incident = trigger(service)
    c = clock(incident)
    assert (c.ack_minutes, c.resolve_minutes, c.warning_minutes) == (15, 120, 5)
    assert c.started_at == incident.created_at
    assert c.next_check_at == incident.created_at + 10 * MINUTE


@pytest.mark.django_db
def test_warning_fires_at_its_lead_time_and_breach_at_the_target_not_a_moment_before(service):
    incident = trigger(service)
    t0 = start(incident)

    assert sla_check(now=t0 + 10 * MINUTE - TICK) == 0
    assert fired(incident) == []
    assert sla_check(now=t0 + 10 * MINUTE) == 1
    warning = IncidentEvent.objects.get(incident=incident, kind=EventKind.SLA_WARNING)
    assert warning.data == {"target": "acknowledge", "target_minutes": 15, "minutes_left": 5}
    assert warning.message == "SLA warning: 5 min left to acknowledge (target 15 min)"
    assert warning.actor is None
    assert warning.actor_label == "system: SLA"

    assert sla_check(now=t0 + 15 * MINUTE - TICK) == 0
    assert sla_check(now=t0 + 15 * MINUTE) == 1
    breach = IncidentEvent.objects.get(incident=incident, kind=EventKind.SLA_BREACHED)
    assert breach.data == {"target": "acknowledge", "target_minutes": 15}
    assert breach.message == "SLA breached: not acknowledged within 15 min"
    assert fired(incident) == [("sla_warning", "acknowledge"), ("sla_breached", "acknowledge")]
    c = clock(incident)
    assert c.ack_warned_at == t0 + 10 * MINUTE
    assert c.ack_breached_at == t0 + 15 * MINUTE
    assert c.next_check_at == t0 + 115 * MINUTE  # the resolve warning is next


@pytest.mark.django_db
def test_acknowledged_before_the_warning_stops_the_ack_clock_but_not_the_resolve_clock(
    org, service
):
    incident = trigger(service)
    t0 = start(incident)
    lifecycle.acknowledge(incident_id=incident.pk, actor=someone(org))
    assert clock(incident).next_check_at == t0 + 115 * MINUTE

    assert sla_check(now=t0 + 115 * MINUTE - TICK) == 0
    assert sla_check(now=t0 + 115 * MINUTE) == 1
    assert sla_check(now=t0 + 120 * MINUTE) == 1
    assert fired(incident) == [("sla_warning", "resolve"), ("sla_breached", "resolve")]
    assert clock(incident).next_check_at is None


@pytest.mark.django_db
def test_resolve_stops_both_clocks(org, service):
    incident = trigger(service)
    t0 = start(incident)
    lifecycle.resolve(incident_id=incident.pk, actor=someone(org))
    c = clock(incident)
    assert c.stopped is True
    assert c.next_check_at is None
    assert sla_check(now=t0 + timedelta(days=1)) == 0
    assert fired(incident) == []


@pytest.mark.django_db
def test_time_snoozed_does_not_count(org, service):
    incident = trigger(service)
    t0 = start(incident)
    actor = someone(org)
    lifecycle.snooze(incident_id=incident.pk, actor=actor, duration=10 * MINUTE)
    c = clock(incident)
    assert c.paused_since is not None
    assert c.next_check_at is None
    assert sla_check(now=t0 + 16 * MINUTE) == 0  # paused: nothing is due, even a breach

    # Ten minutes pass while snoozed.
    SlaClock.objects.filter(pk=incident.pk).update(paused_since=F("paused_since") - 10 * MINUTE)
    lifecycle.unsnooze(incident_id=incident.pk, actor=actor)

    c = clock(incident)
    assert c.paused_since is None
    assert 600 <= c.paused_seconds < 610  # ten minutes plus the test's own run time
    paused = timedelta(seconds=c.paused_seconds)
    assert c.next_check_at == t0 + 10 * MINUTE + paused
    assert sla_check(now=t0 + 10 * MINUTE + paused - TICK) == 0
    assert sla_check(now=t0 + 10 * MINUTE + paused) == 1
    assert sla_check(now=t0 + 15 * MINUTE + paused - TICK) == 0
    assert sla_check(now=t0 + 15 * MINUTE + paused) == 1
    assert clock(incident).next_check_at == t0 + 115 * MINUTE + paused
    assert fired(incident) == [("sla_warning", "acknowledge"), ("sla_breached", "acknowledge")]


@pytest.mark.django_db
def test_acknowledging_a_snoozed_incident_restarts_its_resolve_clock(org, service):
    """Acknowledge ends a snooze without an unsnooze: the clock must not stay paused."""
    incident = trigger(service)
    t0 = start(incident)
    actor = someone(org)
    lifecycle.snooze(incident_id=incident.pk, actor=actor, duration=10 * MINUTE)
    SlaClock.objects.filter(pk=incident.pk).update(paused_since=F("paused_since") - 10 * MINUTE)
    lifecycle.acknowledge(incident_id=incident.pk, actor=actor)

    c = clock(incident)
    assert c.paused_since is None
    assert c.acknowledged is True
    assert 600 <= c.paused_seconds < 610
    paused = timedelta(seconds=c.paused_seconds)
    assert c.next_check_at == t0 + 115 * MINUTE + paused
    assert sla_check(now=t0 + 120 * MINUTE + paused) == 1
    assert fired(incident) == [("sla_breached", "resolve")]


@pytest.mark.django_db
def test_a_reopened_incident_starts_both_clocks_again_even_if_resolved_while_snoozed(org, service):
    incident = trigger(service)
    start(incident)
    actor = someone(org)
    lifecycle.acknowledge(incident_id=incident.pk, actor=actor)
    lifecycle.snooze(incident_id=incident.pk, actor=actor, duration=10 * MINUTE)
    lifecycle.resolve(incident_id=incident.pk, actor=actor)
    assert clock(incident).next_check_at is None

    lifecycle.reopen(incident_id=incident.pk, actor=actor)
    c = clock(incident)
    assert c.stopped is False
    assert c.acknowledged is False
    assert c.paused_since is None
    assert c.paused_seconds == 0
    assert c.next_check_at == c.started_at + 10 * MINUTE  # ack target 15, warned 5 before
    assert sla_check(now=c.started_at + timedelta(days=1)) == 2
    assert sorted(fired(incident)) == [("sla_breached", "acknowledge"), ("sla_breached", "resolve")]


@pytest.mark.django_db
def test_a_per_urgency_target_overrides_the_services(service):
    link = service_policy_set(service=service, policy=None, sla_warning_minutes=1)
    SlaTarget.objects.create(
        service_escalation=link, urgency=Urgency.HIGH, ack_minutes=3, resolve_minutes=30
    )
    SlaTarget.objects.create(
        service_escalation=link, urgency=Urgency.LOW, ack_minutes=60, resolve_minutes=600
    )
    incident = trigger(service, urgency=Urgency.HIGH)
    t0 = start(incident)
    c = clock(incident)
    assert (c.ack_minutes, c.resolve_minutes, c.warning_minutes) == (3, 30, 1)

    assert sla_check(now=t0 + 2 * MINUTE - TICK) == 0
    assert sla_check(now=t0 + 2 * MINUTE) == 1
    assert sla_check(now=t0 + 3 * MINUTE) == 1
    assert sla_check(now=t0 + 29 * MINUTE) == 1
    assert sla_check(now=t0 + 30 * MINUTE) == 1
    assert fired(incident) == [
        ("sla_warning", "acknowledge"),
        ("sla_breached", "acknowledge"),
        ("sla_warning", "resolve"),
        ("sla_breached", "resolve"),
    ]
    assert IncidentEvent.objects.get(
        incident=incident, kind=EventKind.SLA_BREACHED, data__target="resolve"
    ).data == {"target": "resolve", "target_minutes": 30}


@pytest.mark.django_db
def test_an_urgency_without_an_override_uses_the_services_targets(service):
    link = service_policy_set(service=service, policy=None)
    SlaTarget.objects.create(
        service_escalation=link, urgency=Urgency.HIGH, ack_minutes=3, resolve_minutes=30
    )
    c = clock(trigger(service, urgency=Urgency.MEDIUM))
    assert (c.ack_minutes, c.resolve_minutes, c.warning_minutes) == (15, 120, 5)


@pytest.mark.django_db
def test_an_urgency_change_retargets_the_clock(org, service):
    link = service_policy_set(service=service, policy=None)
    SlaTarget.objects.create(
        service_escalation=link, urgency=Urgency.LOW, ack_minutes=60, resolve_minutes=240
    )
    incident = trigger(service, urgency=Urgency.HIGH)
    t0 = start(incident)
    assert clock(incident).next_check_at == t0 + 10 * MINUTE

    lifecycle.change_urgency(incident_id=incident.pk, actor=someone(org), urgency=Urgency.LOW)
    c = clock(incident)
    assert (c.ack_minutes, c.resolve_minutes) == (60, 240)
    assert c.next_check_at == t0 + 55 * MINUTE
    assert sla_check(now=t0 + 55 * MINUTE - TICK) == 0
    assert sla_check(now=t0 + 55 * MINUTE) == 1
    assert IncidentEvent.objects.get(incident=incident, kind=EventKind.SLA_WARNING).data == {
        "target": "acknowledge",
        "target_minutes": 60,
        "minutes_left": 5,
    }


@pytest.mark.django_db
def test_a_late_check_with_warning_and_breach_due_records_only_the_breach(service, published):
    incident = trigger(service)
    t0 = start(incident)
    assert sla_check(now=t0 + 16 * MINUTE) == 1
    assert fired(incident) == [("sla_breached", "acknowledge")]
    assert [type(e) for e in published] == [SlaBreached]
    c = clock(incident)
    assert c.ack_warned_at == t0 + 16 * MINUTE  # marked, so it never fires afterwards
    assert c.next_check_at == t0 + 115 * MINUTE
    assert sla_check(now=t0 + 16 * MINUTE) == 0
    assert fired(incident) == [("sla_breached", "acknowledge")]


@pytest.mark.django_db
def test_a_check_late_for_everything_records_both_breaches_only(service):
    incident = trigger(service)
    assert sla_check(now=start(incident) + timedelta(days=1)) == 2
    assert fired(incident) == [("sla_breached", "acknowledge"), ("sla_breached", "resolve")]
    assert clock(incident).next_check_at is None


@pytest.mark.django_db
def test_each_warning_and_breach_fires_once_however_often_the_check_runs(service):
    incident = trigger(service)
    t0 = start(incident)
    total = 0
    for minute in range(0, 131):
        for _ in range(3):
            total += sla_check(now=t0 + minute * MINUTE)
    assert total == 4
    assert fired(incident) == [
        ("sla_warning", "acknowledge"),
        ("sla_breached", "acknowledge"),
        ("sla_warning", "resolve"),
        ("sla_breached", "resolve"),
    ]
    assert clock(incident).next_check_at is None


@pytest.mark.django_db
def test_warning_and_breach_are_published_with_their_payload(service, published):
    incident = trigger(service)
    t0 = start(incident)
    sla_check(now=t0 + 10 * MINUTE)
    sla_check(now=t0 + 15 * MINUTE)
    base = {"incident_id": incident.pk, "organization_id": incident.organization_id}
    assert published == [
        SlaWarning(**base, target="acknowledge", target_minutes=15, minutes_left=5),
        SlaBreached(**base, target="acknowledge", target_minutes=15),
    ]


@pytest.mark.django_db
def test_a_warning_lead_time_of_zero_means_no_warning(service, published):
    service_policy_set(service=service, policy=None, sla_warning_minutes=0)
    incident = trigger(service)
    t0 = start(incident)
    c = clock(incident)
    assert c.warning_minutes == 0
    assert c.next_check_at == t0 + 15 * MINUTE
    assert sla_check(now=t0 + 15 * MINUTE - TICK) == 0
    assert sla_check(now=t0 + 15 * MINUTE) == 1
    assert sla_check(now=t0 + 120 * MINUTE - TICK) == 0
    assert sla_check(now=t0 + 120 * MINUTE) == 1
    assert fired(incident) == [("sla_breached", "acknowledge"), ("sla_breached", "resolve")]
    assert [type(e) for e in published] == [SlaBreached, SlaBreached]


@pytest.mark.django_db
def test_a_warning_lead_time_as_long_as_the_target_means_no_warning_for_it(org):
    service = make_service(org, ack_target_minutes=5, resolve_target_minutes=60)
    incident = trigger(service)  # the default lead time, 5 min, is the whole ack target
    t0 = start(incident)
    assert clock(incident).next_check_at == t0 + 5 * MINUTE
    assert sla_check(now=t0 + 55 * MINUTE) == 2
    assert fired(incident) == [("sla_breached", "acknowledge"), ("sla_warning", "resolve")]


@pytest.mark.django_db(transaction=True)
def test_concurrent_checks_fire_each_breach_once(org, published):
    service = make_service(org, ack_target_minutes=15, resolve_target_minutes=120)
    incidents = [trigger(service) for _ in range(40)]
    now = max(start(i) for i in incidents) + 16 * MINUTE
    barrier = threading.Barrier(8)

    def check(_: int) -> int:
        try:
            barrier.wait()
            return sla_check(now=now)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(check, range(8)))

    assert sum(counts) == 40
    breaches = IncidentEvent.objects.filter(kind=EventKind.SLA_BREACHED)
    assert breaches.count() == 40
    assert sorted(breaches.values_list("incident_id", flat=True)) == sorted(i.pk for i in incidents)
    assert not IncidentEvent.objects.filter(kind=EventKind.SLA_WARNING).exists()
    assert sorted(e.incident_id for e in published) == sorted(i.pk for i in incidents)
