from django.urls import path

from oncall.api import views, writes

_ORG = "organizations/<slug:org_slug>"
_SCHEDULE = f"{_ORG}/schedules/<int:schedule_id>"
_SWAP = f"{_SCHEDULE}/swaps/<int:swap_id>"

urlpatterns = [
    # `organizations/<slug>/oncall` is served by escalation.api (schedules plus escalation
    # levels), which builds on `views.oncall_overview`.
    path(
        f"{_ORG}/schedules",
        writes.by_method(GET=views.schedules, POST=writes.create_schedule),
        name="api-schedules",
    ),
    path(
        _SCHEDULE,
        writes.by_method(
            GET=views.schedule_detail,
            PATCH=writes.change_schedule,
            DELETE=writes.change_schedule,
        ),
        name="api-schedule-detail",
    ),
    path(f"{_SCHEDULE}/oncall", views.schedule_oncall, name="api-schedule-oncall"),
    path(f"{_SCHEDULE}/shifts", views.schedule_shifts, name="api-schedule-shifts"),
    path(f"{_SCHEDULE}/overrides", views.schedule_overrides, name="api-schedule-overrides"),
    path(
        f"{_SCHEDULE}/overrides/<int:override_id>",
        views.schedule_override_detail,
        name="api-schedule-override-detail",
    ),
    path(f"{_SCHEDULE}/layers", writes.create_layer, name="api-schedule-layers"),
    path(
        f"{_SCHEDULE}/layers/<int:layer_id>",
        writes.change_layer,
        name="api-schedule-layer-detail",
    ),
    path(f"{_SCHEDULE}/swaps", writes.swaps, name="api-schedule-swaps"),
    path(f"{_SWAP}/take", writes.take_swap, name="api-schedule-swap-take"),
    path(f"{_SWAP}/cancel", writes.cancel_swap, name="api-schedule-swap-cancel"),
    path(f"{_ORG}/calendar-feeds", writes.calendar_feeds, name="api-calendar-feeds"),
    path(
        f"{_ORG}/calendar-feeds/<int:feed_id>",
        writes.revoke_calendar_feed,
        name="api-calendar-feed-detail",
    ),
]
