"""Integrations in the admin: create (the key is shown once), rotate, enable and disable."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.models import Integration
from integrations.services import (
    integration_create,
    integration_rotate_key,
    integration_set_enabled,
    integration_set_signing_secret,
)


class IntegrationAddForm(forms.ModelForm):
    signing_secret = forms.CharField(
        required=False, widget=forms.PasswordInput, help_text="Optional HMAC signing secret."
    )

    class Meta:
        model = Integration
        fields = ["service", "kind", "name", "rate_limit_per_minute", "options"]


class IntegrationChangeForm(forms.ModelForm):
    signing_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        help_text="Type a new secret to replace it; leave blank to keep the current one.",
    )
    clear_signing_secret = forms.BooleanField(required=False)

    class Meta:
        model = Integration
        fields = ["name", "enabled", "rate_limit_per_minute", "options"]


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "service",
        "organization",
        "key_prefix",
        "enabled",
        "rate_limit_per_minute",
    ]
    list_filter = ["kind", "enabled", "organization"]
    search_fields = ["name", "key_prefix", "service__name"]
    actions = ["rotate_keys", "disable", "enable"]

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        kwargs["form"] = IntegrationAddForm if obj is None else IntegrationChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return ["service", "kind", "organization", "key_prefix", "created_by", "created_at"]

    def save_model(self, request: HttpRequest, obj: Integration, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            issued = integration_create(
                service=data["service"],
                kind=data["kind"],
                name=data["name"],
                created_by=request.user,
                rate_limit_per_minute=data["rate_limit_per_minute"],
                signing_secret=data.get("signing_secret", ""),
                options=data.get("options") or {},
            )
            obj.pk = issued.integration.pk
            obj.refresh_from_db()
            self.message_user(
                request,
                f"Integration created. Its routing key: {issued.key} "
                "(also printed by `manage.py integration_key`).",
                messages.WARNING,
            )
            return
        enabled_changed = "enabled" in form.changed_data
        wanted = obj.enabled
        if enabled_changed:
            obj.enabled = not wanted  # the service makes (and audits) the change
        super().save_model(request, obj, form, change)
        if enabled_changed:
            integration_set_enabled(integration=obj, enabled=wanted, actor=request.user)
        if data.get("clear_signing_secret"):
            integration_set_signing_secret(integration=obj, secret="", actor=request.user)
        elif data.get("signing_secret"):
            integration_set_signing_secret(
                integration=obj, secret=data["signing_secret"], actor=request.user
            )

    @admin.action(description="Rotate the routing keys (the old ones stop working)")
    def rotate_keys(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        for integration in queryset:
            key = integration_rotate_key(integration=integration, actor=request.user)
            self.message_user(
                request, f"{integration.name}: new routing key {key}", messages.WARNING
            )

    @admin.action(description="Disable selected integrations")
    def disable(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        for integration in queryset:
            integration_set_enabled(integration=integration, enabled=False, actor=request.user)

    @admin.action(description="Enable selected integrations")
    def enable(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        for integration in queryset:
            integration_set_enabled(integration=integration, enabled=True, actor=request.user)
