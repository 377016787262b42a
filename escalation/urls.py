"""Escalation pages. Mounted at the site root: the incident fragment lives under /incidents/."""

from __future__ import annotations

from django.urls import path

from escalation import views

app_name = "escalation"

urlpatterns = [
    path(
        "incidents/<int:incident_id>/escalation/",
        views.incident_escalation,
        name="incident-path",
    ),
]
