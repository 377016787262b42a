"""Maintenance windows: triggers during one page nobody, and page once the problem outlives it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents import events, services
from incidents.ingestion import NormalizedEvent, ingest
from incidents.maintenance import (
    active_maintenance,
    maintenance_end,
    maintenance_schedule,
    maintenance_start,
)
from incidents.models import AlertAction, Incident, MaintenanceWindow, Status
from opsknight import events as registry
from opsknight.actors import Actor
from opsknight.models import AuditEvent
from tests.incidents.factories import make_service
from tests.opsknight.factories import UserFactory

pytestmark = pytest.mark.django_db


def _event(action: str = "trigger", key: str = "disk-full") -> NormalizedEvent:
    return NormalizedEvent(action=AlertAction(action), dedup_key=key, summary="Disk full")


@pytest.fixture
def paged() -> Iterator[list[events.IncidentTriggered]]:
    """Every IncidentTriggered published: what escalation would page for."""
    seen: list[events.IncidentTriggered] = []
    registry.subscribe(events.IncidentTriggered, seen.append)
    yield seen
    registry.unsubscribe(events.IncidentTriggered, seen.append)


def _window(organization, service=None, *, start: timedelta, end: timedelta) -> MaintenanceWindow:
    """A window relative to now, written directly (the services refuse windows in the past)."""
    now = timezone.now()
    return MaintenanceWindow.objects.create(
        organization=organization, service=service, start=now + start, end=now + end
    )


def test_a_service_window_suppresses_and_pages_nobody(org, paged):
    service = make_service(org)
    window = maintenance_start(organization=org, service=service, minutes=30, reason="DB upgrade")
    result = ingest(service=service, event=_event(), payload={})
    incident = Incident.objects.get()
    assert (result.outcome, incident.status) == ("suppressed", Status.SUPPRESSED)
    assert paged == []
    [row] = incident.events.all()
    assert row.kind == "suppressed"
    assert f"maintenance window #{window.pk}: DB upgrade" in row.message
    assert row.data["window_id"] == window.pk


def test_an_organization_wide_window_suppresses_every_service(org, paged):
    window = maintenance_start(organization=org, minutes=30)
    for name in ("api", "web"):
        ingest(service=make_service(org, name=name), event=_event(), payload={})
    assert list(Incident.objects.values_list("status", flat=True)) == [Status.SUPPRESSED] * 2
    assert paged == []
    assert "organization-wide maintenance window" in Incident.objects.first().events.get().message
    assert window.service is None


def test_windows_of_other_services_and_organizations_do_not_apply(org, other_org, paged):
    service, neighbour = make_service(org), make_service(org)
    maintenance_start(organization=org, service=neighbour, minutes=30)
    maintenance_start(organization=other_org, minutes=30)
    result = ingest(service=service, event=_event(), payload={})
    assert result.outcome == "triggered"
    assert result.incident.status == Status.TRIGGERED
    assert len(paged) == 1


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (timedelta(minutes=5), timedelta(minutes=60)),  # not started yet
        (timedelta(hours=-2), timedelta(hours=-1)),  # over
        (timedelta(hours=-1), timedelta(0)),  # ends now: the end is exclusive
    ],
)
def test_windows_in_the_future_or_past_do_nothing(org, paged, start, end):
    service = make_service(org)
    _window(org, service, start=start, end=end)
    _window(org, start=start, end=end)
    assert ingest(service=service, event=_event(), payload={}).outcome == "triggered"
    assert len(paged) == 1


def test_further_triggers_dedup_into_the_suppressed_incident(org, paged):
    service = make_service(org)
    maintenance_start(organization=org, service=service, minutes=30)
    first = ingest(service=service, event=_event(), payload={})
    second = ingest(service=service, event=_event(), payload={})
    assert (first.outcome, second.outcome) == ("suppressed", "deduplicated")
    assert second.incident.pk == first.incident.pk
    assert Incident.objects.get().status == Status.SUPPRESSED
    assert first.incident.alerts.count() == 2
    assert paged == []


def test_a_trigger_after_the_window_pages_the_suppressed_incident(org, paged):
    service = make_service(org)
    window = maintenance_start(organization=org, service=service, minutes=30)
    suppressed = ingest(service=service, event=_event(), payload={}).incident
    maintenance_end(window=window)
    resumed = ingest(service=service, event=_event(), payload={})
    again = ingest(service=service, event=_event(), payload={})
    assert (resumed.outcome, again.outcome) == ("triggered", "deduplicated")
    assert resumed.incident.pk == again.incident.pk == suppressed.pk
    incident = Incident.objects.get()
    assert incident.status == Status.TRIGGERED
    assert [(e.kind, e.message) for e in incident.events.all()][1:] == [
        ("triggered", "maintenance ended; now paging")
    ]
    assert [(e.incident_id, e.urgency) for e in paged] == [(incident.pk, incident.urgency)]


def test_no_resumption_while_another_window_still_covers_the_service(org, paged):
    service = make_service(org)
    own = maintenance_start(organization=org, service=service, minutes=30)
    maintenance_start(organization=org, minutes=60)
    ingest(service=service, event=_event(), payload={})
    maintenance_end(window=own)
    assert ingest(service=service, event=_event(), payload={}).outcome == "deduplicated"
    assert Incident.objects.get().status == Status.SUPPRESSED
    assert paged == []


def test_suppressed_incidents_can_be_acknowledged_and_resolved(org, paged):
    service = make_service(org)
    window = maintenance_start(organization=org, service=service, minutes=30)
    a = ingest(service=service, event=_event(key="a"), payload={}).incident
    b = ingest(service=service, event=_event(key="b"), payload={}).incident
    c = ingest(service=service, event=_event(key="c"), payload={}).incident
    services.acknowledge(incident_id=a.pk, actor=Actor.system())
    services.resolve(incident_id=b.pk, actor=Actor.system())
    assert ingest(service=service, event=_event("resolve", "c"), payload={}).outcome == "resolved"
    statuses = dict(Incident.objects.values_list("pk", "status"))
    assert statuses == {a.pk: "acknowledged", b.pk: "resolved", c.pk: "resolved"}
    # Someone is on it: the end of the window does not page for an acknowledged incident.
    maintenance_end(window=window)
    assert ingest(service=service, event=_event(key="a"), payload={}).outcome == "deduplicated"
    assert Incident.objects.get(pk=a.pk).status == Status.ACKNOWLEDGED
    assert paged == []


def test_maintenance_end_ends_a_running_window_and_is_audited(org):
    service = make_service(org)
    user = UserFactory()
    window = maintenance_start(organization=org, service=service, minutes=30, actor=user)
    assert active_maintenance(service) == window
    before = timezone.now()
    ended = maintenance_end(window=window, actor=user)
    assert before <= ended.end <= timezone.now()
    assert active_maintenance(service) is None
    assert maintenance_end(window=ended).end == ended.end, "ending it again changes nothing"
    assert list(AuditEvent.objects.order_by("pk").values_list("action", "actor")) == [
        ("maintenance.scheduled", user.pk),
        ("maintenance.ended", user.pk),
    ]


def test_maintenance_end_cancels_a_window_not_yet_started(org):
    now = timezone.now()
    window = maintenance_schedule(
        organization=org, start=now + timedelta(hours=1), end=now + timedelta(hours=2)
    )
    maintenance_end(window=window)
    assert not MaintenanceWindow.objects.exists()
    assert AuditEvent.objects.filter(action="maintenance.cancelled").count() == 1


def test_a_scheduled_window_starts_suppressing_when_it_starts(org):
    service = make_service(org)
    now = timezone.now()
    window = maintenance_schedule(
        organization=org,
        service=service,
        start=now + timedelta(hours=1),
        end=now + timedelta(hours=2),
        reason="planned",
    )
    assert active_maintenance(service) is None
    assert active_maintenance(service, now + timedelta(minutes=90)) == window
    assert active_maintenance(service, now + timedelta(hours=2)) is None


def _bad_inputs(org, other_org) -> list[dict]:
    now = timezone.now()
    theirs = make_service(other_org)
    return [
        {"start": now + timedelta(hours=1), "end": now + timedelta(hours=1)},  # end = start
        {"start": now + timedelta(hours=2), "end": now + timedelta(hours=1)},  # end < start
        {"start": now - timedelta(hours=2), "end": now - timedelta(hours=1)},  # over
        {"start": now, "end": now + timedelta(days=32)},  # too long
        {"start": datetime(2030, 1, 1), "end": datetime(2030, 1, 2)},  # noqa: DTZ001 naive
        {"start": now, "end": now + timedelta(hours=1), "service": theirs},
    ]


@pytest.mark.parametrize("case", range(6))
def test_bad_windows_are_refused_and_write_nothing(org, other_org, case):
    with pytest.raises(ValidationError):
        maintenance_schedule(organization=org, **_bad_inputs(org, other_org)[case])
    assert not MaintenanceWindow.objects.exists()
    assert not AuditEvent.objects.exists()


def test_bad_start_arguments_are_refused(org, other_org):
    with pytest.raises(ValidationError):
        maintenance_start(organization=org, minutes=0)
    with pytest.raises(ValidationError, match="another organization"):
        maintenance_start(organization=org, service=make_service(other_org), minutes=5)
    assert not MaintenanceWindow.objects.exists()
    assert not AuditEvent.objects.exists()


def test_the_window_check_costs_a_trigger_no_query(org):
    """Measured: a new incident takes 11 queries in tests (5 once the organization's number
    sequence is known, which a test's rolled-back transaction never records, + 3 for the
    escalation app: one read of the incident with its policy snapshot and SLA targets, the
    escalation state, the SLA clocks; + 1 for notifications: the organization's outbound
    destinations), an alert joining an open incident 2 — the same as before maintenance
    windows existed."""
    service = make_service(org)
    ingest(service=service, event=_event(key="warm-up"), payload={})
    _window(org, make_service(org), start=timedelta(hours=-1), end=timedelta(hours=1))
    with CaptureQueriesContext(connection) as new:
        ingest(service=service, event=_event(), payload={})
    with CaptureQueriesContext(connection) as joined:
        ingest(service=service, event=_event(), payload={})
    assert (len(new), len(joined)) == (11, 2)
    maintenance_start(organization=org, service=service, minutes=5)
    with CaptureQueriesContext(connection) as suppressed:
        ingest(service=service, event=_event(key="in-maintenance"), payload={})
    assert len(suppressed) == 8  # + reading the window for its timeline row (no trigger)


@pytest.mark.django_db(transaction=True)
def test_concurrent_triggers_after_the_window_page_once(org, paged):
    """Triggers hold KEY SHARE on the incident; the resumption must not deadlock them."""
    service = make_service(org)
    window = maintenance_start(organization=org, service=service, minutes=30)
    ingest(service=service, event=_event(), payload={})
    maintenance_end(window=window)
    barrier = threading.Barrier(8)

    def send(i: int) -> str:
        try:
            barrier.wait()
            return ingest(service=service, event=_event(), payload={"i": i}).outcome
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(send, range(8)))
    assert sorted(outcomes) == ["deduplicated"] * 7 + ["triggered"]
    assert Incident.objects.get().status == Status.TRIGGERED
    assert len(paged) == 1


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_schedules_through_the_service_and_the_service_page_shows_it(operator, org):
    service = make_service(org)
    now = timezone.localtime()
    response = operator.post(
        "/admin/incidents/maintenancewindow/add/",
        {
            "organization": org.pk,
            "service": service.pk,
            "start_0": now.strftime("%Y-%m-%d"),
            "start_1": now.strftime("%H:%M:%S"),
            "end_0": (now + timedelta(hours=1)).strftime("%Y-%m-%d"),
            "end_1": (now + timedelta(hours=1)).strftime("%H:%M:%S"),
            "reason": "kernel patch",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    window = MaintenanceWindow.objects.get()
    assert AuditEvent.objects.get().action == "maintenance.scheduled"
    page = operator.get(f"/admin/incidents/service/{service.pk}/change/").content.decode()
    assert f"#{window.pk}</a> this service until" in page
    assert "kernel patch" in page


def test_admin_refuses_a_window_of_another_organizations_service(operator, org, other_org):
    now = timezone.localtime()
    response = operator.post(
        "/admin/incidents/maintenancewindow/add/",
        {
            "organization": org.pk,
            "service": make_service(other_org).pk,
            "start_0": now.strftime("%Y-%m-%d"),
            "start_1": now.strftime("%H:%M:%S"),
            "end_0": (now + timedelta(hours=1)).strftime("%Y-%m-%d"),
            "end_1": (now + timedelta(hours=1)).strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 200
    assert "another organization" in response.content.decode()
    assert not MaintenanceWindow.objects.exists()


def test_admin_ends_windows_with_an_action(operator, org):
    window = maintenance_start(organization=org, minutes=30)
    operator.post(
        "/admin/incidents/maintenancewindow/",
        {"action": "end_now", "_selected_action": [window.pk]},
    )
    assert MaintenanceWindow.objects.get().end <= timezone.now()
    assert AuditEvent.objects.filter(action="maintenance.ended").count() == 1
