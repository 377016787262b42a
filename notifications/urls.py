"""Notification pages. Mounted at the site root: the incident section lives under /incidents/,
like escalation's; the rest under /notifications/."""

from __future__ import annotations

from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("notifications/ack/<str:token>/", views.ack_link, name="ack-link"),
    path("notifications/profile/", views.profile, name="profile"),
    path("notifications/profile/methods/", views.method_add, name="method-add"),
    path("notifications/push/subscribe/", views.push_subscribe, name="push-subscribe"),
    path(
        "notifications/profile/methods/<int:method_id>/send-code/",
        views.method_send_code,
        name="method-send-code",
    ),
    path(
        "notifications/profile/methods/<int:method_id>/verify/",
        views.method_verify,
        name="method-verify",
    ),
    path(
        "notifications/profile/methods/<int:method_id>/test/",
        views.method_test,
        name="method-test",
    ),
    path(
        "notifications/profile/methods/<int:method_id>/status-updates/",
        views.method_status_updates,
        name="method-status-updates",
    ),
    path(
        "notifications/profile/methods/<int:method_id>/delete/",
        views.method_delete,
        name="method-delete",
    ),
    path("notifications/profile/rules/<str:urgency>/", views.rules_save, name="rules-save"),
    path("notifications/verify-email/<str:token>/", views.verify_email, name="verify-email"),
    path(
        "incidents/<int:incident_id>/notifications/",
        views.incident_notifications,
        name="incident-notifications",
    ),
]
