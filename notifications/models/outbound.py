"""Outbound destinations (chat channels and webhooks told about incident events) and one
delivery record per destination and incident event.

Secrets are encrypted at rest (opsknight.crypto) because we must read them back to send: the
generic webhook's signing secret, Telegram's bot token, and for Teams, Discord and Google Chat
the webhook URL itself, since whoever holds one of those URLs can post to the channel.
"""

from __future__ import annotations

import re

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents.models import Incident, IncidentEvent, Service
from notifications.outbound import guard
from opsknight import crypto
from opsknight.models import Organization


class OutboundKind(models.TextChoices):
    SLACK = "slack", "Slack channel"
    TEAMS = "teams", "Microsoft Teams"
    GOOGLE_CHAT = "google_chat", "Google Chat"
    DISCORD = "discord", "Discord"
    TELEGRAM = "telegram", "Telegram"
    WEBHOOK = "webhook", "Generic JSON webhook"


class OutboundEvent(models.TextChoices):
    """The incident lifecycle events a destination can be told about (incidents/events.py)."""

    TRIGGERED = "triggered", "Triggered"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    UNACKNOWLEDGED = "unacknowledged", "Unacknowledged"
    ESCALATED = "escalated", "Escalated by hand"
    RESOLVED = "resolved", "Resolved"
    REOPENED = "reopened", "Reopened"


# Whose secret is the webhook URL (it embeds the credential), not a separate value.
URL_IS_SECRET = (OutboundKind.TEAMS, OutboundKind.GOOGLE_CHAT, OutboundKind.DISCORD)
SECRET_LABELS = {
    OutboundKind.SLACK: "",
    OutboundKind.TEAMS: "webhook URL",
    OutboundKind.GOOGLE_CHAT: "webhook URL",
    OutboundKind.DISCORD: "webhook URL",
    OutboundKind.TELEGRAM: "bot token",
    OutboundKind.WEBHOOK: "signing secret",
}
# Which kinds take a channel id, in what form, and what to say when it is not that.
_CHANNEL_IDS = {
    OutboundKind.SLACK: (
        re.compile(r"[A-Z0-9]{8,}"),
        "A Slack channel id, like C0123ABCD (not its #name).",
    ),
    OutboundKind.TELEGRAM: (
        re.compile(r"-?\d+|@[A-Za-z][A-Za-z0-9_]{4,31}"),
        "A numeric chat id (-100…) or a @channelusername.",
    ),
}
# The field that validation errors about the secret are reported on.
STORED_SECRET = "secret_encrypted"  # noqa: S105 - a field name, not a password


def default_events() -> list[str]:
    return [OutboundEvent.TRIGGERED, OutboundEvent.ACKNOWLEDGED, OutboundEvent.RESOLVED]


class OutboundDestination(crypto.EncryptedSecret, models.Model):
    """Where an organization's incident events are posted: a channel or a webhook."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="outbound_destinations"
    )
    name = models.CharField(max_length=150)
    kind = models.CharField(max_length=16, choices=OutboundKind.choices)
    url = models.URLField(
        max_length=2000, blank=True, help_text="Generic webhook only: where the JSON is posted."
    )
    channel_id = models.CharField(
        max_length=128, blank=True, help_text="Slack channel id (C0123ABCD) or Telegram chat id."
    )
    # Fernet token (opsknight.crypto); what it holds depends on the kind (SECRET_LABELS).
    secret_encrypted = models.TextField(blank=True)
    services = models.ManyToManyField(
        Service,
        blank=True,
        related_name="+",
        help_text="Only incidents of these services; none chosen: every service.",
    )
    events = ArrayField(
        models.CharField(max_length=16, choices=OutboundEvent.choices), default=default_events
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="outbound_destination_name_unique"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=OutboundKind.values), name="outbound_destination_kind_valid"
            ),
        ]
        ordering = ["organization", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self) -> None:
        try:
            secret = self.secret()
        except crypto.DecryptionError as exc:
            raise ValidationError({STORED_SECRET: str(exc)}) from exc
        errors = {
            **self._channel_errors(),
            **self._url_errors(),
            **self._secret_errors(secret),
        }
        if not self.events:
            errors["events"] = "Choose at least one event."
        if errors:
            raise ValidationError(errors)

    def _channel_errors(self) -> dict[str, str]:
        pattern, hint = _CHANNEL_IDS.get(self.kind, (None, ""))
        if pattern is None:
            if self.channel_id:
                return {"channel_id": "Only Slack and Telegram destinations have a channel id."}
            return {}
        if not self.channel_id:
            return {"channel_id": "Required for this kind."}
        if not pattern.fullmatch(self.channel_id):
            return {"channel_id": hint}
        return {}

    def _url_errors(self) -> dict[str, str]:
        if self.kind != OutboundKind.WEBHOOK:
            if self.url:
                return {
                    "url": "Only the generic webhook has a URL here; the webhook URL of this "
                    "kind holds a credential, so it goes in the secret."
                }
            return {}
        if not self.url:
            return {"url": "Required for a generic webhook."}
        why = guard.check(self.url)
        return {"url": why} if why else {}

    def _secret_errors(self, secret: str) -> dict[str, str]:
        if self.kind == OutboundKind.SLACK:
            if secret:
                return {STORED_SECRET: "Slack posts use the instance's bot token: no secret."}
            return {}
        if not secret:
            return {STORED_SECRET: f"A {SECRET_LABELS.get(self.kind, 'secret')} is required."}
        if self.kind in URL_IS_SECRET and (why := guard.check(secret)):
            return {STORED_SECRET: f"Webhook URL: {why}"}
        return {}


class OutboundStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its time (or its next retry)
    SENDING = "sending", "Sending"  # posted; outcome not recorded yet
    SENT = "sent", "Sent"  # the destination answered 2xx
    FAILED = "failed", "Failed"


class OutboundDelivery(models.Model):
    """One post of one incident event to one destination, and how it went.

    The incident as it was when the event happened is kept with the row, so a retry sends the
    very same message, and a "triggered" post that goes out after an acknowledgement still
    says "triggered".
    """

    destination = models.ForeignKey(
        OutboundDestination,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,  # the unique constraint's index starts with it
    )
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # The timeline row of the event: what makes "this event, to this destination" unique,
    # since one incident can be acknowledged, unacknowledged and acknowledged again.
    timeline_event = models.ForeignKey(IncidentEvent, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=16, choices=OutboundEvent.choices)
    occurred_at = models.DateTimeField()
    incident_snapshot = models.JSONField(default=dict)
    status = models.CharField(
        max_length=12, choices=OutboundStatus.choices, default=OutboundStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    response_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    due_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["destination", "timeline_event"], name="outbound_delivery_once"
            ),
            models.CheckConstraint(
                condition=Q(status__in=OutboundStatus.values), name="outbound_delivery_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["incident", "created_at"], name="outbound_delivery_incident"),
            # The auditor looks for open rows long past due (their job lost).
            models.Index(
                fields=["due_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="outbound_delivery_open",
            ),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.event} #{self.incident_snapshot.get('number', '?')} → {self.destination_id}"
