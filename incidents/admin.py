"""Admin for platform operators: services, and incidents to look at (never to edit).

Incidents change state only through the lifecycle services, so their admin is read-only and
nothing here deletes an incident, its timeline or its alerts.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from incidents.models import Alert, Incident, IncidentEvent, Service

ADMIN_ALERT_LIMIT = 50


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "default_urgency", "is_active", "created_at"]
    list_filter = ["organization", "is_active"]
    list_select_related = ["organization"]
    search_fields = ["name", "description"]


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
