from django.urls import include, path

from opsknight.api import views

urlpatterns = [
    path("whoami", views.whoami, name="api-whoami"),
    path("organizations/<slug:org_slug>/api-keys", views.api_keys, name="api-keys"),
    path(
        "organizations/<slug:org_slug>/api-keys/<int:key_id>",
        views.api_key_detail,
        name="api-key-detail",
    ),
    path("", include("oncall.api.urls")),
    path("", include("escalation.api.urls")),
]
