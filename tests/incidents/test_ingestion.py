"""The alert path: dedup (also under real concurrency), out-of-order resolves, rollbacks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from incidents import events
from incidents.ingestion import NormalizedEvent, ingest, normalize_dedup_key
from incidents.models import Alert, AlertAction, Incident, IncidentEvent, Status, Urgency
from incidents.selectors import alert_count
from opsknight import events as registry
from tests.incidents.factories import make_service

pytestmark = pytest.mark.django_db


def _event(action: str, key: str | None = "disk-full", **fields) -> NormalizedEvent:
    return NormalizedEvent(action=AlertAction(action), dedup_key=key, summary="Disk full", **fields)


@pytest.mark.parametrize(
    ("severity", "urgency"),
    [
        ("critical", Urgency.HIGH),
        ("error", Urgency.MEDIUM),
        ("warning", Urgency.MEDIUM),
        ("info", Urgency.LOW),
    ],
)
def test_severity_sets_urgency(org, severity, urgency):
    result = ingest(
        service=make_service(org), event=_event("trigger", severity=severity), payload={}
    )
    assert result.incident.urgency == urgency


def test_service_default_urgency_and_event_override_win(org):
    service = make_service(org, default_urgency=Urgency.LOW)
    assert (
        ingest(service=service, event=_event("trigger", "a"), payload={}).incident.urgency == "low"
    )
    forced = ingest(service=service, event=_event("trigger", "b", urgency=Urgency.HIGH), payload={})
    assert forced.incident.urgency == "high"


@pytest.mark.parametrize(("given", "kept"), [("P2", "P2"), ("normal", ""), ("XY", ""), ("", "")])
def test_only_a_real_priority_is_kept(org, given, kept):
    result = ingest(service=make_service(org), event=_event("trigger", priority=given), payload={})
    result.incident.refresh_from_db()
    assert result.incident.priority == kept


def test_trigger_dedups_into_the_open_incident_and_keeps_every_alert(org):
    service = make_service(org)
    first = ingest(service=service, event=_event("trigger"), payload={"n": 1})
    second = ingest(service=service, event=_event("trigger"), payload={"n": 2})
    assert (first.outcome, second.outcome) == ("triggered", "deduplicated")
    assert second.incident.pk == first.incident.pk
    assert alert_count(first.incident) == 2
    assert list(Alert.objects.order_by("id").values_list("payload", flat=True)) == [
        {"n": 1},
        {"n": 2},
    ]


def test_trigger_without_a_key_gets_one_and_each_is_new(org):
    service = make_service(org)
    a = ingest(service=service, event=_event("trigger", None), payload={})
    b = ingest(service=service, event=_event("trigger", None), payload={})
    assert a.dedup_key != b.dedup_key
    assert len(a.dedup_key) == 32
    assert Incident.objects.count() == 2


def test_same_key_on_another_service_is_another_incident(org):
    a = ingest(service=make_service(org), event=_event("trigger"), payload={})
    b = ingest(service=make_service(org), event=_event("trigger"), payload={})
    assert a.incident.pk != b.incident.pk


def test_after_resolve_a_trigger_opens_a_new_incident(org):
    service = make_service(org)
    first = ingest(service=service, event=_event("trigger"), payload={})
    assert ingest(service=service, event=_event("resolve"), payload={}).outcome == "resolved"
    second = ingest(service=service, event=_event("trigger"), payload={})
    assert second.outcome == "triggered"
    assert second.incident.pk != first.incident.pk
    assert second.incident.number == first.incident.number + 1


def test_acknowledge_and_resolve_without_an_open_incident_are_recorded_and_ignored(org):
    service = make_service(org)
    for action in ("acknowledge", "resolve"):
        result = ingest(service=service, event=_event(action, "nothing-open"), payload={})
        assert result.outcome == "ignored"
        assert result.incident is None
    assert Alert.objects.filter(outcome="ignored").count() == 2
    assert not Incident.objects.exists()


def test_acknowledge_by_event(org):
    service = make_service(org)
    ingest(service=service, event=_event("trigger"), payload={})
    result = ingest(service=service, event=_event("acknowledge"), payload={})
    assert result.outcome == "acknowledged"
    assert result.incident.status == Status.ACKNOWLEDGED
    assert result.incident.events.last().actor_label == "integration events"


def test_resolve_before_trigger_makes_the_incident_resolved(org):
    service = make_service(org)
    seen: list = []
    registry.subscribe(events.IncidentTriggered, seen.append)
    try:
        ingest(service=service, event=_event("resolve", "flappy"), payload={})
        late = ingest(service=service, event=_event("trigger", "flappy"), payload={})
    finally:
        registry.unsubscribe(events.IncidentTriggered, seen.append)
    assert late.outcome == "resolved"
    assert late.incident.status == Status.RESOLVED
    assert seen == [], "an incident born resolved pages nobody"
    assert Alert.objects.filter(incident=late.incident).count() == 2


def test_an_early_resolve_is_forgotten_after_five_minutes(org):
    service = make_service(org)
    early = ingest(service=service, event=_event("resolve", "flappy"), payload={})
    Alert.objects.filter(pk=early.alert.pk).update(
        received_at=timezone.now() - timedelta(minutes=6)
    )
    assert ingest(service=service, event=_event("trigger", "flappy"), payload={}).outcome == (
        "triggered"
    )


def test_a_repeated_resolve_does_not_swallow_the_next_trigger(org):
    """A sender that resolves twice (or after a person closed the incident) must not make the
    next real problem be born resolved: that would page nobody."""
    service = make_service(org)
    first = ingest(service=service, event=_event("trigger", "db"), payload={})
    assert ingest(service=service, event=_event("resolve", "db"), payload={}).outcome == (
        "resolved"
    )
    repeat = ingest(service=service, event=_event("resolve", "db"), payload={})
    assert (repeat.outcome, repeat.alert.incident_id) == ("ignored", first.incident.pk)
    again = ingest(service=service, event=_event("trigger", "db"), payload={})
    assert again.outcome == "triggered"
    assert again.incident.status == Status.TRIGGERED


def test_a_resolve_older_than_the_trigger_is_not_an_early_resolve(org):
    """CI: run 1 goes green (a resolve with nothing open), run 2 fails a minute later."""
    service = make_service(org)
    green = timezone.now() - timedelta(minutes=2)
    ingest(service=service, event=_event("resolve", "ci", occurred_at=green), payload={})
    failed = ingest(
        service=service,
        event=_event("trigger", "ci", occurred_at=green + timedelta(minutes=1)),
        payload={},
    )
    assert failed.outcome == "triggered"
    # A resolve stamped after the trigger (or unstamped) still makes it born resolved.
    later = timezone.now()
    ingest(service=service, event=_event("resolve", "flap", occurred_at=later), payload={})
    born = ingest(
        service=service,
        event=_event("trigger", "flap", occurred_at=later - timedelta(seconds=5)),
        payload={},
    )
    assert born.outcome == "resolved"


def test_change_events_are_recorded_and_never_make_incidents(org):
    result = ingest(service=make_service(org), event=_event("change", None), payload={})
    assert result.outcome == "recorded"
    assert not Incident.objects.exists()


def test_long_dedup_keys_keep_their_identity():
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert len(normalize_dedup_key(a)) == 255
    assert normalize_dedup_key(a) != normalize_dedup_key(b)
    assert normalize_dedup_key("short") == "short"


def test_incident_numbers_are_per_organization(org, other_org):
    mine, theirs = make_service(org), make_service(other_org)
    numbers = [
        ingest(service=mine, event=_event("trigger", None), payload={}).incident.number
        for _ in range(3)
    ]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 3
    assert ingest(service=theirs, event=_event("trigger", None), payload={}).incident.number == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_ingest_leaves_no_rows_and_no_jobs(org):
    service = make_service(org)

    def explode(event):
        raise RuntimeError("subscriber failed")

    registry.subscribe(events.IncidentTriggered, explode)
    try:
        with pytest.raises(RuntimeError):
            ingest(service=service, event=_event("trigger"), payload={})
    finally:
        registry.unsubscribe(events.IncidentTriggered, explode)
    assert not Incident.objects.exists()
    assert not Alert.objects.exists()
    assert not IncidentEvent.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_jobs")
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_64_concurrent_triggers_with_one_key_make_one_incident(org):
    service = make_service(org)
    barrier = threading.Barrier(16)

    def send(i: int) -> str:
        try:
            if i < 16:
                barrier.wait()
            return ingest(
                service=service, event=_event("trigger", "storm"), payload={"i": i}
            ).outcome
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(send, range(64)))
    assert outcomes.count("triggered") == 1
    assert outcomes.count("deduplicated") == 63
    incident = Incident.objects.get()
    assert alert_count(incident) == 64
    assert incident.events.filter(kind="triggered").count() == 1


@pytest.mark.django_db(transaction=True)
def test_alerts_never_land_on_an_incident_resolved_concurrently(org):
    """Triggers racing a resolve: each alert is on the old incident (before the resolve) or on
    a new one (after it), never on a resolved incident it arrived after."""
    service = make_service(org)
    ingest(service=service, event=_event("trigger", "race"), payload={})
    barrier = threading.Barrier(9)

    def send(i: int) -> None:
        try:
            barrier.wait()
            action = "resolve" if i == 4 else "trigger"
            with transaction.atomic():
                ingest(service=service, event=_event(action, "race"), payload={"i": i})
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=9) as pool:
        list(pool.map(send, range(9)))
    resolved = Incident.objects.get(status=Status.RESOLVED)
    resolve_alert = Alert.objects.get(action="resolve")
    # Alert ids are taken at INSERT, under the incident lock: every trigger attached to the
    # resolved incident must have been inserted before the resolve was.
    late = Alert.objects.filter(incident=resolved, action="trigger", pk__gt=resolve_alert.pk)
    assert not late.exists()
    assert Incident.objects.filter(status=Status.TRIGGERED).count() <= 1
    assert Alert.objects.filter(action="trigger").count() == 9
