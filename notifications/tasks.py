"""Notification jobs. Thin: the logic is in notifications/delivery.py."""

from __future__ import annotations

from procrastinate.contrib.django import app

from notifications.delivery import delivery_run
from notifications.outbound.delivery import outbound_delivery_run
from notifications.outbound.services import POST_OUTBOUND
from notifications.services import DELIVER, QUEUE


# No procrastinate retry: a failed send is retried by the delivery itself, on its own backoff,
# so that every attempt is recorded on the row. No `lock=` (the jobs are scheduled ahead).
@app.task(queue=QUEUE, name=DELIVER)
def deliver(*, notification_id: int) -> None:
    """Send one delivery record's message, once."""
    delivery_run(notification_id=notification_id)


# Same shape as `deliver`: the row keeps its own retries and backoff; no procrastinate retry.
@app.task(queue=QUEUE, name=POST_OUTBOUND)
def post_outbound(*, delivery_id: int) -> None:
    """Post one incident event to one outbound destination, once."""
    outbound_delivery_run(delivery_id=delivery_id)
