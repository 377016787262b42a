"""Care of the job queue itself: recovering jobs of dead workers, pruning finished jobs.

Procrastinate notices a worker that stopped sending heartbeats but never re-runs its jobs by
itself: they stay `doing` forever (PERFORMANCE.md). A page must not wait on a dead process, so
we put such jobs back in the queue. Every task is idempotent (DESIGN.md §4), which makes the
rare false positive (a live worker too busy to send heartbeats) a duplicate run, not a problem.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import cache
from typing import Any

import procrastinate.exceptions
from django.conf import settings
from procrastinate import App
from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.jobs import Job
from procrastinate.manager import JobManager

logger = logging.getLogger(__name__)


@cache
def _django_job_manager() -> JobManager:
    return JobManager(DjangoConnector())


def defer(
    task_name: str, *, queue: str, schedule_at: datetime | None = None, **task_kwargs: Any
) -> int:
    """Queue a job on Django's own connection, so it commits or rolls back with the caller.

    `app.configure_task(...).defer()` would do the same in a web process, but inside a worker
    procrastinate swaps the app's connector for its own pool, and a job deferred by a task
    would commit on its own, even if the task's transaction later rolled back. Deferring
    through a Django connector keeps DESIGN.md's promise in both places: a job exists if and
    only if the change that needs it committed.
    """
    job = Job(
        id=None,
        queue=queue,
        lock=None,
        queueing_lock=None,
        task_name=task_name,
        task_kwargs=task_kwargs,
        scheduled_at=schedule_at,
    )
    deferred = _django_job_manager().defer_job(job)
    assert deferred.id is not None
    return deferred.id


async def recover_stalled_jobs(app: App) -> list[int]:
    """Requeue every `doing` job whose worker has missed its heartbeats. Returns their ids."""
    stalled = await app.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=settings.JOB_STALLED_AFTER_SECONDS
    )
    recovered = []
    for job in stalled:
        try:
            await app.job_manager.retry_job(job)
        except procrastinate.exceptions.ConnectorException:
            continue  # another sweeper, or the job's own worker, got there first
        logger.warning(
            "requeued job %s (%s) of a worker that stopped sending heartbeats",
            job.id,
            job.task_name,
        )
        recovered.append(job.id)
    return recovered


async def prune_finished_jobs(app: App) -> None:
    """Delete succeeded jobs after a retention period; failed ones are kept for a week."""
    await app.job_manager.delete_old_jobs(
        nb_hours=settings.JOB_RETENTION_HOURS, include_failed=False
    )
    await app.job_manager.delete_old_jobs(
        nb_hours=7 * 24, include_failed=True, include_cancelled=True, include_aborted=True
    )
