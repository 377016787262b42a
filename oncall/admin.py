"""The admin is where operators configure on-call: teams, schedules, layers, overrides, feeds.

Django's admin does not nest inlines. A schedule's page edits its layers' core fields and its
overrides, and shows the computed final schedule for 14 days; each layer links to its own page,
which edits the rotation's people (ordered by position) and its restrictions. Overrides,
participants and calendar feeds are written by the services (audit, schedule lock); the other
changes are audited here, as the other admins do. Times on a schedule's or a layer's page are
typed and shown in the schedule's zone, the zone its hand-offs are defined in.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from oncall.admin_forms import (
    CurrentOverrideFormSet,
    LayerForm,
    NewOverrideForm,
    NewOverrideFormSet,
    OnCallModelForm,
    ParticipantFormSet,
    RestrictionForm,
    ScheduleForm,
)
from oncall.admin_people import CalendarFeedAdmin, HandoffNoticeAdmin, ShiftSwapAdmin
from oncall.admin_preview import restriction_text, schedule_preview
from oncall.models import (
    CalendarFeed,
    HandoffNotice,
    Layer,
    LayerParticipant,
    LayerRestriction,
    LayerSource,
    Override,
    RotationType,
    Schedule,
    ShiftSwap,
    Team,
    TeamMembership,
)
from oncall.services import layer_set_participants, override_create, override_delete
from opsknight.services import audit_record


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name"]
    inlines = [TeamMembershipInline]


class ScheduleTimeZoneMixin(admin.ModelAdmin):
    """Reads and shows the page's times in the schedule's zone instead of the server's.

    A 09:00 Berlin hand-off is typed and read as 09:00 by an operator anywhere. The template is
    rendered inside the override, as it formats the datetimes it is given.
    """

    def schedule_time_zone(self, request: HttpRequest, object_id: str | None) -> str:
        raise NotImplementedError

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        time_zone = self.schedule_time_zone(request, object_id)
        extra_context = {**(extra_context or {}), "schedule_time_zone": time_zone}
        with timezone.override(time_zone):
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if isinstance(response, TemplateResponse):
                response.render()
        return response


def _zone_of(schedule_id: Any) -> str:
    try:
        found = Schedule.objects.filter(pk=schedule_id).values_list("time_zone", flat=True)
        return found.first() or "UTC"
    except (ValueError, TypeError):
        return "UTC"


# --- schedules ------------------------------------------------------------------------------


class LayerInline(admin.TabularInline):
    """A layer's core fields; its people and restrictions are on the layer's own page."""

    model = Layer
    form = OnCallModelForm
    fields = ["name", "priority", "start", "end", "handoff_time", "rotation", "people", "windows"]
    readonly_fields = ["rotation", "people", "windows"]
    show_change_link = True
    extra = 0
    verbose_name_plural = "layers (open one to edit its people and restrictions)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Layer]:
        return super().get_queryset(request).prefetch_related("participants__user", "restrictions")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a rotation starts with its people: "Add layer" opens the layer page

    @admin.display(description="turns")
    def rotation(self, layer: Layer) -> str:
        if layer.source == LayerSource.ICAL:
            return "Imported calendar"
        if layer.rotation_type != RotationType.CUSTOM:
            return layer.get_rotation_type_display()
        return f"Every {layer.rotation_length} {layer.get_rotation_unit_display().lower()}"

    @admin.display(description="people, in order")
    def people(self, layer: Layer) -> str:
        return ", ".join(str(place.user) for place in layer.participants.all()) or "nobody"

    @admin.display(description="restrictions")
    def windows(self, layer: Layer) -> str:
        return "; ".join(restriction_text(r) for r in layer.restrictions.all()) or "always"


class CurrentOverrideInline(admin.TabularInline):
    """Overrides not yet over. Read-only: delete one and add another to change it."""

    model = Override
    formset = CurrentOverrideFormSet
    fields = ["user", "replaces", "start", "end", "reason", "created_by"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "current and upcoming overrides"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Override]:
        queryset = super().get_queryset(request).filter(end__gt=timezone.now())
        return queryset.select_related("user", "replaces", "created_by")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class NewOverrideInline(admin.TabularInline):
    model = Override
    form = NewOverrideForm
    formset = NewOverrideFormSet
    fields = ["user", "replaces", "start", "end", "reason"]
    autocomplete_fields = ["user", "replaces"]
    extra = 1
    can_delete = False
    verbose_name = "new override"
    verbose_name_plural = "new overrides"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Override]:
        return super().get_queryset(request).none()


def _preview_from(request: HttpRequest) -> date | None:
    """The first day of the preview from ?preview_from=YYYY-MM-DD, if it is a sensible date."""
    try:
        first = date.fromisoformat(request.GET.get("preview_from", ""))
    except ValueError:
        return None
    return first if date(1970, 1, 1) <= first <= date(9000, 1, 1) else None


@admin.register(Schedule)
class ScheduleAdmin(ScheduleTimeZoneMixin):
    form = ScheduleForm
    change_form_template = "admin/oncall/schedule/change_form.html"
    list_display = ["name", "organization", "team", "time_zone", "updated_at"]
    list_filter = ["organization"]
    list_select_related = ["organization", "team"]
    search_fields = ["name", "description"]
    inlines = [LayerInline, CurrentOverrideInline, NewOverrideInline]

    def schedule_time_zone(self, request: HttpRequest, object_id: str | None) -> str:
        return _zone_of(object_id) if object_id else "UTC"

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        # A new schedule has no layers or overrides yet; they are added once it exists.
        return self.inlines if obj is not None else []

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["organization"] if obj is not None else []

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        schedule = self.get_object(request, object_id)
        if schedule is not None:
            extra_context = {
                **(extra_context or {}),
                "preview": schedule_preview(schedule, first_day=_preview_from(request)),
                "add_layer_url": reverse("admin:oncall_layer_add") + f"?schedule={schedule.pk}",
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if form.changed_data or not change:
            audit_record(
                action="schedule.changed" if change else "schedule.created",
                organization=obj.organization,
                actor=request.user,
                target=obj,
                data={"fields": sorted(form.changed_data)},
            )

    def delete_model(self, request: HttpRequest, obj: Schedule) -> None:
        audit_record(
            action="schedule.deleted",
            organization=obj.organization,
            actor=request.user,
            target=obj,
            data={"name": obj.name},
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for schedule in queryset.select_related("organization"):
            self.delete_model(request, schedule)

    def save_formset(
        self, request: HttpRequest, form: Any, formset: BaseInlineFormSet, change: bool
    ) -> None:
        if isinstance(formset, NewOverrideFormSet):
            formset.new_objects = [
                override_create(
                    schedule=formset.instance,
                    user=new.cleaned_data["user"],
                    replaces=new.cleaned_data.get("replaces"),
                    start=new.cleaned_data["start"],
                    end=new.cleaned_data["end"],
                    reason=new.cleaned_data.get("reason", ""),
                    actor=request.user,
                )
                for new in formset.new_forms()
            ]
            formset.changed_objects, formset.deleted_objects = [], []
        elif isinstance(formset, CurrentOverrideFormSet):
            formset.deleted_objects = [gone.instance for gone in formset.deleted_forms]
            for override in formset.deleted_objects:
                override_delete(override=override, actor=request.user)
            formset.new_objects, formset.changed_objects = [], []
        else:
            # Layers: audited before the save, while a deleted layer still has its id.
            for gone in formset.deleted_forms:
                _audit_layer(request, gone.instance, "schedule.layer.deleted", {})
            super().save_formset(request, form, formset, change)
            for layer, fields in formset.changed_objects:
                _audit_layer(request, layer, "schedule.layer.changed", {"fields": sorted(fields)})


def _audit_layer(request: HttpRequest, layer: Layer, action: str, data: dict[str, Any]) -> None:
    audit_record(
        action=action,
        organization=layer.schedule.organization,
        actor=request.user,
        target=layer,
        data={"schedule": layer.schedule_id, **data},
    )


# --- layers ---------------------------------------------------------------------------------


class ParticipantInline(admin.TabularInline):
    model = LayerParticipant
    formset = ParticipantFormSet
    fields = ["position", "user"]
    ordering = ["position", "id"]
    autocomplete_fields = ["user"]
    extra = 1
    verbose_name_plural = "people, in rotation order (lowest position first; may repeat)"


class RestrictionInline(admin.TabularInline):
    model = LayerRestriction
    form = RestrictionForm
    extra = 0
    verbose_name_plural = "restrictions (on call only inside these windows; none: always)"


@admin.register(Layer)
class LayerAdmin(ScheduleTimeZoneMixin):
    form = LayerForm
    change_form_template = "admin/oncall/layer/change_form.html"
    list_display = ["name", "schedule", "priority", "source", "rotation_type", "start", "end"]
    list_filter = ["source", "rotation_type", "schedule__organization"]
    list_select_related = ["schedule"]
    search_fields = ["name", "schedule__name"]
    autocomplete_fields = ["schedule"]
    inlines = [ParticipantInline, RestrictionInline]
    fieldsets = [
        (None, {"fields": ["schedule", "name", "priority", "source", "start", "end"]}),
        (
            "Rotation",
            {
                "fields": [
                    "rotation_type",
                    ("rotation_length", "rotation_unit"),
                    "handoff_time",
                    "shift_length",
                ]
            },
        ),
        ("Imported calendar", {"fields": ["ical_url", "ical_fetched_at", "ical_error"]}),
    ]

    def schedule_time_zone(self, request: HttpRequest, object_id: str | None) -> str:
        if object_id is None:  # adding: the schedule chosen (posted) or linked from (query)
            return _zone_of(request.POST.get("schedule") or request.GET.get("schedule"))
        if not object_id.isdigit():
            return "UTC"
        found = Layer.objects.filter(pk=object_id).values_list("schedule_id", flat=True)
        return _zone_of(found.first())

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        moved_never = ["schedule"] if obj is not None else []
        return [*moved_never, "ical_fetched_at", "ical_error"]

    def save_formset(
        self, request: HttpRequest, form: Any, formset: BaseInlineFormSet, change: bool
    ) -> None:
        if not isinstance(formset, ParticipantFormSet):
            super().save_formset(request, form, formset, change)
            return
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if change and not formset.has_changed():
            return
        layer = formset.instance
        users = formset.ordered_users()
        if users:
            # Audited once for the whole page, in save_related.
            layer_set_participants(layer=layer, users=users, actor=None)
        else:
            layer.participants.all().delete()  # an imported layer has no rotation of its own

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        layer: Layer = form.instance
        parts = sorted(form.changed_data)
        parts += [fs.model._meta.verbose_name_plural for fs in formsets if fs.has_changed()]
        if change and not parts:
            return
        people = list(layer.participants.values_list("user_id", flat=True))
        if change:
            data = {"fields": [str(part) for part in parts], "participants": people}
            _audit_layer(request, layer, "schedule.layer.changed", data)
        else:
            _audit_layer(request, layer, "schedule.layer.created", {"participants": people})

    def delete_model(self, request: HttpRequest, obj: Layer) -> None:
        _audit_layer(request, obj, "schedule.layer.deleted", {})
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Layer]) -> None:
        for layer in queryset.select_related("schedule__organization"):
            self.delete_model(request, layer)

    def response_post_save_add(self, request: HttpRequest, obj: Layer) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:oncall_schedule_change", args=[obj.schedule_id]))

    def response_post_save_change(self, request: HttpRequest, obj: Layer) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:oncall_schedule_change", args=[obj.schedule_id]))


admin.site.register(CalendarFeed, CalendarFeedAdmin)
admin.site.register(ShiftSwap, ShiftSwapAdmin)
admin.site.register(HandoffNotice, HandoffNoticeAdmin)
