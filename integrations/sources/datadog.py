"""Datadog Webhooks integration (docs.datadoghq.com/integrations/webhooks, "Usage" and
"Variables"): the payload is a template the user writes with `$VARIABLES`.

Read: Datadog's default payload (`body`, `last_updated`, `event_type`, `title`, `date`, `org`,
`id`), the payload we recommend (PAYLOAD below, to paste into the webhook's "Payload" box), and
the event shape the OpsKnight seed accepted (`text`, `alert_type`, `aggregation_key`, `host`,
`date_happened`, `tags[]`, `alert{}`/`monitor{}`). A JSON array (or "Encode as form") gives one
event per element.

Action: `$ALERT_TRANSITION` Recovered (or `$ALERT_TYPE` success, or the seed's status
resolved/ok) resolves; Triggered, Re-Triggered, Renotify, Warn and No Data trigger. Without a
transition field it is read from the title (`[Recovered on {host:web-1}] …`).
Dedup key: `datadog-<$ALERT_CYCLE_KEY>`, else `datadog-<$AGGREG_KEY>`, else
`datadog-monitor-<$ALERT_ID>` (plus a hash of the scope, so each group of a multi-alert monitor
is its own incident), else a hash of the title without its `[transition]` tags and the scope.
Severity: Warn / No Data / alert_type warning → warning; else `$ALERT_PRIORITY` P1 critical, P2
error, P3 warning, P4-P5 info; else alert_type error → critical (a monitor's "Alert" is its
critical threshold), info → info; else critical. Summary: `$ALERT_TITLE`, else the title
without its tags. Signature: Datadog cannot sign a webhook (its custom headers are static), so
there is no provider check: leave the signing secret unset and rely on the integration key.
"""

from __future__ import annotations

import re
from typing import Any

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Priority, Severity
from integrations.sources.common import (
    InvalidPayload,
    done,
    get_path,
    links,
    severity_from,
    stable_key,
    text,
    timestamp,
)
from integrations.sources.registry import Provider

PAYLOAD = {
    "id": "$ID",
    "title": "$EVENT_TITLE",
    "body": "$EVENT_MSG",
    "date": "$DATE",
    "last_updated": "$LAST_UPDATED",
    "event_type": "$EVENT_TYPE",
    "alert_id": "$ALERT_ID",
    "alert_cycle_key": "$ALERT_CYCLE_KEY",
    "aggreg_key": "$AGGREG_KEY",
    "alert_transition": "$ALERT_TRANSITION",
    "alert_type": "$ALERT_TYPE",
    "alert_priority": "$ALERT_PRIORITY",
    "alert_title": "$ALERT_TITLE",
    "alert_status": "$ALERT_STATUS",
    "alert_scope": "$ALERT_SCOPE",
    "alert_query": "$ALERT_QUERY",
    "hostname": "$HOSTNAME",
    "link": "$LINK",
    "snapshot": "$SNAPSHOT",
    "tags": "$TAGS",
    "org": {"id": "$ORG_ID", "name": "$ORG_NAME"},
}
# Our field: where Datadog's default payload, our PAYLOAD or the seed's shape put it.
FIELDS = {
    "title": ("title", "alert.title", "monitor.name"),
    "alert_title": ("alert_title",),
    "message": ("body", "text", "alert.message", "monitor.message"),
    "transition": ("alert_transition", "transition"),
    "alert_type": ("alert_type", "alert.severity"),
    "status": ("alert.status", "monitor.status", "status"),
    "priority": ("alert_priority", "priority"),
    "cycle_key": ("alert_cycle_key",),
    "aggregation_key": ("aggreg_key", "aggregation_key"),
    "alert_id": ("alert_id", "alert.id", "monitor.id", "monitor_id"),
    "scope": ("alert_scope", "scope"),
    "host": ("hostname", "host"),
    "link": ("link",),
    "snapshot": ("snapshot",),
    "date": ("date", "date_happened", "last_updated"),
}
TITLE_TAG = re.compile(r"\[([^\]]*)\]\s*")
TRANSITION = re.compile(
    r"(Triggered|Re-Triggered|Recovered|Warn Recovered|Warn|Re-Warn|No Data|Re-No Data|"
    r"Renotify|Renotified)(?: on \{?(.*?)\}?)?",
    re.IGNORECASE,
)
UNFILLED = re.compile(r"\$[A-Z][A-Z0-9_]*(\[[^\]]*\])?")  # a variable Datadog left as written
PRIORITIES = {p.value for p in Priority}


def _field(item: dict[str, Any], name: str, errors: list[str]) -> str:
    for path in FIELDS[name]:
        value = text(item, path, errors).strip()
        if value and not UNFILLED.fullmatch(value):
            return value
    return ""


def _title_tags(title: str) -> tuple[str, str, str, str]:
    """(transition, scope, priority, the rest) from `[P2] [Triggered on {host:a}] Rest`."""
    transition = scope = priority = ""
    rest = title
    while match := TITLE_TAG.match(rest):
        tag = match.group(1).strip()
        if re.fullmatch(r"P[1-5]", tag, re.IGNORECASE):
            priority = tag.upper()
        elif found := TRANSITION.fullmatch(tag):
            transition, scope = found.group(1), found.group(2) or ""
        elif tag.upper() != "TEST":
            break
        rest = rest[match.end() :]
    return transition, scope, priority, rest.strip() or title


def _severity(transition: str, alert_type: str, priority: str) -> Severity:
    if "warn" in transition or "no data" in transition or alert_type == "warning":
        return Severity.WARNING
    if priority:
        return severity_from(priority, Severity.CRITICAL)
    return severity_from("critical" if alert_type == "error" else alert_type, Severity.CRITICAL)


def _event(item: Any, where: str, errors: list[str]) -> NormalizedEvent | None:
    if not isinstance(item, dict):
        errors.append(f"'{where.rstrip('.') or 'The body'}' must be an object.")
        return None
    count = len(errors)
    found = {name: _field(item, name, errors) for name in FIELDS}
    tags = get_path(item, "tags")
    if tags is not None and not isinstance(tags, str | list):
        errors.append("'tags' must be a string or a list.")
    if not found["title"] and not found["alert_title"]:
        errors.append("'title' is missing.")
    errors[count:] = [f"'{where}{e[1:]}" if where else e for e in errors[count:]]
    if len(errors) > count:
        return None
    tag_transition, tag_scope, tag_priority, rest = _title_tags(found["title"])
    transition = (found["transition"] or tag_transition).lower()
    alert_type = found["alert_type"].lower()
    scope = found["scope"] or tag_scope
    priority = found["priority"].upper() if found["priority"].upper() in PRIORITIES else ""
    priority = priority or tag_priority
    resolved = (
        "recovered" in transition
        or alert_type == "success"
        or found["status"].lower() in ("resolved", "ok")
    )
    if found["cycle_key"]:
        key = f"datadog-{found['cycle_key']}"
    elif found["aggregation_key"]:
        key = f"datadog-{found['aggregation_key']}"
    elif found["alert_id"]:
        base = f"datadog-monitor-{found['alert_id']}"
        key = stable_key(base, scope, length=16) if scope else base
    else:
        key = stable_key("datadog", rest, scope)
    summary = found["alert_title"] or (f"{rest} on {scope}" if tag_scope else rest)
    date = found["date"]
    snapshot = found["snapshot"]
    tag_list = tags if isinstance(tags, list) else (tags or "").split(",")
    details = {k: v for k, v in item.items() if k not in ("body", "text") and v not in ("", None)}
    details |= {"tags": [str(t).strip() for t in tag_list if str(t).strip()]} if tags else {}
    return NormalizedEvent(
        action=AlertAction.RESOLVE if resolved else AlertAction.TRIGGER,
        dedup_key=key,
        summary=summary,
        severity=_severity(transition, alert_type, priority),
        source=found["host"] or scope or "datadog",
        description=found["message"].removeprefix("%%%").removesuffix("%%%").strip(),
        details=details,
        links=links([("View in Datadog", found["link"])]),
        images=[{"src": snapshot, "alt": summary}]
        if snapshot.startswith(("http://", "https://"))
        else [],
        occurred_at=timestamp(int(date) if date.isdigit() else date),
        priority=priority,
        raw=item,
    )


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    errors: list[str] = []
    if isinstance(body, list):
        if not body:
            raise InvalidPayload(["The body must not be an empty list."])
        found = [_event(item, f"{index}.", errors) for index, item in enumerate(body)]
    elif isinstance(body, dict):
        found = [_event(body, "", errors)]
    else:
        raise InvalidPayload(["The body must be a JSON object or a list of them."])
    done(errors)
    return [event for event in found if event is not None]


SAMPLE = {
    "id": "7491253746290412345",
    "title": "[Triggered on {host:web-1}] [P2] High CPU on web-1",
    "body": "%%%\nCPU usage on web-1 has been above 90% for 5 minutes.\n%%%",
    "date": "1763630043000",
    "last_updated": "1763630043000",
    "event_type": "query_alert_monitor",
    "alert_id": "1234567",
    "alert_cycle_key": "7491253746290412345",
    "aggreg_key": "a8f0c7b8e1d94f2e8e0b3f0a7c6d5e4f",
    "alert_transition": "Triggered",
    "alert_type": "error",
    "alert_priority": "P2",
    "alert_title": "High CPU on web-1",
    "alert_status": "system.cpu.user over host:web-1 was > 90.0 on average during the last 5m.",
    "alert_scope": "host:web-1",
    "alert_query": "avg(last_5m):avg:system.cpu.user{*} by {host} > 90",
    "hostname": "web-1",
    "link": "https://app.datadoghq.com/event/event?id=7491253746290412345",
    "snapshot": "",
    "tags": "env:prod,monitor,role:web",
    "org": {"id": "123456", "name": "Example Inc"},
}

PROVIDER = Provider(kind="datadog", parse=parse, body="json-or-form", sample=SAMPLE)
