"""Azure Monitor alerts in the common alert schema (an action group's webhook action with "Enable
the common alert schema" on; Azure Monitor docs "Common alert schema" and "Sample alert
payloads": the fixtures mirror the metric, log search and activity log samples there).

Body: `{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {...},
"alertContext": {...}, "customProperties": {...} | null}}`. One incident per alert instance:
dedup key `azure-<essentials.alertId>` (Azure keeps the alertId from Fired to Resolved).
monitorCondition Fired triggers, Resolved resolves. Severity Sev0 → critical, Sev1 → error,
Sev2 → warning, Sev3 and Sev4 → info. Summary: the alert rule and its target resources.
"""

from __future__ import annotations

from typing import Any

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import (
    InvalidPayload,
    done,
    get_path,
    items,
    links,
    mapping,
    require_object,
    text,
    timestamp,
)
from integrations.sources.registry import Provider

SCHEMA_ID = "azureMonitorCommonAlertSchema"
SEVERITIES = {
    "Sev0": Severity.CRITICAL,
    "Sev1": Severity.ERROR,
    "Sev2": Severity.WARNING,
    "Sev3": Severity.INFO,
    "Sev4": Severity.INFO,
}
CONDITIONS = {"Fired": AlertAction.TRIGGER, "Resolved": AlertAction.RESOLVE}


def _resource_name(resource_id: Any) -> str:
    """`vm-web-01` from `/subscriptions/…/virtualMachines/vm-web-01`."""
    return resource_id.rstrip("/").rsplit("/", 1)[-1] if isinstance(resource_id, str) else ""


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    if body.get("schemaId") != SCHEMA_ID:
        raise InvalidPayload(
            [f"'schemaId' must be \"{SCHEMA_ID}\" (enable the common alert schema on the action)."]
        )
    errors: list[str] = []
    essentials = mapping(body, "data.essentials", errors, required=True)
    context = mapping(body, "data.alertContext", errors)
    alert_id = text(body, "data.essentials.alertId", errors, required=True)
    rule = text(body, "data.essentials.alertRule", errors, limit=255)
    severity = essentials.get("severity")
    if essentials and (not isinstance(severity, str) or severity not in SEVERITIES):
        errors.append("'data.essentials.severity' must be one of Sev0, Sev1, Sev2, Sev3, Sev4.")
    condition = essentials.get("monitorCondition")
    if essentials and (not isinstance(condition, str) or condition not in CONDITIONS):
        errors.append("'data.essentials.monitorCondition' must be Fired or Resolved.")
    targets = items(body, "data.essentials.alertTargetIDs", errors)
    configuration_items = items(body, "data.essentials.configurationItems", errors)
    description = text(body, "data.essentials.description", errors, limit=4000)
    service = text(body, "data.essentials.monitoringService", errors, limit=100)
    investigation = text(body, "data.essentials.investigationLink", errors)
    criteria = items(body, "data.alertContext.condition.allOf", errors)
    done(errors)
    # Log alerts give full resource IDs as configuration items: keep the resource's name.
    names = [name for name in map(_resource_name, configuration_items) if name] or [
        name for name in map(_resource_name, targets) if name
    ]
    action = CONDITIONS[condition]
    occurred = timestamp(essentials.get("firedDateTime"))
    if action == AlertAction.RESOLVE:
        occurred = timestamp(essentials.get("resolvedDateTime")) or occurred
    summary = rule or description[:200] or "Azure Monitor alert"
    if names:
        summary = f"{rule or 'Azure Monitor alert'} on {', '.join(names[:3])}"
    search = next((c.get("linkToSearchResultsUI") for c in criteria if isinstance(c, dict)), None)
    return [
        NormalizedEvent(
            action=action,
            dedup_key=f"azure-{alert_id}",
            summary=summary,
            severity=SEVERITIES[severity],
            source=", ".join(names) or service or "azure",
            description=description,
            details={
                "essentials": essentials,
                "alertContext": context,
                "customProperties": get_path(body, "data.customProperties"),
            },
            links=links([("Investigate in Azure", investigation), ("Search results", search)]),
            occurred_at=occurred,
        )
    ]


SAMPLE = {
    "schemaId": SCHEMA_ID,
    "data": {
        "essentials": {
            "alertId": "/subscriptions/11111111-2222-3333-4444-555555555555/providers/"
            "Microsoft.AlertsManagement/alerts/b9569717-bc32-442f-add5-83a997729330",
            "alertRule": "checkout-vm-cpu-high",
            "severity": "Sev1",
            "signalType": "Metric",
            "monitorCondition": "Fired",
            "monitoringService": "Platform",
            "alertTargetIDs": [
                "/subscriptions/11111111-2222-3333-4444-555555555555/resourcegroups/checkout-prod"
                "/providers/microsoft.compute/virtualmachines/checkout-vm-01"
            ],
            "configurationItems": ["checkout-vm-01"],
            "originAlertId": "11111111-2222-3333-4444-555555555555_checkout-prod_"
            "microsoft.insights_metricAlerts_checkout-vm-cpu-high_1446707806",
            "firedDateTime": "2026-11-20T09:14:03.3713213Z",
            "description": "CPU above 90% for 5 minutes on a checkout VM",
            "essentialsVersion": "1.0",
            "alertContextVersion": "1.0",
        },
        "alertContext": {
            "properties": None,
            "conditionType": "SingleResourceMultipleMetricCriteria",
            "condition": {
                "windowSize": "PT5M",
                "allOf": [
                    {
                        "metricName": "Percentage CPU",
                        "metricNamespace": "Microsoft.Compute/virtualMachines",
                        "operator": "GreaterThan",
                        "threshold": "90",
                        "timeAggregation": "Average",
                        "dimensions": [],
                        "metricValue": 97.3,
                    }
                ],
                "windowStartTime": "2026-11-20T09:08:55.000Z",
                "windowEndTime": "2026-11-20T09:13:55.000Z",
            },
        },
        "customProperties": None,
    },
}

PROVIDER = Provider(kind="azure", parse=parse, sample=SAMPLE)
