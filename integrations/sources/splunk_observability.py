"""Splunk Observability Cloud (SignalFx) detector notifications through a Webhook integration.

Reads the default payload of Splunk's "Send alert notifications to a webhook" / dev.splunk.com
"Integrate a webhook with Splunk Observability Cloud": `{severity, originatingMetric,
detectOnCondition, detectOffCondition, messageBody, messageTitle, inputs, rule, description,
sf_schema, eventType, runbookUrl, orgId, detectorId, imageUrl, tip, statusExtended, incidentId,
detector, detectorUrl, status, timestamp, dimensions}`.

- `anomalous` triggers; `ok`, `stopped` (the detector was stopped) and `manually resolved`
  resolve. `statusExtended` is read first (it says "manually resolved"), then `status`.
- One incident per Splunk incident: `splunk-observability-<incidentId>`, the id Splunk keeps from
  the alert until it clears.
- Severity: Critical → critical, Major → error, Minor and Warning → warning, Info → info.
- Summary: the message title Splunk writes ("Critical Alert: <detector> (<rule>)"); the message
  body or description below; the detector's chart image attached.

Signature: with a shared secret on the integration, `X-SFX-Signature` is the base64 HMAC-SHA256
of the body keyed with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from django.http import HttpRequest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction
from integrations.sources.common import (
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

STATUSES = {
    "anomalous": AlertAction.TRIGGER,
    "ok": AlertAction.RESOLVE,
    "stopped": AlertAction.RESOLVE,
    "manually resolved": AlertAction.RESOLVE,
}
SOURCE_DIMENSIONS = ("host", "host.name", "service.name", "sf_service", "kubernetes_pod_name")


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    incident_id = text(body, "incidentId", errors, required=True)
    extended = text(body, "statusExtended", errors).lower()
    status = text(body, "status", errors).lower()
    word = next((w for w in (extended, status) if w in STATUSES), "")
    if not word and not errors:
        errors.append("'status' must be anomalous, ok, stopped or manually resolved.")
    detector = text(body, "detector", errors, limit=300)
    rule = text(body, "rule", errors, limit=300)
    title = text(body, "messageTitle", errors, limit=500)
    severity = text(body, "severity", errors)
    message = text(body, "messageBody", errors, limit=5000)
    description = text(body, "description", errors, limit=5000)
    dimensions = mapping(body, "dimensions", errors)
    image = text(body, "imageUrl", errors)
    done(errors)
    source = next(
        (dimensions[d] for d in SOURCE_DIMENSIONS if isinstance(dimensions.get(d), str)),
        detector,
    )
    fallback = f"{detector} ({rule})" if detector and rule else detector or rule
    return [
        NormalizedEvent(
            action=STATUSES[word],
            dedup_key=f"splunk-observability-{incident_id}",
            summary=title or fallback or f"Splunk Observability incident {incident_id}",
            severity=severity_from(severity),
            source=source or "splunk-observability",
            description=message.strip() or description,
            details={
                "status": body.get("status"),
                "statusExtended": body.get("statusExtended"),
                "severity": severity,
                "detector": detector,
                "detectorId": body.get("detectorId"),
                "rule": rule,
                "originatingMetric": body.get("originatingMetric"),
                "detectOnCondition": body.get("detectOnCondition"),
                "dimensions": dimensions,
                "inputs": body.get("inputs"),
            },
            links=links(
                [("Detector", body.get("detectorUrl")), ("Runbook", body.get("runbookUrl"))]
            ),
            images=[{"src": image, "alt": detector or "Detector chart"}]
            if image.startswith("https://")
            else [],
            occurred_at=timestamp(get_path(body, "timestamp")),
        )
    ]


def verify(request: HttpRequest, secret: str) -> bool:
    """`X-SFX-Signature`: base64 HMAC-SHA256 of the raw body, keyed by the shared secret."""
    supplied = request.headers.get("X-SFX-Signature", "").strip()
    digest = hmac.new(secret.encode(), request.body, hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    return bool(supplied) and hmac.compare_digest(supplied.encode(), expected.encode())


SAMPLE = {
    "severity": "Critical",
    "originatingMetric": "cpu.utilization",
    "detectOnCondition": "when(A > threshold(90), lasting='5m')",
    "detectOffCondition": "",
    "messageBody": 'Rule "CPU over 90%" in detector "Web tier CPU" triggered at '
    "Fri, 20 Nov 2026 09:14:03 GMT.\n\nSignal value for cpu.utilization: 96.2",
    "inputs": {"A": {"value": "96.2", "fragment": "data('cpu.utilization')", "dimensions": {}}},
    "rule": "CPU over 90%",
    "description": "The value of cpu.utilization is above 90 for 5m.",
    "messageTitle": "Critical Alert: Web tier CPU (CPU over 90%)",
    "sf_schema": 2,
    "eventType": "FgUqV9vAYAA__FgUqV9HAcAA__CPU over 90%",
    "runbookUrl": "",
    "orgId": "FXz4y2dAgAA",
    "detectorId": "FgUqV9HAcAA",
    "imageUrl": "",
    "tip": "",
    "statusExtended": "anomalous",
    "incidentId": "FgUs1xrAYAA",
    "detector": "Web tier CPU",
    "detectorUrl": "https://app.us1.signalfx.com/#/detector/FgUqV9HAcAA/edit?incidentId=FgUs1xrAYAA",
    "status": "anomalous",
    "timestamp": "2026-11-20T09:14:03Z",
    "dimensions": {"host": "web-3", "sf_metric": "cpu.utilization"},
}

PROVIDER = Provider(kind="splunk-observability", parse=parse, verify=verify, sample=SAMPLE)
