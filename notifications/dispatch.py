"""From a delivery record to a message on its channel, and to the adapter that carries it.

Adding a channel means a renderer, an adapter, and a branch in `_page`, `_plain` and `send`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from django.conf import settings
from django.utils.html import urlize
from django.utils.module_loading import import_string

from notifications.accounts import home_organization
from notifications.ack_links import ack_url
from notifications.contacts import email_verification_url
from notifications.models import Channel, Notification, Reason
from notifications.providers.base import (
    ChatMessage,
    EmailMessage,
    PushMessage,
    SendResult,
    SmsMessage,
    VoiceMessage,
)
from notifications.rendering import (
    IncidentSummary,
    PlainMessage,
    render_email_verification,
    render_page_chat,
    render_page_email,
    render_page_push,
    render_page_sms,
    render_page_voice,
    render_status_update,
    render_test,
    render_verification,
)
from notifications.verification import verification_code

_PROVIDER_SETTINGS = {
    Channel.EMAIL: "NOTIFICATION_EMAIL_PROVIDER",
    Channel.SMS: "NOTIFICATION_SMS_PROVIDER",
    Channel.WHATSAPP: "NOTIFICATION_WHATSAPP_PROVIDER",
    Channel.SLACK: "NOTIFICATION_SLACK_PROVIDER",
    Channel.PUSH: "NOTIFICATION_PUSH_PROVIDER",
    Channel.VOICE: "NOTIFICATION_VOICE_PROVIDER",
}


@dataclass(frozen=True)
class Outgoing:
    channel: str
    message: EmailMessage | SmsMessage | ChatMessage | PushMessage | VoiceMessage


def _provider(channel: str):
    name = _PROVIDER_SETTINGS.get(channel)
    return import_string(getattr(settings, name)) if name else None


def unavailable(channel: str, organization_id: int | None = None) -> str:
    """Why this channel cannot deliver here (for this organization), or "" if it can."""
    provider = _provider(channel)
    if provider is None or not provider.is_configured(organization_id):
        return f"no {Channel(channel).label} provider is configured"
    return ""


def organization_of(notification: Notification) -> int | None:
    """Whose provider accounts carry this message (notifications/accounts.py)."""
    if notification.incident is not None:
        return notification.incident.organization_id
    return home_organization(notification.user_id)


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


def prepare(notification: Notification, more: str = "") -> Outgoing:
    """The message for a delivery record, rendered for its channel and reason; `more` is the
    digest line of the pages riding along (notifications/digest.py). Messages of channels
    with per-organization accounts say whose account carries them."""
    outgoing = _render(notification, more)
    if hasattr(outgoing.message, "organization_id"):
        message = replace(outgoing.message, organization_id=organization_of(notification))
        return Outgoing(outgoing.channel, message)
    return outgoing


def _render(notification: Notification, more: str) -> Outgoing:
    if notification.reason == Reason.ESCALATION:
        return _page(notification, notification.request.level, more)
    if notification.reason == Reason.VERIFICATION:
        method = notification.contact_method
        if notification.channel == Channel.EMAIL:  # verified by a link, not a code
            url = email_verification_url(method)
            return _plain(notification, render_email_verification(method.address, url))
        code = verification_code(method)
        plain = render_verification(code, spoken=notification.channel == Channel.VOICE)
    elif notification.reason in (Reason.ACKNOWLEDGEMENT, Reason.RESOLUTION):
        plain = _status_update(notification)
    else:
        plain = render_test(Channel(notification.channel).label)
    return _plain(notification, plain)


def _status_update(notification: Notification) -> PlainMessage:
    what = "acknowledged" if notification.reason == Reason.ACKNOWLEDGEMENT else "resolved"
    incident = notification.incident
    actor = incident.acknowledged_by if what == "acknowledged" else incident.resolved_by
    by = (actor.get_full_name() or actor.email) if actor else ""
    return render_status_update(summary_of(notification), what=what, by=by)


def _plain(notification: Notification, plain: PlainMessage) -> Outgoing:
    channel, to = notification.channel, notification.address
    if channel == Channel.EMAIL:
        html = "".join(
            f"<p>{urlize(part, autoescape=True)}</p>" for part in plain.text.split("\n\n")
        )
        message_id = f"<notification-{notification.pk}@opsknight>"
        return Outgoing(channel, EmailMessage(to, plain.subject, plain.text, html, message_id))
    if channel in (Channel.SMS, Channel.WHATSAPP):
        return Outgoing(channel, SmsMessage(to=to, body=plain.text))
    if channel == Channel.VOICE:
        return Outgoing(channel, VoiceMessage(to=to, speech=plain.text))
    if channel == Channel.SLACK:
        return Outgoing(channel, ChatMessage(to=to, text=plain.text))
    if channel == Channel.PUSH:
        keys = notification.contact_method.keys if notification.contact_method else {}
        payload = json.dumps(
            {
                "title": plain.subject.removeprefix("[OpsKnight] "),
                "body": plain.text,
                "url": f"{settings.BASE_URL}/",
                "tag": f"notification-{notification.pk}",
            }
        )
        push = PushMessage(to, keys.get("p256dh", ""), keys.get("auth", ""), payload)
        return Outgoing(channel, push)
    raise ValueError(f"no renderer for {channel}")


def _page(notification: Notification, level: int, more: str) -> Outgoing:
    summary = summary_of(notification)
    if notification.channel == Channel.EMAIL:
        rendered = render_page_email(summary, level=level, ack_url=ack_url(notification), more=more)
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
                body=render_page_sms(summary, level=level, more=more),
                status_callback=f"{settings.BASE_URL}/api/v1/twilio/status",
            ),
        )
    if notification.channel == Channel.SLACK:
        text, blocks = render_page_chat(
            summary, level=level, ack_url=ack_url(notification), more=more
        )
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
                payload=render_page_push(
                    summary, level=level, ack_url=ack_url(notification), more=more
                ),
            ),
        )
    if notification.channel == Channel.VOICE:
        return Outgoing(
            Channel.VOICE,
            VoiceMessage(
                to=notification.address,
                speech=render_page_voice(summary, level=level, more=more),
                gather_url=f"{settings.BASE_URL}/api/v1/twilio/voice/{notification.pk}/gather",
                status_callback=f"{settings.BASE_URL}/api/v1/twilio/call-status",
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
    if outgoing.channel == Channel.VOICE:
        return provider.send_call(outgoing.message)
    return provider.send_sms(outgoing.message)
