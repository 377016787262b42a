"""Delivering one Notification row: claim, send, record — in three steps, never twice.

1. Claim, in a transaction: the row must be PENDING and still wanted (not acknowledged since
   the page was asked for, not resolved, not snoozed). It becomes SENDING with an attempt row,
   and that commits *before* anything is sent.
2. Send, outside any transaction or lock: the provider call may take seconds.
3. Record, in a transaction: SENT; or, on failure, PENDING again with the next backoff
   (5 s, 30 s, 2 min, 10 min), then FAILED.

A run that finds the row SENDING knows an earlier run died between steps 1 and 3: the message
may or may not have left, so it is not sent again; the row is FAILED with "outcome unknown" and
the person's other deliveries (their next rule, the next level) still go.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from incidents.models import EventKind, IncidentEvent, Status
from notifications.dispatch import Outgoing, prepare, send, unavailable
from notifications.models import (
    FINISHED,
    DeliveryAttempt,
    DeliveryStatus,
    Notification,
    RequestStatus,
)
from notifications.providers.base import ProviderError
from notifications.services import defer_delivery

logger = logging.getLogger(__name__)

BACKOFF = (timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10))
MAX_ATTEMPTS = len(BACKOFF) + 1
EARLY = timedelta(seconds=1)  # a job may start a little before its row's due time


def _unwanted(notification: Notification) -> str:
    """Why the page is no longer wanted, or "" if it still is."""
    incident = notification.incident
    if incident is None:  # a test message or a verification code: wanted until sent
        return ""
    if incident.status in (Status.RESOLVED, Status.SNOOZED):
        return f"incident {incident.status}"
    # Acknowledged after the page was asked for. (A page asked for while acknowledged was an
    # explicit "escalate now": it goes.)
    acknowledged_since = IncidentEvent.objects.filter(
        incident_id=incident.pk,
        kind=EventKind.ACKNOWLEDGED,
        created_at__gte=notification.request.created_at,
    ).exists()
    if incident.status == Status.ACKNOWLEDGED and acknowledged_since:
        return "incident acknowledged"
    return ""


def _finish_request(notification: Notification) -> None:
    request = notification.request
    if request is None:
        return
    open_ = request.deliveries.exclude(status__in=FINISHED).exclude(pk=notification.pk)
    if not open_.exists():
        request.status = RequestStatus.DONE
        request.save(update_fields=["status"])


def _close(notification: Notification, status: DeliveryStatus, error: str = "") -> None:
    notification.status, notification.error = status, error[:2000]
    notification.updated_at = timezone.now()
    notification.save(update_fields=["status", "error", "updated_at"])
    _finish_request(notification)


def _claim(notification_id: int) -> tuple[Notification, Outgoing] | None:
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("incident__service", "request")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None:
            return None
        if notification.status == DeliveryStatus.SENDING:
            DeliveryAttempt.objects.filter(
                notification=notification, number=notification.attempts
            ).update(finished_at=timezone.now(), outcome="unknown")
            _close(
                notification,
                DeliveryStatus.FAILED,
                "outcome unknown: the worker stopped while sending; not sent again",
            )
            return None
        if notification.status != DeliveryStatus.PENDING:
            return None
        if notification.due_at > timezone.now() + EARLY:
            return None  # a stray older job: the row was rescheduled and has its own job
        if why := _unwanted(notification):
            _close(notification, DeliveryStatus.CANCELLED, why)
            return None
        if why := unavailable(notification.channel):
            _close(notification, DeliveryStatus.FAILED, why)
            return None
        notification.status = DeliveryStatus.SENDING
        notification.attempts += 1
        notification.updated_at = timezone.now()
        notification.save(update_fields=["status", "attempts", "updated_at"])
        DeliveryAttempt.objects.create(notification=notification, number=notification.attempts)
        message = prepare(notification)
        return notification, message


def _record(
    notification_id: int, attempt: int, message_id: str, error: ProviderError | None
) -> None:
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("request")
            .get(pk=notification_id)
        )
        now = timezone.now()
        DeliveryAttempt.objects.filter(notification=notification, number=attempt).update(
            finished_at=now,
            outcome="sent" if error is None else "failed",
            provider_message_id=message_id,
            error=str(error or "")[:2000],
        )
        if error is None:
            notification.sent_at, notification.provider_message_id = now, message_id
            notification.save(update_fields=["sent_at", "provider_message_id"])
            _close(notification, DeliveryStatus.SENT)
        elif error.permanent or attempt >= MAX_ATTEMPTS:
            _close(notification, DeliveryStatus.FAILED, str(error))
        else:
            notification.status = DeliveryStatus.PENDING
            notification.error = str(error)[:2000]
            notification.due_at = now + BACKOFF[attempt - 1]
            notification.updated_at = now
            notification.save(update_fields=["status", "error", "due_at", "updated_at"])
            defer_delivery(notification)


def delivery_run(*, notification_id: int) -> None:
    """Deliver one Notification row if it is still due and wanted (see the module's steps)."""
    claimed = _claim(notification_id)
    if claimed is None:
        return
    notification, message = claimed
    try:
        result = send(message)
    except ProviderError as error:
        logger.warning(
            "delivery %s attempt %s failed: %s", notification.pk, notification.attempts, error
        )
        _record(notification.pk, notification.attempts, "", error)
        return
    _record(notification.pk, notification.attempts, result.provider_message_id, None)
