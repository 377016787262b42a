"""The engine under real worker processes: racing workers, and a worker killed mid-step."""

from __future__ import annotations

import signal
import sys
import time
from collections import Counter

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from escalation.engine import QUEUE, RUN_STEP
from incidents.models import EventKind, IncidentEvent
from notifications.models import NotificationRequest
from opsknight import jobqueue
from tests.escalation.factories import policy, step
from tests.incidents.factories import make_service, trigger
from tests.oncall.factories import people
from tests.processes import database_url, running

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _empty_job_queue():
    """Procrastinate's tables are not Django models: a transactional test's flush leaves them,
    and later tests that count jobs would see these."""
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers, "
            "procrastinate_workers CASCADE"
        )


def worker(concurrency: int = 2) -> list[str]:
    # Every queue: the sweep that recovers a dead worker's jobs is a periodic task.
    return [
        sys.executable,
        "manage.py",
        "procrastinate",
        "worker",
        "--concurrency",
        str(concurrency),
    ]


def wait_for(predicate, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def escalated_count() -> int:
    return IncidentEvent.objects.filter(kind=EventKind.ESCALATED).count()


def test_two_racing_workers_run_every_page_exactly_once(org):
    """Four pages per incident, back to back, the first queued twice: two workers with four
    slots each race over them."""
    a, b, c = people(org, 3)
    service = make_service(org)
    policy(org, [step(a), step(b), step(c), step(a)], service=service)
    incidents = [trigger(service) for _ in range(40)]
    for incident in incidents:  # a duplicate of every first page
        jobqueue.defer(RUN_STEP, queue=QUEUE, incident_id=incident.pk, generation=1, tick=0)
    expected = 4 * len(incidents)

    with running(worker(4)), running(worker(4)):
        wait_for(lambda: escalated_count() >= expected, 120, f"{expected} pages")
        time.sleep(1)  # a duplicate run, if any, would land now

    ticks = Counter(
        (e.incident_id, e.data["tick"])
        for e in IncidentEvent.objects.filter(kind=EventKind.ESCALATED)
    )
    assert len(ticks) == expected
    assert set(ticks.values()) == {1}, ticks.most_common(3)
    per_person = Counter(NotificationRequest.objects.values_list("incident_id", "user_id", "level"))
    assert set(per_person.values()) == {1}
    assert len(per_person) == 4 * len(incidents)


def _blocked_insert_backends() -> int:
    with psycopg.connect(database_url()) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'INSERT INTO \"notifications_notificationrequest\"%'"
        ).fetchone()[0]


def test_a_worker_killed_mid_step_leaves_the_step_to_another_and_pages_once(org):
    """The first worker is held inside the step's transaction, killed there, and the job is
    recovered by a second worker. The hold: the test inserts, uncommitted, the notification
    request the step is about to write, so the step's insert waits on it (after the step has
    locked its rows and resolved its targets, before its timeline row)."""
    a = people(org, 1)[0]
    service = make_service(org)
    policy(org, [step(a)], service=service)
    incident = trigger(service)

    blocker = psycopg.connect(database_url())
    blocker.execute(
        "INSERT INTO notifications_notificationrequest (organization_id, incident_id, user_id, "
        "reason, level, channels, request_key, status, created_at) "
        "VALUES (%s, %s, %s, 'escalation', 1, '{}', 'escalation:1:0', 'pending', now())",
        [org.pk, incident.pk, a.pk],
    )
    try:
        with running(worker()) as first:
            wait_for(lambda: _blocked_insert_backends() == 1, 30, "the step to block mid-way")
            first.send_signal(signal.SIGKILL)
            first.wait()
            killed_at = time.monotonic()
    finally:
        blocker.rollback()  # the held insert goes: the killed step's backend may now go on
        blocker.close()
    time.sleep(1)
    assert escalated_count() == 0, "the killed step committed nothing"

    with running(worker()):
        wait_for(lambda: escalated_count() == 1, 60, "another worker to finish the step")
        recovered_after = time.monotonic() - killed_at
        time.sleep(2)
    assert recovered_after < settings.JOB_STALLED_AFTER_SECONDS + 2 + 5, recovered_after
    assert escalated_count() == 1
    assert list(NotificationRequest.objects.values_list("incident_id", "user_id", "level")) == [
        (incident.pk, a.pk, 1)
    ]
    print(f"step finished {recovered_after:.1f}s after its worker was killed")
