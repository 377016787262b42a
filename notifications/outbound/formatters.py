"""What each kind of destination is sent about an incident event: one pure function per kind.

Every message names the incident's number, title, service, urgency and status, and links to
it. Titles come from alerts, i.e. from outside: each format escapes them for its own markup, so
a title cannot ping a whole channel (Slack's <!channel>, Discord's @everyone, Google Chat's
<users/all>) or smuggle in a link.

The generic JSON body is a documented, stable contract:

    {
      "event": "incident.triggered",        # incident.<acknowledged|unacknowledged|
                                            #   escalated|resolved|reopened>
      "occurred_at": "2025-01-31T12:00:00+00:00",
      "incident": {"id": 42, "number": 7, "title": "...", "status": "triggered",
                   "urgency": "high", "service": "Checkout API",
                   "url": "https://oncall.example.com/incidents/42/"}
    }

sent with `X-OpsKnight-Signature: t=<unix ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>">`,
`X-OpsKnight-Timestamp`, `X-OpsKnight-Event` and `X-OpsKnight-Delivery` (the same on every
retry of one delivery: receivers may use it to drop duplicates). New keys may be added; none
will be removed or change meaning.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifications.rendering import IncidentSummary

LABELS = {
    "triggered": "Triggered",
    "acknowledged": "Acknowledged",
    "unacknowledged": "Unacknowledged",
    "escalated": "Escalated",
    "resolved": "Resolved",
    "reopened": "Reopened",
}
# Red for "needs someone", amber for "someone is on it", green for "over".
COLORS = {
    "triggered": 0xD93F0B,
    "acknowledged": 0xFBCA04,
    "unacknowledged": 0xD93F0B,
    "escalated": 0xE4572E,
    "resolved": 0x0E8A16,
    "reopened": 0xD93F0B,
}
TITLE_LIMIT = 200  # Discord embed titles stop at 256; chat previews cut far earlier anyway


@dataclass(frozen=True)
class EventMessage:
    event: str  # an OutboundEvent value
    occurred_at: datetime
    incident: IncidentSummary


def _title(incident: IncidentSummary) -> str:
    title = " ".join(incident.title.split())
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…"


def _headline(message: EventMessage) -> str:
    """ "Triggered: #7 Checkout down", unescaped."""
    return f"{LABELS[message.event]}: #{message.incident.number} {_title(message.incident)}"


def _facts(incident: IncidentSummary) -> list[tuple[str, str]]:
    return [
        ("Service", incident.service),
        ("Urgency", incident.urgency),
        ("Status", incident.status),
    ]


def _slack_escape(text: str) -> str:
    # Slack's own rule: only these three are control characters in mrkdwn.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_generic(message: EventMessage) -> dict[str, Any]:
    """The stable JSON body of the generic webhook (see the module docstring)."""
    incident = message.incident
    return {
        "event": f"incident.{message.event}",
        "occurred_at": message.occurred_at.isoformat(),
        "incident": {
            "id": incident.id,
            "number": incident.number,
            "title": incident.title,
            "status": incident.status,
            "urgency": incident.urgency,
            "service": incident.service,
            "url": incident.url,
        },
    }


def format_slack(message: EventMessage) -> dict[str, Any]:
    """chat.postMessage arguments (without the channel): fallback text and Block Kit blocks."""
    incident = message.incident
    headline = _slack_escape(_headline(message))
    facts = " · ".join(f"*{name}:* {_slack_escape(value)}" for name, value in _facts(incident))
    return {
        "text": f"{headline} ({_slack_escape(incident.service)}, {incident.urgency})",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*\n{facts}"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open incident"},
                        "url": incident.url,
                    }
                ],
            },
        ],
    }


def format_teams(message: EventMessage) -> dict[str, Any]:
    """An Adaptive Card in a message envelope: what both Teams Workflows webhooks and the
    older incoming-webhook connectors accept (Workflows take no MessageCard)."""
    incident = message.incident
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": _headline(message),
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            },
            {
                "type": "FactSet",
                "facts": [{"title": name, "value": value} for name, value in _facts(incident)],
            },
        ],
        "actions": [{"type": "Action.OpenUrl", "title": "Open incident", "url": incident.url}],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def format_google_chat(message: EventMessage) -> dict[str, Any]:
    """A card only: plain `text` would parse <users/all> and <url|label> out of a title,
    while card text is HTML, which escaping makes inert."""
    incident = message.incident
    widgets: list[dict[str, Any]] = [
        {"decoratedText": {"topLabel": name, "text": html.escape(value)}}
        for name, value in _facts(incident)
    ]
    widgets.append(
        {
            "buttonList": {
                "buttons": [
                    {"text": "Open incident", "onClick": {"openLink": {"url": incident.url}}}
                ]
            }
        }
    )
    return {
        "cardsV2": [
            {
                "cardId": f"incident-{incident.id}-{message.event}",
                "card": {
                    "header": {
                        "title": f"#{incident.number} {_title(incident)}",
                        "subtitle": LABELS[message.event],
                    },
                    "sections": [{"widgets": widgets}],
                },
            }
        ]
    }


def format_discord(message: EventMessage) -> dict[str, Any]:
    """One embed; `allowed_mentions` empty so nothing in it can ping anyone."""
    incident = message.incident
    return {
        "content": f"Incident #{incident.number} {message.event}",
        "embeds": [
            {
                "title": _headline(message),
                "url": incident.url,
                "color": COLORS[message.event],
                "fields": [
                    {"name": name, "value": value[:1024], "inline": True}
                    for name, value in _facts(incident)
                ],
                "timestamp": message.occurred_at.isoformat(),
            }
        ],
        "allowed_mentions": {"parse": []},
    }


def format_telegram(message: EventMessage, *, chat_id: str) -> dict[str, Any]:
    """sendMessage parameters, in Telegram's HTML parse mode (everything from outside escaped)."""
    incident = message.incident
    facts = "\n".join(f"{name}: {html.escape(value)}" for name, value in _facts(incident))
    link = f'<a href="{html.escape(incident.url, quote=True)}">Open incident</a>'
    return {
        "chat_id": chat_id,
        "text": f"<b>{html.escape(_headline(message))}</b>\n{facts}\n{link}",
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }
