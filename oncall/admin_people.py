"""Admin for what people do around schedules: calendar feeds, shift swaps, hand-off notices.

Registered in `oncall.admin`. A feed's secret URL is shown once, when it is created; only its
hash is stored and it is never shown. Swaps and hand-off notices are written by the services
and the periodic job as things happen, so here they are only looked at.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from oncall.admin_forms import CalendarFeedAddForm
from oncall.models import CalendarFeed
from oncall.services import calendar_feed_create, calendar_feed_revoke


class CalendarFeedAdmin(admin.ModelAdmin):
    """Creating a feed shows its secret URL once; only a hash is stored, and never shown."""

    list_display = [
        "prefix",
        "organization",
        "schedule",
        "user",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["organization"]
    list_select_related = ["organization", "schedule", "user", "created_by"]
    search_fields = ["prefix", "schedule__name", "user__email"]
    actions = ["revoke"]
    autocomplete_fields = ["schedule", "user"]
    readonly_fields = list_display

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = CalendarFeedAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.list_display if obj is not None else ["organization", "schedule", "user"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.readonly_fields if obj is not None else []

    def save_model(self, request: HttpRequest, obj: CalendarFeed, form: Any, change: bool) -> None:
        if change:
            return  # a feed never changes; revoke it and create another
        issued = calendar_feed_create(
            organization=form.cleaned_data["organization"],
            schedule=form.cleaned_data.get("schedule"),
            user=form.cleaned_data.get("user"),
            created_by=request.user,
        )
        obj.pk = issued.feed.pk
        obj.refresh_from_db()
        url = request.build_absolute_uri(
            reverse("oncall:calendar-feed", kwargs={"token": issued.token})
        )
        self.message_user(
            request,
            f"Calendar feed created. Copy the URL now, it will not be shown again: {url}",
            messages.WARNING,
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke selected calendar feeds (their URLs stop working)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[CalendarFeed]) -> None:
        for feed in queryset.select_related("organization"):
            calendar_feed_revoke(feed=feed, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} calendar feed(s).")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the services write as things happen: to look at, never to edit."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ShiftSwapAdmin(ReadOnlyAdmin):
    list_display = ["schedule", "requester", "start", "end", "status", "taken_by", "created_at"]
    list_filter = ["status", "schedule__organization"]
    list_select_related = ["schedule", "requester", "taken_by"]
    search_fields = ["schedule__name", "requester__email", "taken_by__email"]
    date_hierarchy = "start"


class HandoffNoticeAdmin(ReadOnlyAdmin):
    list_display = ["schedule", "user", "kind", "shift_start", "shift_end", "delivered_at"]
    list_filter = ["kind", "schedule__organization"]
    list_select_related = ["schedule", "user"]
    search_fields = ["schedule__name", "user__email"]
    date_hierarchy = "shift_start"
