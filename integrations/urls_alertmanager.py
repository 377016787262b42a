"""Prometheus Alertmanager webhook routes, mounted under `api/v1/integrations/alertmanager/`.

The key comes from the URL, or from `Authorization: Bearer`, basic auth or `?key=` at the root.
"""

from django.urls import path

from integrations.views import alertmanager

urlpatterns = [
    path("", alertmanager.webhook, name="alertmanager-webhook"),
    path("<str:key>/", alertmanager.webhook, name="alertmanager-webhook-by-url"),
]
