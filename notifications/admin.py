"""Admin for platform operators: people's contact methods and rules, and the delivery history
(read-only: a delivery record is evidence of what was sent, never edited)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone

from notifications.models import (
    ContactMethod,
    DeliveryAttempt,
    Notification,
    NotificationRequest,
    NotificationRule,
    OutboundDelivery,
    OutboundDestination,
    OutboundEvent,
)


class ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ContactMethod)
class ContactMethodAdmin(admin.ModelAdmin):
    list_display = ["user", "channel", "address", "label", "verified_at"]
    list_filter = ["channel"]
    list_select_related = ["user"]
    search_fields = ["user__email", "address", "label"]
    autocomplete_fields = ["user"]


class NotificationRuleForm(forms.ModelForm):
    class Meta:
        model = NotificationRule
        fields = ["user", "urgency", "delay_minutes", "contact_method"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user, method = cleaned.get("user"), cleaned.get("contact_method")
        if user is not None and method is not None and method.user_id != user.pk:
            self.add_error("contact_method", "Choose one of this person's own contact methods.")
        return cleaned


@admin.register(NotificationRule)
class NotificationRuleAdmin(admin.ModelAdmin):
    form = NotificationRuleForm
    list_display = ["user", "urgency", "delay_minutes", "contact_method"]
    list_filter = ["urgency"]
    list_select_related = ["user", "contact_method"]
    search_fields = ["user__email"]
    autocomplete_fields = ["user"]


class AttemptInline(ReadOnly, admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    fields = ["number", "started_at", "finished_at", "outcome", "provider_message_id", "error"]
    readonly_fields = fields


@admin.register(Notification)
class NotificationAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["incident", "user", "channel", "address", "status", "attempts", "due_at"]
    list_filter = ["status", "channel"]
    list_select_related = ["incident", "user"]
    search_fields = ["user__email", "address", "incident__title"]
    inlines = [AttemptInline]


@admin.register(NotificationRequest)
class NotificationRequestAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["incident", "user", "reason", "level", "status", "created_at"]
    list_filter = ["status", "reason"]
    list_select_related = ["incident", "user"]
    search_fields = ["user__email", "incident__title"]


class OutboundDestinationForm(forms.ModelForm):
    """Secrets are write-only: a new value replaces the stored one, which is never shown."""

    new_secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        label="New secret",
        help_text=(
            "Generic webhook: the signing secret. Telegram: the bot token. Teams, Discord, "
            "Google Chat: the webhook URL (it is a credential). Leave blank to keep the stored "
            "one."
        ),
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the stored secret")
    url = forms.URLField(
        required=False,
        max_length=2000,
        assume_scheme="https",
        help_text="Generic webhook only: where the JSON is posted (https).",
    )
    events = forms.MultipleChoiceField(
        choices=OutboundEvent.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = OutboundDestination
        fields = [
            "organization",
            "name",
            "kind",
            "url",
            "channel_id",
            "services",
            "events",
            "enabled",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        organization, services = cleaned.get("organization"), cleaned.get("services")
        if organization is not None and any(
            service.organization_id != organization.pk for service in services or ()
        ):
            self.add_error("services", "Choose services of this destination's organization.")
        # Set before the model's own validation (_post_clean) so clean() sees the secret.
        if cleaned.get("new_secret"):
            self.instance.set_secret(cleaned["new_secret"])
        elif cleaned.get("clear_secret"):
            self.instance.set_secret("")
        return cleaned

    def _update_errors(self, errors: ValidationError) -> None:
        # The model reports secret problems on its stored field, which this form has not:
        # show them by the input instead.
        if hasattr(errors, "error_dict") and "secret_encrypted" in errors.error_dict:
            errors.error_dict["new_secret"] = errors.error_dict.pop("secret_encrypted")
        super()._update_errors(errors)


@admin.register(OutboundDestination)
class OutboundDestinationAdmin(admin.ModelAdmin):
    form = OutboundDestinationForm
    list_display = ["name", "organization", "kind", "enabled", "secret_set"]
    list_filter = ["kind", "enabled"]
    list_select_related = ["organization"]
    search_fields = ["name", "organization__name"]
    autocomplete_fields = ["organization"]
    filter_horizontal = ["services"]
    readonly_fields = ["secret_set"]
    fields = [
        "organization",
        "name",
        "kind",
        "url",
        "channel_id",
        "secret_set",
        "new_secret",
        "clear_secret",
        "services",
        "events",
        "enabled",
    ]

    @admin.display(boolean=True, description="Secret set")
    def secret_set(self, obj: OutboundDestination) -> bool:
        return obj.has_secret

    def save_model(
        self, request: HttpRequest, obj: OutboundDestination, form: Any, change: bool
    ) -> None:
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(OutboundDelivery)
class OutboundDeliveryAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["destination", "event", "incident", "status", "attempts", "due_at"]
    list_filter = ["status", "event", "destination__kind"]
    list_select_related = ["destination", "incident"]
    search_fields = ["destination__name", "incident__title"]
    readonly_fields = [
        "destination",
        "incident",
        "event",
        "occurred_at",
        "incident_snapshot",
        "status",
        "attempts",
        "last_error",
        "response_status_code",
        "due_at",
        "sent_at",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields


from notifications import admin_accounts  # noqa: E402, F401  (registers provider accounts)
