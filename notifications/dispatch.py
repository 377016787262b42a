"""From a delivery record to a message on its channel, and to the adapter that carries it.

Adding a channel means a renderer, an adapter, and a branch in `prepare` and `send`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

from notifications.ack_links import ack_url
from notifications.models import Channel, Notification
from notifications.providers.base import (
    ChatMessage,
    EmailMessage,
    PushMessage,
    SendResult,
    SmsMessage,
)
from notifications.rendering import (
    IncidentSummary,
    render_page_chat,
    render_page_email,
    render_page_push,
    render_page_sms,
)

_PROVIDER_SETTINGS = {
    Channel.EMAIL: "NOTIFICATION_EMAIL_PROVIDER",
    Channel.SMS: "NOTIFICATION_SMS_PROVIDER",
    Channel.WHATSAPP: "NOTIFICATION_WHATSAPP_PROVIDER",
    Channel.SLACK: "NOTIFICATION_SLACK_PROVIDER",
    Channel.PUSH: "NOTIFICATION_PUSH_PROVIDER",
}


@dataclass(frozen=True)
class Outgoing:
    channel: str
    message: EmailMessage | SmsMessage | ChatMessage | PushMessage


def _provider(channel: str):
    name = _PROVIDER_SETTINGS.get(channel)
    return import_string(getattr(settings, name)) if name else None


def unavailable(channel: str) -> str:
    """Why this channel cannot deliver here, or "" if it can."""
    provider = _provider(channel)
    if provider is None or not provider.is_configured():
        return f"no {Channel(channel).label} provider is configured"
    return ""


def summary_of(notification: Notification) -> IncidentSummary:
    incident = notification.incident
    return IncidentSummary(
        id=incident.pk,
        number=incident.number,
        title=incident.title,
        service=incident.service.name,
        urgency=incident.urgency,
        status=incident.status,
        url=f"{settings.BASE_URL}/incidents/{incident.pk}/",
    )


def prepare(notification: Notification, level: int) -> Outgoing:
    summary = summary_of(notification)
    if notification.channel == Channel.EMAIL:
        rendered = render_page_email(summary, level=level, ack_url=ack_url(notification))
        return Outgoing(
            Channel.EMAIL,
            EmailMessage(
                to=notification.address,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                message_id=f"<notification-{notification.pk}@opsknight>",
                headers=(("X-OpsKnight-Incident", str(summary.number)),),
            ),
        )
    if notification.channel in (Channel.SMS, Channel.WHATSAPP):
        return Outgoing(
            notification.channel,
            SmsMessage(
                to=notification.address,
                body=render_page_sms(summary, level=level),
                status_callback=f"{settings.BASE_URL}/api/v1/twilio/status",
            ),
        )
    if notification.channel == Channel.SLACK:
        text, blocks = render_page_chat(summary, level=level, ack_url=ack_url(notification))
        return Outgoing(
            Channel.SLACK, ChatMessage(to=notification.address, text=text, blocks=blocks)
        )
    if notification.channel == Channel.PUSH:
        keys = notification.contact_method.keys if notification.contact_method else {}
        return Outgoing(
            Channel.PUSH,
            PushMessage(
                endpoint=notification.address,
                p256dh=keys.get("p256dh", ""),
                auth=keys.get("auth", ""),
                payload=render_page_push(summary, level=level, ack_url=ack_url(notification)),
            ),
        )
    raise ValueError(f"no renderer for {notification.channel}")


def send(outgoing: Outgoing) -> SendResult:
    provider = _provider(outgoing.channel)()
    if outgoing.channel == Channel.EMAIL:
        return provider.send_email(outgoing.message)
    if outgoing.channel == Channel.SLACK:
        return provider.send_chat(outgoing.message)
    if outgoing.channel == Channel.PUSH:
        return provider.send_push(outgoing.message)
    return provider.send_sms(outgoing.message)
