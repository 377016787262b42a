from django.contrib import admin
from django.urls import include, path

from opsknight import pwa, views

admin.site.site_header = "OpsKnight administration"
admin.site.site_title = "OpsKnight admin"
admin.site.index_title = "Configuration"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("sw.js", pwa.service_worker, name="service-worker"),
    path("offline/", pwa.offline, name="offline"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("opsknight.api.urls")),
    path("incidents/", include("incidents.urls")),
    path("", include("notifications.urls")),
    path("calendars/", include("oncall.urls")),
    path("", include("escalation.urls")),
    path("", include("integrations.urls")),
]
