"""Uptime Kuma webhook notifications (Notifications → Webhook, "application/json" preset).

Body: `{"heartbeat": {...} | null, "monitor": {...} | null, "msg": "..."}`. A heartbeat's status
is 0 (down), 1 (up), 2 (pending) or 3 (maintenance). Down triggers, up resolves, one incident
per monitor (dedup key `uptime-kuma-<monitor id>`); pending and maintenance change nothing. The
"Test" button sends only `msg`: accepted, no event.
"""

from __future__ import annotations

from typing import Any

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import (
    done,
    get_path,
    links,
    mapping,
    require_object,
    text,
    timestamp,
)
from integrations.sources.registry import Provider

DOWN, UP = 0, 1


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    message = text(body, "msg", errors)
    heartbeat = mapping(body, "heartbeat", errors)
    monitor = mapping(body, "monitor", errors)
    if not heartbeat and not errors:
        if "msg" not in body:
            errors.append("'heartbeat' is missing.")
        done(errors)
        return []  # a test notification
    status = get_path(heartbeat, "status")
    if isinstance(status, bool) or status not in (0, 1, 2, 3):
        errors.append("'heartbeat.status' must be 0, 1, 2 or 3.")
    monitor_id = text(heartbeat, "monitorID", errors) or text(monitor, "id", errors)
    if not monitor_id:
        errors.append("'heartbeat.monitorID' is missing.")
    name = text(monitor, "name", errors, limit=200)
    done(errors)
    if status not in (DOWN, UP):
        return []
    summary = f"{name or 'Monitor ' + monitor_id} is {'down' if status == DOWN else 'up'}"
    detail = text(heartbeat, "msg", errors, limit=1000)
    return [
        NormalizedEvent(
            action=AlertAction.TRIGGER if status == DOWN else AlertAction.RESOLVE,
            dedup_key=f"uptime-kuma-{monitor_id}",
            summary=f"{summary}: {detail}" if detail else summary,
            severity=Severity.CRITICAL if status == DOWN else Severity.INFO,
            source=text(monitor, "url", errors, limit=255) or text(monitor, "hostname", errors),
            description=message,
            details={
                "heartbeat": heartbeat,
                "monitor": {k: monitor.get(k) for k in ("id", "name", "type", "url")},
            },
            links=links([("Monitor", monitor.get("url"))]),
            occurred_at=timestamp(get_path(heartbeat, "time")),
        )
    ]


SAMPLE = {
    "heartbeat": {
        "monitorID": 7,
        "status": 0,
        "time": "2026-11-20 09:14:03.512",
        "msg": "Request failed with status code 503",
        "important": True,
        "duration": 60,
    },
    "monitor": {
        "id": 7,
        "name": "Checkout API",
        "type": "http",
        "url": "https://checkout.example.com/health",
    },
    "msg": "[Checkout API] [🔴 Down] Request failed with status code 503",
}

PROVIDER = Provider(kind="uptime-kuma", parse=parse, sample=SAMPLE)
