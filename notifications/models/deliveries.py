"""Delivery records: one row per person, channel and reason, and every attempt at it.

The row is written, with its intent, before anything leaves: a worker that dies between the
provider's answer and recording it leaves the row SENDING, and the next run of the job does not
send again (it cannot know whether the first one went out), so nobody gets the same page twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents.models import Incident
from notifications.models.contacts import ContactMethod
from notifications.models.requests import Channel, NotificationRequest, Reason


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its time (or its next retry)
    SENDING = "sending", "Sending"  # handed to the provider; outcome not recorded yet
    SENT = "sent", "Sent"  # the provider accepted it
    DELIVERED = "delivered", "Delivered"  # the provider confirmed delivery
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"  # acknowledged or resolved before its time


FINISHED = (
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.FAILED,
    DeliveryStatus.CANCELLED,
)


class Notification(models.Model):
    """One message to one address for one reason. Pages have a request and an incident; a
    test message or a verification code has neither."""

    request = models.ForeignKey(
        NotificationRequest,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    incident = models.ForeignKey(
        Incident,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
    )
    reason = models.CharField(max_length=16, choices=Reason.choices, default=Reason.ESCALATION)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    contact_method = models.ForeignKey(
        ContactMethod, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    address = models.CharField(max_length=512, help_text="Where it went, as it was then.")
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    due_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_message_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    ack_link_used_at = models.DateTimeField(
        null=True, blank=True, help_text="Its one-click acknowledge link was used (once only)."
    )
    # When it was last handed to a provider: the throttles count these per address.
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # Held back by a throttle, then told inside another delivery's digest message.
    carried_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="carried"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["request", "channel", "address"], name="notification_once_per_address"
            ),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="notification_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["incident", "created_at"]),
            # Delivery receipts name the provider's message id.
            models.Index(
                fields=["provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="notification_provider_id",
            ),
            models.Index(fields=["user", "-created_at"]),
            models.Index(
                fields=["channel", "address", "last_attempt_at"],
                condition=Q(last_attempt_at__isnull=False),
                name="notification_recent_sends",
            ),
            models.Index(
                fields=["channel", "address", "due_at"],
                condition=Q(status="pending"),
                name="notification_pending_address",
            ),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.channel} to {self.address}: {self.status}"


class DeliveryAttempt(models.Model):
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=12, blank=True, help_text="sent, failed, unknown")
    provider_message_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "number"], name="delivery_attempt_number_unique"
            )
        ]
        ordering = ["notification", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.outcome or 'running'}"
