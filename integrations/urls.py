from django.urls import path

from integrations.views import pagerduty

urlpatterns = [
    # PagerDuty Events API v2 (wire-compatible)
    path("v2/enqueue", pagerduty.enqueue, name="pagerduty-enqueue"),
    path("v2/change/enqueue", pagerduty.change_enqueue, name="pagerduty-change-enqueue"),
    path("integration/<str:key>/enqueue", pagerduty.enqueue, name="pagerduty-enqueue-by-url"),
]
