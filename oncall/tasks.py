"""Periodic on-call jobs (queue `periodic`). Thin: the logic is in handoffs.py and calendars.py."""

from __future__ import annotations

from procrastinate.contrib.django import app

from oncall.calendars import refresh_imported_layers
from oncall.handoffs import handoff_notices_record


@app.periodic(cron="* * * * *", periodic_id="record-handoff-notices")
@app.task(queue="periodic", name="oncall.record_handoff_notices")
def record_handoff_notices(timestamp: int) -> None:
    """Write "shift starts soon" / "shift started" notices for the notifications app."""
    handoff_notices_record()


@app.periodic(cron="*/5 * * * *", periodic_id="refresh-imported-calendars")
@app.task(queue="periodic", name="oncall.refresh_imported_calendars")
def refresh_imported_calendars(timestamp: int) -> None:
    """Re-fetch subscribed calendars older than 15 minutes (fetching happens outside any lock)."""
    refresh_imported_layers()
