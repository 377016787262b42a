"""Periodic integration jobs (queue `periodic`). Thin: the logic is in heartbeats.py."""

from __future__ import annotations

from procrastinate.contrib.django import app

from integrations.heartbeats import heartbeats_check


@app.periodic(cron="* * * * *", periodic_id="check-heartbeats")
@app.task(queue="periodic", name="integrations.check_heartbeats")
def check_heartbeats(timestamp: int) -> None:
    """Open an incident for every heartbeat silent past its interval and grace.

    Uses the clock, not `timestamp`: a job that starts late must still judge by now.
    """
    heartbeats_check()
