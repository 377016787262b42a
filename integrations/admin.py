"""Integrations and heartbeats in the admin: create (the key is shown once), rotate, enable and
disable, all through the audited services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from incidents.models import Service
from integrations.console import dry_run, sample_payload
from integrations.heartbeats import (
    heartbeat_create,
    heartbeat_rotate_key,
    heartbeat_set_enabled,
    heartbeat_update,
    ping_url,
)
from integrations.models import Heartbeat, Integration, IntegrationRule
from integrations.services import (
    integration_create,
    integration_rotate_key,
    integration_set_enabled,
    integration_set_signing_secret,
)
from opsknight.services import audit_record


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


class IntegrationRuleInline(admin.StackedInline):
    """Routing and grouping rules, edited on their integration; checked by the model's clean()."""

    model = IntegrationRule
    extra = 0
    fields = [
        "position",
        "name",
        "enabled",
        "conditions",
        "action",
        "target_service",
        "urgency",
        "severity",
        "dedup_key_template",
        "continue_matching",
    ]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "target_service":
            # Offer the integration's organization's active services only (clean() enforces it).
            match = request.resolver_match
            integration_id = str(match.kwargs.get("object_id", "")) if match else ""
            organization = Integration.objects.filter(
                pk=int(integration_id) if integration_id.isdigit() else None
            ).values("organization_id")
            kwargs["queryset"] = Service.objects.filter(
                organization_id__in=organization, is_active=True
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


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
    inlines = [IntegrationRuleInline]

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[Any]:
        # Rules are checked against the integration's organization: add them once it exists.
        # A change posted without the rules' formset (a script, not this page) leaves them alone.
        if obj is None or (request.method == "POST" and "rules-TOTAL_FORMS" not in request.POST):
            return []
        return list(self.inlines)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Rules decide where alerts go and which are dropped: every change is audited."""
        super().save_formset(request, form, formset, change)
        if formset.model is IntegrationRule and formset.has_changed():
            integration = form.instance
            audit_record(
                action="integration.rules_changed",
                organization=integration.organization,
                actor=request.user,
                target=integration,
                data={
                    "added": [rule.pk for rule in formset.new_objects],
                    "changed": [rule.pk for rule, _ in formset.changed_objects],
                    "deleted": len(formset.deleted_objects),
                    "rules": list(
                        integration.rules.order_by("position", "id").values(
                            "id", "name", "enabled", "action", "conditions"
                        )
                    ),
                },
            )

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        kwargs["form"] = IntegrationAddForm if obj is None else IntegrationChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return [
            "service",
            "kind",
            "organization",
            "key_prefix",
            "created_by",
            "created_at",
            "test_console",
        ]

    @admin.display(description="Test console")
    def test_console(self, obj: Integration) -> str:
        url = reverse("admin:integrations_integration_console", args=[obj.pk])
        return format_html('<a href="{}">Try a payload without creating an incident</a>', url)

    def get_urls(self) -> list[Any]:
        console = path(
            "<int:integration_id>/test-console/",
            self.admin_site.admin_view(self.console_view),
            name="integrations_integration_console",
        )
        return [console, *super().get_urls()]

    def console_view(self, request: HttpRequest, integration_id: int) -> HttpResponse:
        """Paste a payload, see its events and where they would go; nothing is written."""
        integration = get_object_or_404(
            Integration.objects.select_related("service"), pk=integration_id
        )
        raw = request.POST.get("payload", "") if request.method == "POST" else ""
        context = {
            **self.admin_site.each_context(request),
            "title": f"Test console: {integration.name}",
            "integration": integration,
            "opts": self.model._meta,
            "payload": raw or sample_payload(integration),
            "result": dry_run(integration, raw) if request.method == "POST" else None,
        }
        return TemplateResponse(
            request, "admin/integrations/integration/test_console.html", context
        )

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


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "service",
        "organization",
        "state",
        "last_ping_at",
        "deadline_at",
        "interval_minutes",
        "enabled",
    ]
    list_filter = ["state", "enabled", "organization"]
    list_select_related = ["service", "organization"]
    search_fields = ["name", "key_prefix", "service__name"]
    actions = ["rotate_keys", "disable", "enable"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["service", "name", "interval_minutes", "grace_minutes"]
        return [
            "name",
            "enabled",
            "interval_minutes",
            "grace_minutes",
            *self.get_readonly_fields(request, obj),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return [
            "service",
            "organization",
            "key_prefix",
            "state",
            "last_ping_at",
            "deadline_at",
            "created_by",
            "created_at",
        ]

    def save_model(self, request: HttpRequest, obj: Heartbeat, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            issued = heartbeat_create(
                service=data["service"],
                name=data["name"],
                interval_minutes=data["interval_minutes"],
                grace_minutes=data["grace_minutes"],
                created_by=request.user,
            )
            obj.pk = issued.heartbeat.pk
            obj.refresh_from_db()
            self.message_user(
                request,
                f"Heartbeat created. Its ping URL (GET or POST), shown only now: "
                f"{ping_url(issued.key)}",
                messages.WARNING,
            )
            return
        if {"name", "interval_minutes", "grace_minutes"} & set(form.changed_data):
            heartbeat_update(
                heartbeat=obj,
                name=data["name"],
                interval_minutes=data["interval_minutes"],
                grace_minutes=data["grace_minutes"],
                actor=request.user,
            )
        if "enabled" in form.changed_data:
            heartbeat_set_enabled(heartbeat=obj, enabled=data["enabled"], actor=request.user)
        obj.refresh_from_db()

    @admin.action(description="Rotate the ping URLs (the old ones stop working)")
    def rotate_keys(self, request: HttpRequest, queryset: QuerySet[Heartbeat]) -> None:
        for heartbeat in queryset:
            key = heartbeat_rotate_key(heartbeat=heartbeat, actor=request.user)
            self.message_user(
                request, f"{heartbeat.name}: new ping URL {ping_url(key)}", messages.WARNING
            )

    @admin.action(description="Disable selected heartbeats")
    def disable(self, request: HttpRequest, queryset: QuerySet[Heartbeat]) -> None:
        for heartbeat in queryset:
            heartbeat_set_enabled(heartbeat=heartbeat, enabled=False, actor=request.user)

    @admin.action(description="Enable selected heartbeats")
    def enable(self, request: HttpRequest, queryset: QuerySet[Heartbeat]) -> None:
        for heartbeat in queryset:
            heartbeat_set_enabled(heartbeat=heartbeat, enabled=True, actor=request.user)
