"""Honeycomb trigger (and burn alert) webhooks.

Reads the payload Honeycomb documents for webhook recipients of triggers (docs.honeycomb.io
"Webhook integrations"; the same body as honeycombio/example-trigger-webhook-listener):
`{version, shared_secret?, id, name, trigger_description, status: TRIGGERED|OK, summary,
description, operator, threshold, result_url, result_groups, result_groups_triggered,
trigger_url, is_test}`. SLO burn alerts send the same envelope with `slo_url`/`sli_url`.

- `TRIGGERED` triggers, `OK` resolves; one incident per trigger: `honeycomb-<id>` (older
  payloads without an id: a hash of the trigger's name).
- The groups over the threshold (`result_groups_triggered`) go to the description and details.
- Severity: a `severity` field if the recipient's template adds one, else critical (a trigger
  someone routed to on-call is meant to page, as Honeycomb's own PagerDuty recipient does).
- The recipient's "Test" button sends `is_test: true`: accepted, no event.

Authentication: Honeycomb sends the recipient's secret as is, in `X-Honeycomb-Webhook-Token`
(older recipients put it in the body as `shared_secret`); it must equal the integration's
signing secret (compared in constant time).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from django.http import HttpRequest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import (
    done,
    get_path,
    items,
    links,
    require_object,
    severity_from,
    stable_key,
    text,
)
from integrations.sources.registry import Provider

STATUSES = {"triggered": AlertAction.TRIGGER, "ok": AlertAction.RESOLVE}
GROUPS_SHOWN = 20


def _group_line(group: Any) -> str:
    labels = get_path(group, "Group")
    value = get_path(group, "Result")
    where = ", ".join(f"{k}={v}" for k, v in labels.items()) if isinstance(labels, dict) else ""
    return f"{where or 'all'}: {value}"


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    status = text(body, "status", errors, required=True).lower()
    if status and status not in STATUSES:
        errors.append("'status' must be TRIGGERED or OK.")
    trigger_id = text(body, "id", errors)
    name = text(body, "name", errors, limit=300)
    if not trigger_id and not name and not errors:
        errors.append("'id' is missing.")
    description = text(body, "description", errors, limit=2000)
    about = text(body, "trigger_description", errors, limit=2000)
    severity = text(body, "severity", errors)
    groups = items(body, "result_groups_triggered", errors)
    done(errors)
    if body.get("is_test") is True:
        return []
    action = STATUSES[status]
    shown = [_group_line(group) for group in groups[:GROUPS_SHOWN]]
    more = len(groups) - len(shown)
    lines = [about, description, *shown, f"… and {more} more groups" if more > 0 else ""]
    return [
        NormalizedEvent(
            action=action,
            dedup_key=f"honeycomb-{trigger_id}" if trigger_id else stable_key("honeycomb", name),
            summary=name or f"Honeycomb trigger {trigger_id}",
            severity=severity_from(severity, default=Severity.CRITICAL),
            source="honeycomb",
            description="\n".join(line for line in lines if line),
            details={
                "status": body.get("status"),
                **{
                    field: body.get(field)
                    for field in ("id", "alert_type", "operator", "threshold", "summary")
                    if body.get(field) is not None
                },
                "result_groups_triggered": groups[:GROUPS_SHOWN],
            },
            links=links(
                [
                    ("Query result", body.get("result_url")),
                    ("Trigger", body.get("trigger_url")),
                    ("SLO", body.get("slo_url")),
                ]
            ),
            # Stored as the alert's payload: without the secret older recipients put in it.
            raw={k: v for k, v in body.items() if k != "shared_secret"},
        )
    ]


def verify(request: HttpRequest, secret: str) -> bool:
    """The recipient's secret in `X-Honeycomb-Webhook-Token`, or `shared_secret` in the body."""
    supplied = request.headers.get("X-Honeycomb-Webhook-Token", "")
    if not supplied:
        try:
            body = json.loads(request.body)
        except (ValueError, RecursionError):
            return False
        shared = body.get("shared_secret") if isinstance(body, dict) else None
        supplied = shared if isinstance(shared, str) else ""
    return bool(supplied) and hmac.compare_digest(supplied.encode(), secret.encode())


SAMPLE = {
    "version": "v0.1.0",
    "id": "2cVZ8xWq1Lm",
    "name": "Checkout p99 latency",
    "trigger_description": "p99 of duration_ms for checkout over 2s",
    "status": "TRIGGERED",
    "summary": "Triggered: Checkout p99 latency",
    "description": "Currently greater than threshold value (2000) for P99(duration_ms)",
    "operator": "greater than",
    "threshold": 2000,
    "result_url": "https://ui.honeycomb.io/acme/environments/production/datasets/checkout/result/8KwE3r5Ty1p",
    "result_groups": [{"Group": {"service.name": "checkout"}, "Result": 2511.3}],
    "result_groups_triggered": [{"Group": {"service.name": "checkout"}, "Result": 2511.3}],
    "trigger_url": "https://ui.honeycomb.io/acme/environments/production/datasets/checkout/triggers/2cVZ8xWq1Lm",
    "is_test": False,
}

PROVIDER = Provider(
    kind="honeycomb",
    parse=parse,
    verify=verify,
    sample=SAMPLE,
    signature_help="Send the webhook's shared secret in X-Honeycomb-Webhook-Token.",
)
