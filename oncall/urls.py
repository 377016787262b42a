from __future__ import annotations

from django.urls import path

from oncall import views

app_name = "oncall"

urlpatterns = [
    path("<str:token>.ics", views.calendar_feed, name="calendar-feed"),
]
