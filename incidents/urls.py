from __future__ import annotations

from django.urls import path

from incidents import views

app_name = "incidents"

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("<int:incident_id>/", views.incident_detail, name="detail"),
    path("<int:incident_id>/acknowledge/", views.incident_acknowledge, name="acknowledge"),
    path("<int:incident_id>/snooze/", views.incident_snooze, name="snooze"),
    path("<int:incident_id>/resolve/", views.incident_resolve, name="resolve"),
    path("<int:incident_id>/reopen/", views.incident_reopen, name="reopen"),
    path("<int:incident_id>/notes/", views.incident_add_note, name="note"),
]
