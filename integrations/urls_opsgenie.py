"""Opsgenie Alert API v2 routes, mounted at the site root so only the base URL changes."""

from django.urls import path

from integrations.views import opsgenie

urlpatterns = [
    path("v2/alerts", opsgenie.create_alert, name="opsgenie-create-alert"),
    path(
        "v2/alerts/requests/<str:request_id>",
        opsgenie.request_status,
        name="opsgenie-request-status",
    ),
    path(
        "v2/alerts/<str:identifier>/acknowledge",
        opsgenie.acknowledge_alert,
        name="opsgenie-acknowledge-alert",
    ),
    path("v2/alerts/<str:identifier>/close", opsgenie.close_alert, name="opsgenie-close-alert"),
]
