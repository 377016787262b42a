"""The job queue survives a worker killed mid-job: another worker finishes the job, once."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from procrastinate.contrib.django import app

from opsknight import jobqueue
from tests.processes import running

WORKER = [sys.executable, "manage.py", "procrastinate", "worker", "--concurrency", "2"]
TASKS = {"OPSKNIGHT_TASK_MODULES": "tests.opsknight.probe_tasks"}


def _wait_for(predicate, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _job(job_id: int) -> tuple[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status::text, attempts FROM procrastinate_jobs WHERE id = %s", [job_id]
        )
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_job_of_a_killed_worker_is_finished_by_another(tmp_path: Path, settings):
    job_id = app.configure_task(name="tests.probe", queue="default").defer(
        marker_dir=str(tmp_path), hang_first_attempt=True
    )
    with running(WORKER, **TASKS) as first:
        _wait_for(lambda: list(tmp_path.glob("started-1-*")), 30, "the first attempt to start")
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()
    assert _job(job_id)[0] == "doing", "a killed worker leaves its job in 'doing'"

    with running(WORKER, **TASKS):
        _wait_for(lambda: (tmp_path / "done-2").exists(), 30, "the job to run again")
        recovery = time.monotonic() - killed_at
        _wait_for(lambda: _job(job_id)[0] == "succeeded", 10, "the job to succeed")
    # Heartbeats stop at the kill; the sweep (every 2 s) requeues after JOB_STALLED_AFTER.
    assert recovery < settings.JOB_STALLED_AFTER_SECONDS + 2 + 5, recovery
    assert sorted(p.name.split("-pid")[0] for p in tmp_path.iterdir()) == [
        "done-2",
        "started-1",
        "started-2",
    ]
    assert _job(job_id) == ("succeeded", 2), "two attempts: the killed one and the finished one"
    print(f"recovered {recovery:.1f}s after the kill")


@pytest.mark.django_db(transaction=True)
def test_a_graceful_stop_mid_job_does_not_run_the_job_twice(tmp_path: Path, settings):
    """Procrastinate stops heartbeats before it waits for running jobs on SIGTERM; the sweep
    must not mistake a worker finishing its jobs for a dead one."""
    seconds = settings.PROCRASTINATE_WORKER_DEFAULTS["shutdown_graceful_timeout"] - 3
    job_id = app.configure_task(name="tests.probe", queue="default").defer(
        marker_dir=str(tmp_path), hang_first_attempt=False, seconds=seconds
    )
    with running(WORKER, **TASKS) as stopping, running(WORKER, **TASKS):
        _wait_for(lambda: list(tmp_path.glob("started-1-*")), 30, "the job to start")
        stopping.send_signal(signal.SIGTERM)
        _wait_for(lambda: (tmp_path / "done-1").exists(), seconds + 10, "the job to finish")
        _wait_for(lambda: _job(job_id)[0] == "succeeded", 10, "the job to succeed")
        time.sleep(settings.JOB_STALLED_AFTER_SECONDS - seconds + 3)  # a sweep would act by now
    assert sorted(p.name.split("-pid")[0] for p in tmp_path.iterdir()) == ["done-1", "started-1"]
    assert _job(job_id) == ("succeeded", 1)


@pytest.mark.django_db(transaction=True)
def test_sweep_leaves_jobs_of_live_workers_alone(settings):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now()), "
            "(now() - interval '1 minute') RETURNING id"
        )
        alive, dead = (row[0] for row in cursor.fetchall())
        cursor.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, status, worker_id) VALUES "
            "('default', 'tests.probe', 'doing', %s), ('default', 'tests.probe', 'doing', %s) "
            "RETURNING id",
            [alive, dead],
        )
        alive_job, dead_job = (row[0] for row in cursor.fetchall())
    recovered = async_to_sync(jobqueue.recover_stalled_jobs)(app)
    assert recovered == [dead_job]
    assert _job(alive_job) == ("doing", 0)
    assert _job(dead_job) == ("todo", 1)
