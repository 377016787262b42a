"""Periodic care of the job queue (queue `periodic`). Thin: the logic is in jobqueue.py."""

from __future__ import annotations

from procrastinate import JobContext
from procrastinate.contrib.django import app

from opsknight import jobqueue


# Seconds are the sixth cron field: every 2 s, so a dead worker's job is back in the queue
# within JOB_STALLED_AFTER_SECONDS + 2 s.
@app.periodic(cron="* * * * * */2", periodic_id="recover-stalled-jobs")
@app.task(queue="periodic", name="opsknight.recover_stalled_jobs", pass_context=True)
async def recover_stalled_jobs(context: JobContext, timestamp: int) -> None:
    """Requeue jobs of workers that stopped sending heartbeats (killed, frozen, lost)."""
    await jobqueue.recover_stalled_jobs(context.app)


@app.periodic(cron="17 * * * *", periodic_id="prune-finished-jobs")
@app.task(queue="periodic", name="opsknight.prune_finished_jobs", pass_context=True)
async def prune_finished_jobs(context: JobContext, timestamp: int) -> None:
    """Keep the job table small: succeeded jobs go after JOB_RETENTION_HOURS."""
    await jobqueue.prune_finished_jobs(context.app)
