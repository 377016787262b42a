"""Notification jobs. Thin: the logic is in notifications/delivery.py."""

from __future__ import annotations

from procrastinate.contrib.django import app

from notifications.delivery import delivery_run
from notifications.services import DELIVER, QUEUE


# No procrastinate retry: a failed send is retried by the delivery itself, on its own backoff,
# so that every attempt is recorded on the row. No `lock=` (the jobs are scheduled ahead).
@app.task(queue=QUEUE, name=DELIVER)
def deliver(*, notification_id: int) -> None:
    """Send one delivery record's message, once."""
    delivery_run(notification_id=notification_id)
