"""Better Stack (Better Uptime) incident webhooks (Better Stack docs, Uptime → "Webhooks" →
Incident webhook; Integrations → Exporting data → Outgoing webhooks → Incident).

Body: a JSON:API resource, `{"data": {"id", "type": "incident", "attributes": {name, url,
http_method, cause, started_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by,
status, team_name, regions, response_url, screenshot_url, ...}, "relationships": {"monitor":
...}}}`, sent when an incident starts, is acknowledged and is resolved. Older accounts also send
a top-level `"event": "started" | "acknowledged" | "resolved"` (the Better Uptime example);
newer ones `attributes.status` Started/Acknowledged/Resolved. Either is read, else the
timestamps (resolved_at, then acknowledged_at) decide.

Started triggers a critical incident (Better Stack incidents have no severity: it only opens one
when a monitor or heartbeat is down after its confirmation period), acknowledged acknowledges,
resolved resolves; one per Better Stack incident (dedup `betterstack-<data.id>`). Monitor and
on-call webhooks are a different webhook type and are refused by `data.type`. Better Stack does
not sign webhooks: generic X-OpsKnight-Signature; the key goes in the URL,
https://opsknight.example.com/api/v1/integrations/betterstack/<key>/.
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

ACTIONS = {
    "started": AlertAction.TRIGGER,
    "acknowledged": AlertAction.ACKNOWLEDGE,
    "resolved": AlertAction.RESOLVE,
}
VERBS = {
    AlertAction.TRIGGER: "",
    AlertAction.ACKNOWLEDGE: "acknowledged",
    AlertAction.RESOLVE: "resolved",
}
WHEN = {
    AlertAction.TRIGGER: "started_at",
    AlertAction.ACKNOWLEDGE: "acknowledged_at",
    AlertAction.RESOLVE: "resolved_at",
}


def _action(body: dict[str, Any], errors: list[str]) -> AlertAction:
    for field in ("event", "data.attributes.status"):
        word = text(body, field, errors).strip().lower()
        if word in ACTIONS:
            return ACTIONS[word]
        if word:
            errors.append(f"'{field}' must be one of started, acknowledged, resolved.")
            return AlertAction.TRIGGER
    if get_path(body, "data.attributes.resolved_at"):
        return AlertAction.RESOLVE
    if get_path(body, "data.attributes.acknowledged_at"):
        return AlertAction.ACKNOWLEDGE
    return AlertAction.TRIGGER


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    data = mapping(body, "data", errors, required=True)
    done(errors)
    incident_id = text(body, "data.id", errors, required=True, limit=64).strip()
    if text(body, "data.type", errors) != "incident":
        errors.append("'data.type' must be \"incident\" (configure an Incident webhook).")
    attributes = mapping(body, "data.attributes", errors, required=True)
    action = _action(body, errors)
    name = (
        text(body, "data.attributes.name", errors, limit=200).strip() or f"Incident {incident_id}"
    )
    cause = text(body, "data.attributes.cause", errors, limit=1000).strip()
    url = text(body, "data.attributes.url", errors, limit=255).strip()
    who = "resolved_by" if action == AlertAction.RESOLVE else "acknowledged_by"
    by = text(body, f"data.attributes.{who}", errors, limit=200).strip()
    response = text(body, "data.attributes.response_content", errors, limit=2000).strip()
    response_url = text(body, "data.attributes.response_url", errors)
    screenshot = text(body, "data.attributes.screenshot_url", errors)
    done(errors)
    summary = f"{name} {VERBS[action]}".strip()
    if by and action != AlertAction.TRIGGER:
        summary += f" by {by}"
    if cause:
        summary += f": {cause}"
    return [
        NormalizedEvent(
            action=action,
            dedup_key=f"betterstack-{incident_id}",
            summary=summary[:1024],
            severity=Severity.CRITICAL if action == AlertAction.TRIGGER else Severity.INFO,
            source=url or name,
            description="\n\n".join(part for part in (cause, response) if part),
            details={
                "incident_id": incident_id,
                **{k: body[k] for k in ("event",) if body.get(k)},
                "attributes": attributes,
                **{k: data[k] for k in ("relationships",) if data.get(k)},
            },
            links=links([("Monitored URL", url), ("Response", response_url)]),
            images=[{"src": screenshot, "alt": "Screenshot"}]
            if screenshot.startswith("https://")
            else [],
            occurred_at=timestamp(attributes.get(WHEN[action])),
        )
    ]


SAMPLE = {
    "data": {
        "id": "482913607",
        "type": "incident",
        "attributes": {
            "name": "Checkout API",
            "url": "https://checkout.example.com/health",
            "http_method": "get",
            "cause": "Status 503",
            "incident_group_id": None,
            "started_at": "2026-11-20T09:14:03.204Z",
            "acknowledged_at": None,
            "acknowledged_by": None,
            "resolved_at": None,
            "resolved_by": None,
            "status": "Started",
            "team_name": "Payments",
            "regions": ["us", "eu"],
            "response_content": "upstream connect error",
            "response_url": None,
            "screenshot_url": None,
        },
        "relationships": {"monitor": {"data": {"id": "2306519", "type": "monitor"}}},
    }
}

PROVIDER = Provider(kind="betterstack", parse=parse, sample=SAMPLE)
