"""Admin for organizations' own provider accounts. Secrets are write-only: a new value
replaces the stored (encrypted) one, which is never shown again."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone

from notifications.contacts import normalize_address
from notifications.models import Channel, ProviderAccount, ProviderKind


def _e164(value: str, field: str) -> str:
    if not value:
        return value
    try:
        return normalize_address(Channel.SMS, value)
    except ValidationError as exc:
        raise forms.ValidationError({field: exc.messages}) from exc


class ProviderAccountForm(forms.ModelForm):
    new_secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        label="New secret",
        help_text="Twilio: the auth token. Slack: the bot token (xoxb-…). "
        "Leave blank to keep the stored one.",
    )

    class Meta:
        model = ProviderAccount
        fields = ["organization", "kind", "account_id", "sender", "whatsapp_sender", "enabled"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind, secret = cleaned.get("kind"), cleaned.get("new_secret", "")
        has_secret = bool(secret) or self.instance.has_secret
        if kind == ProviderKind.TWILIO:
            sid = cleaned.get("account_id", "")
            if not (sid.startswith("AC") and len(sid) == 34):
                self.add_error("account_id", "A Twilio Account SID: AC followed by 32 characters.")
            if not cleaned.get("sender"):
                self.add_error("sender", "The number Twilio sends pages from.")
            for field in ("sender", "whatsapp_sender"):
                try:
                    cleaned[field] = _e164(cleaned.get(field, ""), field)
                except forms.ValidationError as exc:
                    self.add_error(None, exc)
        if kind == ProviderKind.SLACK and secret and not secret.startswith("xoxb-"):
            self.add_error("new_secret", "A Slack bot token starts with xoxb-.")
        if not has_secret:
            self.add_error("new_secret", "The account's secret is required.")
        if secret:
            self.instance.set_secret(secret)
        return cleaned


@admin.register(ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    form = ProviderAccountForm
    list_display = ["organization", "kind", "account_id", "sender", "enabled", "secret_set"]
    list_filter = ["kind", "enabled"]
    list_select_related = ["organization"]
    search_fields = ["organization__name", "account_id"]
    autocomplete_fields = ["organization"]
    readonly_fields = ["secret_set"]
    fields = [
        "organization",
        "kind",
        "account_id",
        "sender",
        "whatsapp_sender",
        "secret_set",
        "new_secret",
        "enabled",
    ]

    @admin.display(boolean=True, description="Secret set")
    def secret_set(self, obj: ProviderAccount) -> bool:
        return obj.has_secret

    def save_model(self, request: HttpRequest, obj: ProviderAccount, form: Any, change: bool):
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)
