"""Google Cloud Monitoring webhook notifications, schema version 1.2 (Cloud Monitoring docs,
"Create and manage notification channels" → Webhooks → "Schema structure"; the fixtures mirror
its metric-threshold and uptime-check examples, and the "Test connection" body).

Body: `{"version": "1.2", "incident": {...}}`. One incident per Cloud Monitoring incident:
dedup key `gcp-<incident.incident_id>`. state open triggers, acknowledged acknowledges, closed
resolves. Severity from the policy's `severity` (Critical/Error/Warning), else a `severity`
user label on the policy, else warning. Summary: the documentation's subject line when the
policy sets one, else the incident summary. The "Test connection" button sends version "test":
accepted, no event.
"""

from __future__ import annotations

from typing import Any

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import (
    done,
    get_path,
    items,
    links,
    mapping,
    require_object,
    severity_from,
    text,
    timestamp,
)
from integrations.sources.registry import Provider

STATES = {
    "open": AlertAction.TRIGGER,
    "acknowledged": AlertAction.ACKNOWLEDGE,
    "closed": AlertAction.RESOLVE,
}
DETAIL_FIELDS = (
    "policy_name",
    "condition_name",
    "scoping_project_id",
    "resource",
    "resource_type_display_name",
    "metric",
    "observed_value",
    "threshold_value",
    "policy_user_labels",
    "metadata",
)


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    version = text(body, "version", errors, required=True)
    incident = mapping(body, "incident", errors, required=True)
    if version == "test":
        done(errors)
        return []  # "Test connection" in the notification channel's settings
    if version and version != "1.2":
        errors.append("'version' must be \"1.2\".")
    incident_id = text(body, "incident.incident_id", errors, required=True)
    state = get_path(incident, "state")
    if incident and (not isinstance(state, str) or state.lower() not in STATES):
        errors.append("'incident.state' must be open, acknowledged or closed.")
    summary = text(body, "incident.summary", errors, limit=1000)
    subject = text(body, "incident.documentation.subject", errors, limit=255)
    content = text(body, "incident.documentation.content", errors, limit=10000)
    policy = text(body, "incident.policy_name", errors, limit=255)
    condition = text(body, "incident.condition_name", errors, limit=255)
    severity = text(body, "incident.severity", errors) or text(
        body, "incident.policy_user_labels.severity", errors
    )
    resource = text(body, "incident.resource_display_name", errors, limit=255) or text(
        body, "incident.resource_name", errors, limit=255
    )
    resource = resource or text(body, "incident.resource.type", errors, limit=255)
    url = text(body, "incident.url", errors)
    documented = items(body, "incident.documentation.links", errors)
    done(errors)
    action = STATES[state.lower()]
    started = timestamp(incident.get("started_at"))
    ended = timestamp(incident.get("ended_at"))
    return [
        NormalizedEvent(
            action=action,
            dedup_key=f"gcp-{incident_id}",
            summary=subject
            or summary
            or ": ".join(filter(None, (policy, condition)))
            or incident_id,
            severity=severity_from(severity, Severity.WARNING),
            source=resource or "gcp",
            description=content or summary,
            details={k: incident[k] for k in DETAIL_FIELDS if incident.get(k) not in (None, "")},
            links=links(
                [("Cloud Monitoring incident", url)]
                + [
                    (str(link.get("displayName") or "Documentation"), link.get("url"))
                    for link in documented
                    if isinstance(link, dict)
                ]
            ),
            occurred_at=(ended or started) if action == AlertAction.RESOLVE else started,
        )
    ]


SAMPLE = {
    "version": "1.2",
    "incident": {
        "incident_id": "0.opqiw61fsv7p",
        "scoping_project_id": "checkout-prod",
        "scoping_project_number": 12345678901,
        "url": "https://console.cloud.google.com/monitoring/alerting/incidents/0.opqiw61fsv7p"
        "?project=checkout-prod",
        "started_at": 1795165200,
        "ended_at": None,
        "state": "open",
        "summary": "CPU utilization for checkout-vm-01 is above the threshold of 0.900 with a "
        "value of 0.973.",
        "observed_value": "0.973",
        "threshold_value": "0.9",
        "resource": {
            "type": "gce_instance",
            "labels": {"instance_id": "4012345678901234567", "zone": "europe-west1-b"},
        },
        "resource_type_display_name": "VM Instance",
        "resource_display_name": "checkout-vm-01",
        "metric": {
            "type": "compute.googleapis.com/instance/cpu/utilization",
            "displayName": "CPU utilization",
            "labels": {},
        },
        "policy_name": "Checkout VM CPU high",
        "policy_user_labels": {"team": "checkout"},
        "condition_name": "VM Instance - CPU utilization above 90%",
        "severity": "Critical",
    },
}

PROVIDER = Provider(kind="gcp", parse=parse, sample=SAMPLE)
