"""How a person can be reached, and in what order when paged (PagerDuty-style personal rules)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents.models import Urgency
from notifications.models.requests import Channel


class ContactMethod(models.Model):
    """An address on one channel: an email, an E.164 number, a Slack user id, a push endpoint.

    Only verified methods are paged; a person's login email counts as verified (they proved
    it by signing in), so everyone can be reached by email from the start.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    address = models.CharField(max_length=512)
    label = models.CharField(max_length=100, blank=True)
    # Web push: the subscription's keys {"p256dh": ..., "auth": ...}; the address is its endpoint.
    keys = models.JSONField(default=dict, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    status_updates = models.BooleanField(
        default=False,
        help_text="Also tell this address when an incident it was paged about is "
        "acknowledged or resolved by someone else.",
    )
    # The code we sent is derived from this nonce and the secret key (see verification.py),
    # so no code is stored; a new code replaces the nonce.
    verification_nonce = models.CharField(max_length=32, blank=True)
    verification_sent_at = models.DateTimeField(null=True, blank=True)
    verification_failures = models.PositiveSmallIntegerField(default=0)
    opted_out_at = models.DateTimeField(
        null=True, blank=True, help_text="The person texted STOP: no SMS until they text START."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "channel", "address"], name="contact_method_unique"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="contact_method_channel_valid"
            ),
        ]
        ordering = ["user", "channel", "id"]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.address}"


class NotificationRule(models.Model):
    """ "When I am paged about an incident of this urgency, after N minutes, use this method."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_rules"
    )
    urgency = models.CharField(max_length=8, choices=Urgency.choices)
    delay_minutes = models.PositiveIntegerField(default=0)
    contact_method = models.ForeignKey(
        ContactMethod, on_delete=models.CASCADE, related_name="rules"
    )

    class Meta:
        ordering = ["user", "urgency", "delay_minutes", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "urgency", "delay_minutes", "contact_method"],
                name="notification_rule_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.urgency}: {self.contact_method} after {self.delay_minutes} min"
