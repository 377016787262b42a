"""What a page says, per channel; separate from how it travels (providers)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.template.loader import render_to_string


@dataclass(frozen=True)
class IncidentSummary:
    id: int
    number: int
    title: str
    service: str
    urgency: str
    status: str
    url: str


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _subject(incident: IncidentSummary, level: int, more: str) -> str:
    urgency = "" if incident.urgency == "high" else f" [{incident.urgency}]"
    title = " ".join(incident.title.split())[:150]
    extra = f" {more}" if more else ""
    return (
        f"[OpsKnight] #{incident.number} {title} ({incident.service}, level {level}){urgency}"
        f"{extra}"
    )


def _incidents_url(incident: IncidentSummary) -> str:
    return incident.url.rsplit("/incidents/", 1)[0] + "/incidents/"


def render_page_email(
    incident: IncidentSummary, *, level: int, ack_url: str = "", more: str = ""
) -> RenderedEmail:
    """`more`: the digest line ("and 11 more incidents on X") when a throttle held pages."""
    context = {
        "incident": incident,
        "level": level,
        "ack_url": ack_url,
        "more": more,
        "incidents_url": _incidents_url(incident),
    }
    return RenderedEmail(
        subject=_subject(incident, level, more),
        text=render_to_string("notifications/page_email.txt", context),
        html=render_to_string("notifications/page_email.html", context),
    )


SMS_LIMIT = 320  # two segments: long enough for a title, short enough to arrive whole


def render_page_sms(incident: IncidentSummary, *, level: int, more: str = "") -> str:
    """Number first (replies will name it), then what broke, then the link; a digest names
    the count held back and links to the incident list."""
    head = f"OpsKnight #{incident.number} [{incident.service}] "
    tail = f" (level {level}, {incident.urgency}) {incident.url}"
    if more:
        tail = f" (level {level}, {incident.urgency}) {more}: {_incidents_url(incident)}"
    room = SMS_LIMIT - len(head) - len(tail)
    title = " ".join(incident.title.split())
    if len(title) > room:
        title = title[: max(0, room - 1)] + "…"
    return f"{head}{title}{tail}"


def render_page_chat(
    incident: IncidentSummary, *, level: int, ack_url: str = "", more: str = ""
) -> tuple[str, tuple[dict, ...]]:
    """Slack text and Block Kit blocks: what broke, where, and buttons to open or acknowledge."""
    text = (
        f"Incident #{incident.number}: {incident.title[:200]} "
        f"({incident.service}, {incident.urgency}, level {level})"
    )
    if more:
        text = f"{text}, {more}"
    buttons = [
        {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": incident.url}
    ]
    if ack_url:
        buttons.insert(
            0,
            {
                "type": "button",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "url": ack_url,
            },
        )
    blocks = (
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*<{incident.url}|#{incident.number} {incident.title[:200]}>*",
            },
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{incident.service} · {incident.urgency} urgency"
                    f" · escalation level {level}" + (f" · {more}" if more else ""),
                }
            ],
        },
        {"type": "actions", "elements": buttons},
    )
    return text, blocks


def render_page_push(
    incident: IncidentSummary, *, level: int, ack_url: str = "", more: str = ""
) -> str:
    """The JSON payload the service worker shows as a notification (with an acknowledge
    action when there is a link)."""
    body = f"{incident.service} · {incident.urgency} · level {level}"
    return json.dumps(
        {
            "title": f"#{incident.number} {incident.title[:120]}",
            "body": f"{body}, {more}" if more else body,
            "url": incident.url,
            "ack_url": ack_url,
            "tag": f"incident-{incident.id}",
        }
    )


def render_page_voice(incident: IncidentSummary, *, level: int, more: str = "") -> str:
    """What text-to-speech reads when the call is answered (the menu is the provider's)."""
    title = " ".join(incident.title.split())[:200]
    extra = f" There are also {more.removeprefix('and ')} waiting." if more else ""
    return (
        f"This is OpsKnight. Incident {incident.number}, {incident.urgency} urgency, "
        f"on service {incident.service}: {title}. Escalation level {level}.{extra}"
    )


@dataclass(frozen=True)
class PlainMessage:
    """A message that is not about an incident: a test, a verification code."""

    subject: str
    text: str


def render_test(channel_label: str) -> PlainMessage:
    return PlainMessage(
        subject="[OpsKnight] Test message",
        text=f"OpsKnight test: this is how pages will reach you by {channel_label}. "
        "Nothing is wrong.",
    )


def render_verification(code: str, *, spoken: bool = False) -> PlainMessage:
    """Spoken, the digits are read one by one, twice."""
    said = " ".join(code)
    if spoken:
        text = f"Your OpsKnight verification code is {said}. Again: {said}."
    else:
        text = f"Your OpsKnight verification code is {code}. It expires in 15 minutes."
    return PlainMessage(subject="[OpsKnight] Your verification code", text=text)


def render_email_verification(address: str, url: str) -> PlainMessage:
    return PlainMessage(
        subject="[OpsKnight] Confirm your email address",
        text=f"Open this link to receive OpsKnight pages at {address}: {url}\n\n"
        "The link expires in 24 hours. If you did not ask for this, ignore this email.",
    )


def render_status_update(incident: IncidentSummary, *, what: str, by: str) -> PlainMessage:
    """ "#12 acknowledged by Alice: Checkout down" — short enough for one SMS segment's worth."""
    title = " ".join(incident.title.split())[:100]
    who = f" by {by}" if by else ""
    return PlainMessage(
        subject=f"[OpsKnight] #{incident.number} {what}{who}: {title}",
        text=f"OpsKnight #{incident.number} [{incident.service}] {what}{who}: {title} "
        f"{incident.url}",
    )
