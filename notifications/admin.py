"""Admin for platform operators: people's contact methods and rules, and the delivery history
(read-only: a delivery record is evidence of what was sent, never edited)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from notifications.models import (
    ContactMethod,
    DeliveryAttempt,
    Notification,
    NotificationRequest,
    NotificationRule,
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
