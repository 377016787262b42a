"""Reads of the notifications app."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from notifications.models import NotificationRequest, RequestStatus


def incident_notification_requests(*, incident_id: int) -> QuerySet[NotificationRequest]:
    return NotificationRequest.objects.filter(incident_id=incident_id).select_related("user")


def undelivered_requests(*, older_than: datetime) -> QuerySet[NotificationRequest]:
    """Requests no delivery has taken up since `older_than`: the escalation auditor's concern."""
    return NotificationRequest.objects.filter(
        status=RequestStatus.PENDING, created_at__lt=older_than
    )
