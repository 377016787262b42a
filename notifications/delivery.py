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

Pages pass the address's throttles (notifications/throttle.py) in the claim; one held back
waits and then carries the others due with it (notifications/digest.py).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from notifications.digest import (
    digest_line,
    riders_gather,
    riders_of,
    riders_release,
    riders_settle,
)
from notifications.dispatch import Outgoing, organization_of, prepare, send, unavailable
from notifications.models import Channel, DeliveryAttempt, DeliveryStatus, Notification, Reason
from notifications.providers.base import ProviderError
from notifications.records import close, unwanted
from notifications.services import defer_delivery
from notifications.throttle import HELD, Hold, address_lock, verdict

logger = logging.getLogger(__name__)

BACKOFF = (timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10))
MAX_ATTEMPTS = len(BACKOFF) + 1
EARLY = timedelta(seconds=1)  # a job may start a little before its row's due time


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
            if notification.carried_by_id is not None:
                return None  # riding in another page's message, which settles it
            DeliveryAttempt.objects.filter(
                notification=notification, number=notification.attempts
            ).update(finished_at=timezone.now(), outcome="unknown")
            unknown = "outcome unknown: the worker stopped while sending; not sent again"
            close(notification, DeliveryStatus.FAILED, unknown)
            riders_settle(notification, DeliveryStatus.FAILED, unknown)
            return None
        if notification.status != DeliveryStatus.PENDING:
            return None
        now = timezone.now()
        if notification.due_at > now + EARLY:
            return None  # a stray older job: the row was rescheduled and has its own job
        if why := unwanted(notification):
            close(notification, DeliveryStatus.CANCELLED, why)
            riders_release(notification)
            return None
        if notification.reason != Reason.ESCALATION and notification.contact_method_id is None:
            close(notification, DeliveryStatus.CANCELLED, "the contact method was removed")
            return None
        if why := unavailable(notification.channel, organization_of(notification)):
            close(notification, DeliveryStatus.FAILED, why)
            riders_release(notification)
            return None
        more = ""
        if notification.reason == Reason.ESCALATION:
            address_lock(notification.channel, notification.address)
            allowed = verdict(notification.channel, notification.address, now)
            if allowed.hold:
                _hold(notification, allowed.hold)
                return None
            # Riders carried over from a failed attempt (a first attempt has none).
            riders = riders_of(notification) if notification.attempts else []
            if allowed.last_slot or notification.error.startswith(HELD):
                riders += riders_gather(notification, now, EARLY)
            more = digest_line(notification, riders)
        notification.status = DeliveryStatus.SENDING
        notification.attempts += 1
        notification.updated_at = notification.last_attempt_at = now
        notification.save(update_fields=["status", "attempts", "updated_at", "last_attempt_at"])
        DeliveryAttempt.objects.create(notification=notification, number=notification.attempts)
        return notification, prepare(notification, more)


def _hold(notification: Notification, hold: Hold) -> None:
    """Over a throttle: wait, PENDING, until a slot frees (then carry whatever else is due)."""
    channel = Channel(notification.channel).label
    notification.due_at = hold.until
    notification.error = f"{HELD}{channel} throttle ({hold.layer}) until {hold.until:%H:%M:%S} UTC"
    notification.updated_at = timezone.now()
    notification.save(update_fields=["due_at", "error", "updated_at"])
    riders_release(notification)
    defer_delivery(notification)


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
            close(notification, DeliveryStatus.SENT, "", "sent_at", "provider_message_id")
            riders_settle(notification, DeliveryStatus.SENT)
        elif error.permanent or attempt >= MAX_ATTEMPTS:
            close(notification, DeliveryStatus.FAILED, str(error))
            riders_settle(notification, DeliveryStatus.FAILED, f"digest failed: {error}")
        else:
            # Riders stay with it: the retry carries them (and whatever is due by then).
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
