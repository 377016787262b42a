from django.urls import path

from oncall.api import views

_ORG = "organizations/<slug:org_slug>"
_SCHEDULE = f"{_ORG}/schedules/<int:schedule_id>"

urlpatterns = [
    path(f"{_ORG}/oncall", views.oncall, name="api-oncall"),
    path(f"{_ORG}/schedules", views.schedules, name="api-schedules"),
    path(_SCHEDULE, views.schedule_detail, name="api-schedule-detail"),
    path(f"{_SCHEDULE}/oncall", views.schedule_oncall, name="api-schedule-oncall"),
    path(f"{_SCHEDULE}/shifts", views.schedule_shifts, name="api-schedule-shifts"),
    path(f"{_SCHEDULE}/overrides", views.schedule_overrides, name="api-schedule-overrides"),
    path(
        f"{_SCHEDULE}/overrides/<int:override_id>",
        views.schedule_override_detail,
        name="api-schedule-override-detail",
    ),
]
