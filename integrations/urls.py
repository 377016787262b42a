"""Inbound endpoints, each where its provider's clients expect it (only the base URL changes)."""

from django.urls import include, path

from integrations.views import events, heartbeats, pagerduty, twilio, twilio_voice, webhooks

urlpatterns = [
    # PagerDuty Events API v2
    path("v2/enqueue", pagerduty.enqueue, name="pagerduty-enqueue"),
    path("v2/change/enqueue", pagerduty.change_enqueue, name="pagerduty-change-enqueue"),
    path("integration/<str:key>/enqueue", pagerduty.enqueue, name="pagerduty-enqueue-by-url"),
    # Opsgenie Alert API v2
    path("", include("integrations.urls_opsgenie")),
    # OpsKnight Events API (integration key or API key)
    path("api/v1/events", events.events, name="events"),
    # Prometheus Alertmanager webhook
    path("api/v1/integrations/alertmanager/", include("integrations.urls_alertmanager")),
    # Heartbeat monitors: the monitored job pings (GET or POST)
    path("api/v1/heartbeats/<str:key>/ping", heartbeats.ping, name="heartbeat-ping"),
    # Twilio: replies to SMS pages (signed by Twilio)
    path("api/v1/twilio/sms", twilio.sms_inbound, name="twilio-sms-inbound"),
    path("api/v1/twilio/status", twilio.message_status, name="twilio-message-status"),
    # Twilio: keypresses on voice pages, and how each call ended (signed by Twilio)
    path(
        "api/v1/twilio/voice/<int:notification_id>/gather",
        twilio_voice.gather,
        name="twilio-voice-gather",
    ),
    path("api/v1/twilio/call-status", twilio_voice.call_status, name="twilio-call-status"),
    # Every other provider (integrations/sources/registry.py)
    path("api/v1/integrations/<slug:kind>/", webhooks.webhook, name="provider-webhook"),
    path(
        "api/v1/integrations/<slug:kind>/<str:key>/",
        webhooks.webhook,
        name="provider-webhook-by-url",
    ),
]
