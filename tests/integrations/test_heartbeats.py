"""Heartbeat monitors: pings keep them up; silence opens one incident; the next ping resolves it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone
from procrastinate.contrib.django import app

from incidents import services as incident_services
from incidents.maintenance import maintenance_start
from incidents.models import Alert, Incident, Status
from integrations import tasks
from integrations.heartbeats import (
    IssuedHeartbeat,
    heartbeat_create,
    heartbeat_mark_down,
    heartbeat_ping,
    heartbeat_rotate_key,
    heartbeat_set_enabled,
    heartbeat_update,
    heartbeats_check,
    ping_path,
)
from integrations.models import Heartbeat, HeartbeatState
from opsknight.actors import Actor
from opsknight.models import AuditEvent
from tests.opsknight.factories import UserFactory

pytestmark = pytest.mark.django_db

INTERVAL, GRACE = 5, 2


@pytest.fixture
def issued(service) -> IssuedHeartbeat:
    return heartbeat_create(
        service=service, name="nightly-backup", interval_minutes=INTERVAL, grace_minutes=GRACE
    )


def _fresh(issued: IssuedHeartbeat) -> Heartbeat:
    return Heartbeat.objects.get(pk=issued.heartbeat.pk)


def _overdue_after(when: datetime) -> datetime:
    return when + timedelta(minutes=INTERVAL + GRACE, seconds=1)


def test_creation_keeps_only_the_hash_and_is_audited(issued):
    heartbeat = _fresh(issued)
    assert heartbeat.key_hash != issued.key
    assert heartbeat.key_prefix == issued.key[:8]
    assert heartbeat.state == HeartbeatState.NEVER
    assert heartbeat.deadline_at == heartbeat.created_at + timedelta(minutes=INTERVAL + GRACE)
    assert AuditEvent.objects.get().action == "heartbeat.created"


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_ping_updates_the_heartbeat_and_answers(client, issued, method):
    before = timezone.now()
    response = getattr(client, method)(ping_path(issued.key))
    heartbeat = _fresh(issued)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["status"] == "ok"
    assert datetime.fromisoformat(body["next_expected_by"]) == heartbeat.last_ping_at + timedelta(
        minutes=INTERVAL
    )
    assert before <= heartbeat.last_ping_at <= timezone.now()
    assert heartbeat.state == HeartbeatState.UP
    assert heartbeat.deadline_at == heartbeat.last_ping_at + timedelta(minutes=INTERVAL + GRACE)
    assert not Alert.objects.exists(), "a ping while up writes no alert"


def test_a_post_with_a_body_is_a_ping(client, issued):
    response = client.post(
        ping_path(issued.key), data="backup done: 3 GB", content_type="text/plain"
    )
    assert response.status_code == 200


def test_other_methods_are_refused(client, issued):
    response = client.put(ping_path(issued.key))
    assert response.status_code == 405
    assert _fresh(issued).last_ping_at is None


def test_an_unknown_key_is_404_json(client, issued):
    response = client.get(ping_path("0" * 32))
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_key"
    assert _fresh(issued).last_ping_at is None


def test_a_disabled_heartbeat_refuses_pings_with_403(client, issued):
    heartbeat_set_enabled(heartbeat=issued.heartbeat, enabled=False)
    response = client.post(ping_path(issued.key))
    assert response.status_code == 403
    assert response.json()["error"] == "disabled"
    assert _fresh(issued).last_ping_at is None


def test_silence_past_interval_and_grace_triggers_exactly_one_incident(issued):
    pinged = timezone.now()
    heartbeat_ping(key=issued.key, now=pinged)
    assert heartbeats_check(now=pinged + timedelta(minutes=INTERVAL + GRACE - 1)) == []
    late = _overdue_after(pinged)
    assert heartbeats_check(now=late) == [issued.heartbeat.pk]
    assert heartbeats_check(now=late) == []
    assert heartbeats_check(now=late + timedelta(minutes=30)) == []
    incident = Incident.objects.get()
    assert incident.status == Status.TRIGGERED
    assert incident.dedup_key == f"heartbeat-{issued.heartbeat.pk}"
    assert incident.title == "No heartbeat from nightly-backup for 7 minutes"
    alert = Alert.objects.get()
    assert (alert.integration_kind, alert.outcome) == ("heartbeat", "triggered")
    assert incident.events.get().actor_label == "heartbeat nightly-backup"
    assert _fresh(issued).state == HeartbeatState.DOWN


def test_the_next_ping_resolves_the_incident(issued):
    pinged = timezone.now()
    heartbeat_ping(key=issued.key, now=pinged)
    heartbeats_check(now=_overdue_after(pinged))
    back = _overdue_after(pinged) + timedelta(minutes=3)
    result = heartbeat_ping(key=issued.key, now=back)
    assert result.resolved
    assert Incident.objects.get().status == Status.RESOLVED
    assert _fresh(issued).state == HeartbeatState.UP
    assert heartbeat_ping(key=issued.key, now=back + timedelta(minutes=1)).resolved is False
    assert Alert.objects.filter(action="resolve").count() == 1
    # A later outage is a new incident.
    heartbeats_check(now=_overdue_after(back + timedelta(minutes=1)))
    assert Incident.objects.filter(status=Status.TRIGGERED).count() == 1


def test_a_disabled_heartbeat_never_triggers(issued):
    heartbeat_set_enabled(heartbeat=issued.heartbeat, enabled=False)
    assert heartbeats_check(now=timezone.now() + timedelta(days=30)) == []
    assert not Incident.objects.exists()


def test_re_enabling_gives_a_full_interval_before_silence_counts(issued):
    heartbeat_set_enabled(heartbeat=issued.heartbeat, enabled=False)
    Heartbeat.objects.filter(pk=issued.heartbeat.pk).update(
        created_at=timezone.now() - timedelta(days=1),
        deadline_at=timezone.now() - timedelta(days=1),
    )
    heartbeat_set_enabled(heartbeat=issued.heartbeat, enabled=True)
    assert heartbeats_check(now=timezone.now() + timedelta(minutes=1)) == []
    assert heartbeats_check(now=_overdue_after(timezone.now())) == [issued.heartbeat.pk]


def test_a_heartbeat_never_pinged_goes_down_interval_and_grace_after_creation(issued):
    created = _fresh(issued).created_at
    assert heartbeats_check(now=created + timedelta(minutes=INTERVAL + GRACE - 1)) == []
    assert heartbeats_check(now=_overdue_after(created)) == [issued.heartbeat.pk]
    assert Incident.objects.get().title == "No heartbeat from nightly-backup for 7 minutes"


def test_heartbeats_of_inactive_services_stay_quiet(issued, service):
    service.is_active = False
    service.save()
    assert heartbeats_check(now=timezone.now() + timedelta(days=1)) == []
    assert heartbeat_ping(key=issued.key).status == "disabled"


def test_a_heartbeat_during_maintenance_is_suppressed_then_resolved(issued, org, service):
    maintenance_start(organization=org, service=service, minutes=60)
    heartbeats_check(now=_overdue_after(timezone.now()))
    assert Incident.objects.get().status == Status.SUPPRESSED
    heartbeat_ping(key=issued.key)
    assert Incident.objects.get().status == Status.RESOLVED


def test_a_manually_resolved_outage_does_not_reopen_until_the_next_silence(issued):
    created = _fresh(issued).created_at
    heartbeats_check(now=_overdue_after(created))
    incident_services.resolve(incident_id=Incident.objects.get().pk, actor=Actor.system())
    assert heartbeats_check(now=_overdue_after(created) + timedelta(hours=1)) == []
    assert heartbeat_ping(key=issued.key).resolved  # its resolve finds nothing open: ignored
    assert Incident.objects.count() == 1


def test_mark_down_is_a_no_op_for_a_heartbeat_pinged_in_time(issued):
    pinged = timezone.now()
    heartbeat_ping(key=issued.key, now=pinged)
    assert heartbeat_mark_down(heartbeat_id=issued.heartbeat.pk, now=pinged) is False
    assert not Incident.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_checking_at_once_open_one_incident(service):
    issued = heartbeat_create(service=service, name="cron", interval_minutes=1, grace_minutes=0)
    late = timezone.now() + timedelta(minutes=5)
    barrier = threading.Barrier(4)

    def check(_: int) -> list[int]:
        try:
            barrier.wait()
            return heartbeats_check(now=late)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(check, range(4)))
    assert sorted(results) == [[], [], [], [issued.heartbeat.pk]]
    assert Incident.objects.count() == 1
    assert Alert.objects.count() == 1


def test_the_periodic_task_is_registered_and_runs_the_check(issued):
    periodic = {
        task.periodic_id: (task.task.name, task.task.queue, task.cron)
        for task in app.periodic_registry.periodic_tasks.values()
    }
    assert periodic["check-heartbeats"] == (
        "integrations.check_heartbeats",
        "periodic",
        "* * * * *",
    )
    Heartbeat.objects.update(deadline_at=timezone.now() - timedelta(seconds=1))
    tasks.check_heartbeats(timestamp=0)
    assert Incident.objects.get().dedup_key == f"heartbeat-{issued.heartbeat.pk}"


def test_update_retimes_the_deadline_and_rotation_retires_the_old_url(client, issued):
    pinged = timezone.now()
    heartbeat_ping(key=issued.key, now=pinged)
    heartbeat = heartbeat_update(
        heartbeat=issued.heartbeat, name="backup", interval_minutes=60, grace_minutes=10
    )
    assert heartbeat.deadline_at == pinged + timedelta(minutes=70)
    new_key = heartbeat_rotate_key(heartbeat=heartbeat)
    assert client.get(ping_path(issued.key)).status_code == 404
    assert client.get(ping_path(new_key)).status_code == 200
    assert list(AuditEvent.objects.order_by("pk").values_list("action", flat=True)) == [
        "heartbeat.created",
        "heartbeat.updated",
        "heartbeat.key_rotated",
    ]


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_creates_a_heartbeat_and_shows_its_ping_url_once(operator, service):
    response = operator.post(
        "/admin/integrations/heartbeat/add/",
        {"service": service.pk, "name": "backup", "interval_minutes": 60, "grace_minutes": 5},
        follow=True,
    )
    heartbeat = Heartbeat.objects.get()
    page = response.content.decode()
    assert "/api/v1/heartbeats/" in page
    key = page.split("/api/v1/heartbeats/")[1].split("/ping")[0]
    assert heartbeat_ping(key=key).status == "ok"
    change = operator.get(f"/admin/integrations/heartbeat/{heartbeat.pk}/change/").content.decode()
    assert key not in change
    assert heartbeat.key_prefix in change


def test_admin_edits_and_disables_through_the_services(operator, issued):
    url = f"/admin/integrations/heartbeat/{issued.heartbeat.pk}/change/"
    response = operator.post(url, {"name": "backup", "interval_minutes": 30, "grace_minutes": 5})
    assert response.status_code == 302
    heartbeat = _fresh(issued)
    assert (heartbeat.name, heartbeat.interval_minutes, heartbeat.enabled) == ("backup", 30, False)
    assert list(AuditEvent.objects.order_by("pk").values_list("action", flat=True)) == [
        "heartbeat.created",
        "heartbeat.updated",
        "heartbeat.disabled",
    ]
