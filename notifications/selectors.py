"""Reads of the notifications app."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from notifications.models import DeliveryStatus, Notification, NotificationRequest, RequestStatus


def incident_notification_requests(*, incident_id: int) -> QuerySet[NotificationRequest]:
    return NotificationRequest.objects.filter(incident_id=incident_id).select_related("user")


def undelivered_requests(*, older_than: datetime) -> QuerySet[NotificationRequest]:
    """Requests no delivery has taken up since `older_than`: the escalation auditor's concern."""
    return NotificationRequest.objects.filter(
        status=RequestStatus.PENDING, created_at__lt=older_than
    )


def overdue_deliveries(*, due_before: datetime) -> QuerySet[Notification]:
    return Notification.objects.filter(status=DeliveryStatus.PENDING, due_at__lt=due_before)


def incident_notifications(*, incident_id: int) -> QuerySet[Notification]:
    """The notification history of an incident: every delivery and its attempts."""
    return (
        Notification.objects.filter(incident_id=incident_id)
        .select_related("user", "request")
        .prefetch_related("attempt_log")
        .order_by("created_at", "id")
    )
