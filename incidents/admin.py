"""Admin for platform operators: services, and incidents to look at (never to edit).

Incidents change state only through the lifecycle services, so their admin is read-only and
nothing here deletes an incident, its timeline or its alerts.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join

from incidents.maintenance import (
    active_windows,
    maintenance_end,
    maintenance_schedule,
    validate_window,
)
from incidents.models import Alert, Incident, IncidentEvent, MaintenanceWindow, Service

ADMIN_ALERT_LIMIT = 50


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "default_urgency", "is_active", "created_at"]
    list_filter = ["organization", "is_active"]
    list_select_related = ["organization"]
    search_fields = ["name", "description"]
    readonly_fields = ["maintenance_now"]

    @admin.display(description="Maintenance now")
    def maintenance_now(self, obj: Service) -> str:
        """The windows silencing this service now (its own and organization-wide ones)."""
        if obj.pk is None:
            return "-"
        windows = list(active_windows(obj))
        if not windows:
            return "None: alerts page as usual."
        return format_html_join(
            "",
            '<div><a href="{}">#{}</a> {} until {}{}</div>',
            (
                (
                    reverse("admin:incidents_maintenancewindow_change", args=[w.pk]),
                    w.pk,
                    "this service" if w.service_id else "organization-wide",
                    timezone.localtime(w.end).strftime("%Y-%m-%d %H:%M %Z"),
                    f": {w.reason}" if w.reason else "",
                )
                for w in windows
            ),
        )


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class IncidentEventInline(ReadOnlyInline):
    model = IncidentEvent
    fields = ["created_at", "kind", "actor_label", "message", "data"]
    readonly_fields = fields
    ordering = ["created_at", "pk"]
    verbose_name_plural = "timeline"


class LatestAlertsFormSet(BaseInlineFormSet):
    """Only the newest alerts: a noisy incident can have many thousands."""

    def get_queryset(self) -> QuerySet[Alert]:
        # Cached: the formset indexes into it once per form.
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset()[:ADMIN_ALERT_LIMIT]
        return self._latest


class AlertInline(ReadOnlyInline):
    model = Alert
    formset = LatestAlertsFormSet
    fields = ["received_at", "action", "outcome", "integration_kind", "summary", "payload"]
    readonly_fields = fields
    ordering = ["-received_at", "-pk"]
    verbose_name_plural = f"alerts (latest {ADMIN_ALERT_LIMIT})"


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["number", "title", "organization", "service", "status", "urgency", "created_at"]
    list_display_links = ["number", "title"]
    list_filter = ["status", "urgency", "organization"]
    list_select_related = ["organization", "service"]
    search_fields = ["title", "dedup_key"]
    date_hierarchy = "created_at"
    inlines = [IncidentEventInline, AlertInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MaintenanceWindowForm(forms.ModelForm):
    class Meta:
        model = MaintenanceWindow
        fields = ["organization", "service", "start", "end", "reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] > data["start"]:
            validate_window(data["start"], data["end"])
        return data


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    """Windows are created and ended through the services (audited), never edited in place."""

    form = MaintenanceWindowForm
    list_display = ["__str__", "organization", "service", "start", "end", "reason", "created_by"]
    list_filter = ["organization"]
    list_select_related = ["organization", "service", "created_by"]
    search_fields = ["reason", "service__name"]
    date_hierarchy = "start"
    actions = ["end_now"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return ["organization", "service", "start", "end", "reason", "created_by", "created_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # "End now" cancels a window that has not started, with an audit row

    def save_model(
        self, request: HttpRequest, obj: MaintenanceWindow, form: Any, change: bool
    ) -> None:
        if change:
            return
        data = form.cleaned_data
        window = maintenance_schedule(
            organization=data["organization"],
            service=data["service"],
            start=data["start"],
            end=data["end"],
            reason=data["reason"],
            actor=request.user,
        )
        obj.pk = window.pk
        obj.refresh_from_db()

    @admin.action(description="End selected windows now (cancel those not started)")
    def end_now(self, request: HttpRequest, queryset: QuerySet[MaintenanceWindow]) -> None:
        for window in queryset:
            maintenance_end(window=window, actor=request.user)
        self.message_user(request, "Maintenance ended.", messages.SUCCESS)
