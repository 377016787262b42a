"""Elastic / Kibana alerting rules, through a Kibana Webhook connector with this body template.

Kibana's webhook connector posts whatever body its action template renders (Kibana docs,
"Rule action variables"), so this is the template we document and read. Use it as the action's
body on both the rule's run action group and its "Recovered" group:

    {
      "rule": {"id": "{{rule.id}}", "name": "{{rule.name}}", "type": "{{rule.type}}",
               "spaceId": "{{rule.spaceId}}", "tags": "{{rule.tags}}", "url": "{{rule.url}}"},
      "alert": {"id": "{{alert.id}}", "uuid": "{{alert.uuid}}",
                "actionGroup": "{{alert.actionGroup}}",
                "actionGroupName": "{{alert.actionGroupName}}"},
      "context": {"reason": "{{context.reason}}", "message": "{{context.message}}",
                  "alertDetailsUrl": "{{context.alertDetailsUrl}}"},
      "date": "{{date}}",
      "kibanaBaseUrl": "{{kibanaBaseUrl}}"
    }

Optional literal fields: `"status": "active" | "recovered"` (else `alert.actionGroup ==
"recovered"` says so, as Kibana sets it for recovery actions) and `"severity": "critical"` (else
the action group's words, e.g. `metrics.threshold.warning` → warning; otherwise error). Tags may
be a list or Kibana's comma-joined text. Variables a rule type lacks render empty: ignored.

- Recovered → resolve; anything else → trigger.
- One incident per rule and alert (the alert id is the group: a host, a monitor, "query
  matched"): `elastic-<rule.id>-<alert.id>`, or `elastic-<rule.id>` without an alert id.
- Summary `<rule name>: <alert id>` (the rule name alone for rule-wide alerts such as an ES
  query's "query matched"); the reason and message make the description.

Authentication: Kibana cannot compute an HMAC of the body. With a signing secret set, send it as
a static header of the connector, `X-OpsKnight-Token: <secret>` (compared in constant time); a
generic `X-OpsKnight-Signature: sha256=<hex>` from a proxy that can sign is accepted too.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.http import HttpRequest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import (
    action_from,
    done,
    get_path,
    links,
    mapping,
    require_object,
    severity_from,
    text,
    timestamp,
)
from integrations.sources.registry import Provider

RECOVERED = "recovered"
# Alert ids of rule types that raise one alert per rule (ES query, index threshold without
# groups): they name no host or group, so the rule's name stands for the source.
RULE_WIDE_IDS = {"query matched", "all documents"}


def _tags(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return []
    return [tag.strip() for tag in value if isinstance(tag, str) and tag.strip()]


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    mapping(body, "rule", errors, required=True)
    alert = mapping(body, "alert", errors)
    mapping(body, "context", errors)
    rule_id = text(body, "rule.id", errors, required=True)
    rule_name = text(body, "rule.name", errors, limit=300)
    alert_id = text(body, "alert.id", errors, limit=300)
    group = text(body, "alert.actionGroup", errors)
    status = text(body, "status", errors)
    severity = text(body, "severity", errors)
    reason = text(body, "context.reason", errors, limit=5000)
    message = text(body, "context.message", errors, limit=5000)
    done(errors)
    recovered = group == RECOVERED or action_from(status) == AlertAction.RESOLVE
    name = rule_name or f"Rule {rule_id}"
    subject = "" if alert_id in RULE_WIDE_IDS or alert_id == rule_id else alert_id
    return [
        NormalizedEvent(
            action=AlertAction.RESOLVE if recovered else AlertAction.TRIGGER,
            dedup_key=f"elastic-{rule_id}-{alert_id}" if alert_id else f"elastic-{rule_id}",
            summary=f"{name}: {subject}" if subject else name,
            severity=severity_from(severity or group, default=Severity.ERROR),
            source=subject or name,
            description="\n\n".join(part for part in (reason, message) if part),
            details={
                "rule": {
                    "id": rule_id,
                    "name": rule_name,
                    "type": get_path(body, "rule.type"),
                    "spaceId": get_path(body, "rule.spaceId"),
                    "tags": _tags(get_path(body, "rule.tags")),
                },
                "alert": {
                    k: alert.get(k) for k in ("id", "uuid", "actionGroup", "actionGroupName")
                },
            },
            links=links(
                [
                    ("Alert details", get_path(body, "context.alertDetailsUrl")),
                    ("Rule", get_path(body, "rule.url")),
                ]
            ),
            occurred_at=timestamp(body.get("date")),
        )
    ]


def verify(request: HttpRequest, secret: str) -> bool:
    """A static `X-OpsKnight-Token` equal to the secret (what a Kibana connector can send), or
    the generic `X-OpsKnight-Signature: sha256=<hex HMAC-SHA256 of the body>`."""
    token = request.headers.get("X-OpsKnight-Token", "")
    if token and hmac.compare_digest(token.encode(), secret.encode()):
        return True
    supplied = request.headers.get("X-OpsKnight-Signature", "").strip().lower()
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return bool(supplied) and hmac.compare_digest(supplied.encode(), expected.encode())


SAMPLE = {
    "rule": {
        "id": "7f1c3a50-6b2e-11ef-9a4d-3b1f2c5d8e90",
        "name": "High CPU on web hosts",
        "type": "metrics.alert.threshold",
        "spaceId": "default",
        "tags": "team:web,prod",
        "url": "https://kibana.example.com/app/observability/alerts/rules/7f1c3a50-6b2e-11ef-9a4d-3b1f2c5d8e90",
    },
    "alert": {
        "id": "web-3",
        "uuid": "1d2f7e5c-94a1-4b0c-8f6e-2a9b3c4d5e6f",
        "actionGroup": "metrics.threshold.fired",
        "actionGroupName": "Alert",
    },
    "context": {
        "reason": "system.cpu.total.norm is 96.2% in the last 5 mins for web-3. Alert when > 90%.",
        "message": "",
        "alertDetailsUrl": "https://kibana.example.com/app/observability/alerts/1d2f7e5c-94a1-4b0c-8f6e-2a9b3c4d5e6f",
    },
    "date": "2026-11-20T09:14:03.512Z",
    "kibanaBaseUrl": "https://kibana.example.com",
}

PROVIDER = Provider(
    kind="elastic",
    parse=parse,
    verify=verify,
    sample=SAMPLE,
    signature_help="Send X-OpsKnight-Token: <secret> (or an HMAC-SHA256 signature).",
)
