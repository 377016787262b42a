"""An organization's own provider accounts: its Twilio account and numbers, its Slack
workspace's bot token. Without one, the deployment's settings (environment) serve everyone."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsknight import crypto
from opsknight.models import Organization


class ProviderKind(models.TextChoices):
    TWILIO = "twilio", "Twilio (SMS, voice, WhatsApp)"
    SLACK = "slack", "Slack (direct messages and channel posts)"


class ProviderAccount(crypto.EncryptedSecret, models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="provider_accounts"
    )
    kind = models.CharField(max_length=16, choices=ProviderKind.choices)
    account_id = models.CharField(
        max_length=64, blank=True, help_text="Twilio: the Account SID (AC…)."
    )
    sender = models.CharField(
        max_length=32, blank=True, help_text="Twilio: the number pages come from (E.164)."
    )
    whatsapp_sender = models.CharField(
        max_length=32, blank=True, help_text="Twilio: the WhatsApp sender number (E.164)."
    )
    # Fernet token (opsknight.crypto): Twilio's auth token, or Slack's bot token.
    secret_encrypted = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind"], name="provider_account_once_per_kind"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ProviderKind.values), name="provider_account_kind_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["account_id"], condition=~Q(account_id=""), name="provider_account_id"
            )
        ]
        ordering = ["organization", "kind"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.organization}"
