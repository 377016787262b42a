"""Reads of the notifications app."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from notifications.models import (
    ContactMethod,
    DeliveryStatus,
    Notification,
    NotificationRequest,
    NotificationRule,
    RequestStatus,
)
from opsknight.models import User


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


def user_contact_methods(*, user: User) -> QuerySet[ContactMethod]:
    """A person's own contact methods, by channel."""
    return ContactMethod.objects.filter(user=user).order_by("channel", "id")


def user_contact_method(*, user: User, method_id: int) -> ContactMethod:
    """One of the person's own methods; Http404 for anyone else's (never reveal it exists)."""
    return get_object_or_404(ContactMethod, pk=method_id, user=user)


def user_notification_rules(*, user: User) -> QuerySet[NotificationRule]:
    """A person's rules for every urgency, in the order they fire."""
    return (
        NotificationRule.objects.filter(user=user)
        .select_related("contact_method")
        .order_by("urgency", "delay_minutes", "id")
    )


HISTORY_SHOWN = 100


def user_notification_history(*, user: User, limit: int = HISTORY_SHOWN) -> list[Notification]:
    """The person's latest deliveries (pages, tests, codes), newest first."""
    return list(
        Notification.objects.filter(user=user)
        .select_related("incident")
        .order_by("-created_at", "-id")[:limit]
    )
