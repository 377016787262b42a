"""Writes of the notifications app: accepting requests to reach people, planning deliveries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from incidents.models import Incident
from notifications.models import (
    DeliveryStatus,
    Notification,
    NotificationRequest,
    Reason,
    RequestStatus,
)
from notifications.planning import delivery_plan
from opsknight import jobqueue
from opsknight.selectors import live_job_args

Row = TypeVar("Row", bound=Model)
DELIVER = "notifications.deliver"
# A send that has not finished after this long has crashed: provider calls time out in 10 s.
SENDING_STUCK = timedelta(minutes=5)
QUEUE = "notifications"


def defer_delivery(notification: Notification) -> int:
    """Queue the delivery job at the row's due time, in the caller's transaction."""
    return jobqueue.defer(
        DELIVER, queue=QUEUE, schedule_at=notification.due_at, notification_id=notification.pk
    )


def notifications_request(
    *,
    incident: Incident,
    user_ids: Sequence[int],
    reason: Reason,
    level: int,
    request_key: str,
    channels: Sequence[str] = (),
) -> list[int]:
    """Record "reach these people about this incident", once per person and `request_key`,
    and plan each person's deliveries. Defers: one notifications.deliver job per delivery.

    Call inside the caller's transaction: the request and its jobs commit with the step that
    made them or not at all. A repeated call with the same key adds nobody twice (the unique
    constraint, and ON CONFLICT DO NOTHING). Returns the people asked for, each once, in order.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("notifications_request must run inside the caller's transaction")
    people = list(dict.fromkeys(user_ids))
    rows = [
        NotificationRequest(
            organization_id=incident.organization_id,
            incident=incident,
            user_id=user_id,
            reason=reason,
            level=level,
            request_key=request_key,
            channels=list(channels),
        )
        for user_id in people
    ]
    NotificationRequest.objects.bulk_create(rows, ignore_conflicts=True)
    fresh = NotificationRequest.objects.filter(
        incident=incident, request_key=request_key, status=RequestStatus.PENDING
    ).select_related("user")
    for request in fresh:
        _plan_deliveries(request, incident)
    return people


def _plan_deliveries(request: NotificationRequest, incident: Incident) -> None:
    now = timezone.now()
    planned = delivery_plan(request.user, incident.urgency, request.channels)
    deliveries = Notification.objects.bulk_create(
        [
            Notification(
                request=request,
                incident=incident,
                user_id=request.user_id,
                channel=item.channel,
                contact_method_id=item.contact_method_id,
                address=item.address,
                due_at=now + timedelta(minutes=item.delay_minutes),
            )
            for item in planned
        ]
    )
    for delivery in deliveries:
        defer_delivery(delivery)
    request.status = RequestStatus.DELIVERING if deliveries else RequestStatus.DONE
    request.save(update_fields=["status"])


def overdue_deliveries_requeue(*, due_before: datetime, limit: int = 500) -> list[Notification]:
    """Deliveries still PENDING well past their time whose job is gone (failed for good, or
    lost), or stuck SENDING: queue a new job for each. Returns them. The escalation auditor
    calls this."""
    # SENDING rows too, once long past: their attempt crashed (an unexpected error, a worker
    # gone). The job run again finds them SENDING and fails them as "outcome unknown" instead
    # of leaving them unfinished forever.
    overdue = Notification.objects.filter(
        Q(status=DeliveryStatus.PENDING, due_at__lt=due_before)
        | Q(status=DeliveryStatus.SENDING, updated_at__lt=due_before - SENDING_STUCK)
    )
    return lost_jobs_requeue(
        overdue, task=DELIVER, key="notification_id", defer=defer_delivery, limit=limit
    )


def lost_jobs_requeue(
    overdue: QuerySet[Row], *, task: str, key: str, defer: Callable[[Row], int], limit: int
) -> list[Row]:
    """Of these overdue rows, queue a job for each whose job is gone; returns them. Each row
    is locked (SKIP LOCKED: one being worked on right now is not lost) and its job looked
    for in the same transaction, so two auditors cannot both re-queue it."""
    requeued = []
    with transaction.atomic():
        rows = list(overdue.select_for_update(skip_locked=True).order_by("due_at")[:limit])
        if not rows:
            return []
        live = {args[key] for args in live_job_args(task, key, [row.pk for row in rows])}
        for row in rows:
            if row.pk not in live:
                defer(row)
                requeued.append(row)
    return requeued


def delivery_status_update(
    *, channels: Sequence[str], provider_message_id: str, delivered: bool, error: str = ""
) -> Notification | None:
    """A provider's delivery receipt (Twilio's status callback): SENT becomes DELIVERED, or
    FAILED with the carrier's reason. Receipts for unknown ids, or arriving out of order
    after a final state, change nothing. Returns the row it changed."""
    with transaction.atomic():
        row = (
            Notification.objects.select_for_update()
            .filter(channel__in=channels, provider_message_id=provider_message_id)
            .first()
        )
        if row is None or row.status not in (DeliveryStatus.SENT, DeliveryStatus.SENDING):
            return None
        row.status = DeliveryStatus.DELIVERED if delivered else DeliveryStatus.FAILED
        row.error = "" if delivered else error[:2000]
        row.updated_at = timezone.now()
        row.save(update_fields=["status", "error", "updated_at"])
        # Pages that rode in this message (a digest) share its fate.
        Notification.objects.filter(carried_by=row, status=DeliveryStatus.SENT).update(
            status=row.status, updated_at=row.updated_at
        )
        return row
