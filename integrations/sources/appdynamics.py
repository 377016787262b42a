"""AppDynamics HTTP request actions (AppDynamics docs "HTTP Request Actions and Templates").

AppDynamics has no fixed webhook body: an HTTP request template renders whatever JSON its
author writes with Velocity variables. This reads the flat template most integrations publish
(MIME type application/json, "One Request Per Event" on):

    {"event_type": "${latestEvent.eventType}", "event_id": "${latestEvent.id}",
     "event_guid": "${latestEvent.guid}", "event_name": "${latestEvent.displayName}",
     "event_time": "${latestEvent.eventTime}", "summary": "${latestEvent.summaryMessage}",
     "event_message": "${latestEvent.eventMessage}", "severity": "${latestEvent.severity}",
     "event_deep_link": "${latestEvent.deepLink}", "incident_id": "${latestEvent.incident.id}",
     "health_rule_name": "${latestEvent.healthRule.name}", "policy": "${policy.name}",
     "app_name": "${latestEvent.application.name}", "tier_name": "${latestEvent.tier.name}",
     "node_name": "${latestEvent.node.name}", "controller_url": "${controllerUrl}"}

and the nested one Grafana OnCall documents (`{"event": {"eventType", "id", "severity",
"summaryMessage", "deepLink", "application": {"name"}, "node": {"name"}, …}}`). Velocity leaves
a variable that does not apply as its literal `${…}` text: read as absent. Summaries come in
HTML and are reduced to plain text.

Mapping: POLICY_CLOSE_* and POLICY_CANCELED_* (a health rule violation ended or was canceled)
resolve; every other event type triggers. Dedup key `appdynamics-<incident_id>` (one incident
per health rule violation), else a hash of application, tier, node and health rule, else the
event id. Severity from the event type (…_CRITICAL and POLICY_UPGRADED → critical, …_WARNING and
POLICY_DOWNGRADED → warning), else `severity` ERROR → error, WARN → warning, INFO → info.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

from django.utils.html import strip_tags

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import (
    InvalidPayload,
    done,
    links,
    require_object,
    stable_key,
    text,
    timestamp,
)
from integrations.sources.registry import Provider

# field -> (flat template's key, nested template's path)
FIELDS = {
    "event_type": ("event_type", "event.eventType"),
    "event_id": ("event_id", "event.id"),
    "name": ("event_name", "event.displayName"),
    "time": ("event_time", "event.eventTime"),
    "summary": ("summary", "event.summaryMessage"),
    "message": ("event_message", "event.eventMessage"),
    "severity": ("severity", "event.severity"),
    "link": ("event_deep_link", "event.deepLink"),
    "incident": ("incident_id", "event.incident.id"),
    "health_rule": ("health_rule_name", "event.healthRule.name"),
    "policy": ("policy", "event.policy.name"),
    "app": ("app_name", "event.application.name"),
    "tier": ("tier_name", "event.tier.name"),
    "node": ("node_name", "event.node.name"),
}
RESOLVING = ("POLICY_CLOSE_", "POLICY_CANCELED_")
SEVERITIES = {"ERROR": Severity.ERROR, "WARN": Severity.WARNING, "INFO": Severity.INFO}


def _read(body: dict[str, Any], errors: list[str]) -> dict[str, str]:
    values = {}
    for name, paths in FIELDS.items():
        value = next((found for path in paths if (found := text(body, path, errors))), "")
        values[name] = "" if value.startswith("${") else value  # an unresolved variable
    return values


def _plain(value: str) -> str:
    """AppDynamics writes its summaries in HTML ("<b>/checkout</b>.<br>…"): plain text."""
    value = re.sub(r"<br\s*/?>", " ", value, flags=re.IGNORECASE)
    return " ".join(html.unescape(strip_tags(value)).split())


def _time(value: str) -> datetime | None:
    """Velocity renders a java.util.Date: "Fri Nov 20 09:14:03 UTC 2026"; ISO 8601 works too."""
    words = value.split()
    if len(words) == 6 and words[4] in ("UTC", "GMT"):
        try:
            return datetime.strptime(
                " ".join(words[:4] + words[5:]), "%a %b %d %H:%M:%S %Y"
            ).replace(tzinfo=UTC)
        except ValueError:
            return None
    return timestamp(value)


def _severity(event_type: str, severity: str) -> Severity:
    if event_type.endswith("_CRITICAL") or event_type == "POLICY_UPGRADED":
        return Severity.CRITICAL
    if event_type.endswith("_WARNING") or event_type == "POLICY_DOWNGRADED":
        return Severity.WARNING
    return SEVERITIES.get(severity.upper(), Severity.WARNING)


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    event = _read(body, errors)
    done(errors)
    if not event["event_type"]:
        raise InvalidPayload(["'event_type' is missing (${latestEvent.eventType})."])
    where = [event[k] for k in ("app", "tier", "node", "health_rule")]
    if event["incident"]:
        key = f"appdynamics-{event['incident']}"
    elif any(where):
        key = stable_key("appdynamics", *where)
    elif event["event_id"]:
        key = f"appdynamics-event-{event['event_id']}"
    else:
        raise InvalidPayload(["'incident_id' is missing (${latestEvent.incident.id})."])
    event_type = event["event_type"].upper()
    resolves = event_type.startswith(RESOLVING)
    place = " / ".join(part for part in where[:3] if part)
    summary = _plain(event["summary"]) or event["name"] or event_type
    return [
        NormalizedEvent(
            action=AlertAction.RESOLVE if resolves else AlertAction.TRIGGER,
            dedup_key=key,
            summary=summary[:1000],
            severity=_severity(event_type, event["severity"]),
            source=place or "appdynamics",
            description=_plain(event["message"])[:10000],
            details={name: value for name, value in event.items() if value},
            links=links([("AppDynamics event", event["link"])]),
            occurred_at=_time(event["time"]),
        )
    ]


SAMPLE = {
    "event_type": "POLICY_OPEN_CRITICAL",
    "event_id": "33021165",
    "event_guid": "a35260de-34ff-476f-bcb9-c44fd1afd913",
    "event_name": "Health Rule Violation Started - Critical",
    "event_time": "Fri Nov 20 09:14:03 UTC 2026",
    "summary": "AppDynamics has detected a problem with Business Transaction /checkout. "
    "Business Transaction Health started violating and is now critical.",
    "event_message": "Average Response Time (ms) is > 2000 : 3412",
    "severity": "ERROR",
    "event_deep_link": "https://shop.saas.appdynamics.com/#location=APP_INCIDENT_DETAIL_MODAL"
    "&incident=70646",
    "incident_id": "70646",
    "health_rule_name": "Business Transaction Health",
    "policy": "Checkout critical",
    "app_name": "checkout",
    "tier_name": "checkout-api",
    "node_name": "checkout-api-01",
    "controller_url": "https://shop.saas.appdynamics.com/controller",
}

PROVIDER = Provider(kind="appdynamics", parse=parse, sample=SAMPLE)
