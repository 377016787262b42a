"""What the notifications app is asked to deliver.

The escalation engine hands over one NotificationRequest per person per escalation step
("notify user U about incident I at level N"). Delivery itself (contact methods, personal
rules, providers, retries, delivery records) is the notifications issue's work; it consumes
these rows. Until then a request is the durable intent: it exists exactly once per person and
step, written in the same transaction as the step's timeline row.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from incidents.models import Incident
from opsknight.models import Organization


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    VOICE = "voice", "Voice call"
    WHATSAPP = "whatsapp", "WhatsApp"
    PUSH = "push", "Web push"
    SLACK = "slack", "Slack"


class Reason(models.TextChoices):
    ESCALATION = "escalation", "Escalation step"
    TEST = "test", "Test message"  # "send me a test" on a contact method
    VERIFICATION = "verification", "Verification code"
    ACKNOWLEDGEMENT = "acknowledged", "Acknowledged (status update)"
    RESOLUTION = "resolved", "Resolved (status update)"


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # not yet taken up by a delivery
    DELIVERING = "delivering", "Delivering"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"  # acknowledged before anything went out


class NotificationRequest(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="notification_requests", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_requests"
    )
    reason = models.CharField(max_length=16, choices=Reason.choices)
    level = models.PositiveSmallIntegerField(help_text="Escalation level (1-based).")
    channels = ArrayField(
        models.CharField(max_length=16, choices=Channel.choices),
        default=list,
        blank=True,
        help_text="Only these channels (the step's override); empty: the person's own rules.",
    )
    # Who asked, as a key unique per incident and person: an escalation step writes
    # "escalation:<generation>:<tick>", so a step that runs twice cannot page anyone twice.
    request_key = models.CharField(max_length=100)
    status = models.CharField(
        max_length=12, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "request_key", "user"], name="notification_request_once"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=RequestStatus.values),
                name="notification_request_status_valid",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(status="pending"),
                name="notification_request_pending",
            )
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.reason} level {self.level} → user {self.user_id} (#{self.incident_id})"
