"""New Relic alert notifications, in the two webhook shapes New Relic sends.

Workflows (New Relic docs "Webhook" destination, the workflow's default payload template:
`id` = issueId, issueUrl, title, priority, state, totalIncidents, createdAt/updatedAt in
milliseconds, alertPolicyNames, alertConditionNames, impactedEntities…; templates that send
`issueId` or the `accumulations` object are read too). state CREATED/ACTIVATED triggers,
ACKNOWLEDGED acknowledges, CLOSED resolves; dedup key `newrelic-<issueId>`; priority CRITICAL →
critical, HIGH → error, MEDIUM → warning, LOW → info.

Legacy alert-channel webhooks (docs "Customize your webhook payload", the default webhook
body: incident_id, current_state open/acknowledged/closed, severity CRITICAL/WARNING/INFO,
details, condition_name, policy_name, incident_url, timestamp…): same mapping by
current_state, dedup key `newrelic-<incident_id>`.
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
    require_object,
    severity_from,
    text,
    timestamp,
)
from integrations.sources.registry import Provider

ISSUE_STATES = {
    "CREATED": AlertAction.TRIGGER,
    "ACTIVATED": AlertAction.TRIGGER,
    "ACKNOWLEDGED": AlertAction.ACKNOWLEDGE,
    "CLOSED": AlertAction.RESOLVE,
}
LEGACY_STATES = {
    "open": AlertAction.TRIGGER,
    "acknowledged": AlertAction.ACKNOWLEDGE,
    "closed": AlertAction.RESOLVE,
}
PRIORITIES = {
    "CRITICAL": Severity.CRITICAL,
    "HIGH": Severity.ERROR,
    "MEDIUM": Severity.WARNING,
    "LOW": Severity.INFO,
}

ISSUE_DETAILS = (
    "priority", "state", "trigger", "totalIncidents", "isCorrelated", "sources",
    "alertPolicyNames", "alertConditionNames", "impactedEntities", "workflowName",
)  # fmt: skip
LEGACY_DETAILS = (
    "account_id", "account_name", "policy_name", "condition_name", "condition_id", "severity",
    "current_state", "event_type", "targets",
)  # fmt: skip


def _names(body: dict[str, Any], field: str, accumulated: str, errors: list[str]) -> list[str]:
    """A list of names, from the default template's field or the workflow's accumulations."""
    found = items(body, field, errors)
    if not found and accumulated:
        found = items(body, f"accumulations.{accumulated}", errors)
    return list(dict.fromkeys(name for name in found if isinstance(name, str) and name))


def _state(value: Any, states: dict[str, AlertAction], where: str, errors: list[str]) -> Any:
    by_word = {name.lower(): action for name, action in states.items()}
    action = by_word.get(value.strip().lower()) if isinstance(value, str) else None
    if action is None:
        errors.append(f"'{where}' must be one of {', '.join(states)}.")
    return action


def _issue(body: dict[str, Any]) -> NormalizedEvent:
    errors: list[str] = []
    issue_id = text(body, "issueId", errors) or text(body, "id", errors)
    if not issue_id:
        errors.append("'id' is missing (the workflow's issueId).")
    action = _state(body.get("state"), ISSUE_STATES, "state", errors)
    title = text(body, "title", errors, limit=1000)
    priority = text(body, "priority", errors).upper()
    url = text(body, "issueUrl", errors) or text(body, "issuePageUrl", errors)
    entities = _names(body, "impactedEntities", "", errors)
    policies = _names(body, "alertPolicyNames", "policyName", errors)
    conditions = _names(body, "alertConditionNames", "conditionName", errors)
    done(errors)
    changed = "createdAt" if action == AlertAction.TRIGGER else "updatedAt"
    return NormalizedEvent(
        action=action,
        dedup_key=f"newrelic-{issue_id}",
        summary=title or ", ".join(conditions) or f"New Relic issue {issue_id}",
        severity=PRIORITIES.get(priority, Severity.WARNING),
        source=", ".join(entities) or "newrelic",
        description="\n".join(
            line
            for line in (
                f"Policies: {', '.join(policies)}" if policies else "",
                f"Conditions: {', '.join(conditions)}" if conditions else "",
            )
            if line
        ),
        details={k: body[k] for k in ISSUE_DETAILS if k in body},
        links=links([("New Relic issue", url)]),
        occurred_at=timestamp(body.get(changed)) or timestamp(body.get("updatedAt")),
    )


def _legacy(body: dict[str, Any]) -> NormalizedEvent:
    errors: list[str] = []
    incident_id = text(body, "incident_id", errors, required=True)
    action = _state(body.get("current_state"), LEGACY_STATES, "current_state", errors)
    details = text(body, "details", errors, limit=1000)
    condition = text(body, "condition_name", errors, limit=255)
    policy = text(body, "policy_name", errors, limit=255)
    severity = text(body, "severity", errors)
    targets = items(body, "targets", errors)
    done(errors)
    target_names = [t.get("name") for t in targets if isinstance(t, dict)]
    return NormalizedEvent(
        action=action,
        dedup_key=f"newrelic-{incident_id}",
        summary=details or ": ".join(filter(None, (policy, condition))) or incident_id,
        severity=severity_from(severity, Severity.WARNING),
        source=", ".join(n for n in target_names if isinstance(n, str)) or "newrelic",
        description=": ".join(filter(None, (policy, condition))),
        details={k: body[k] for k in LEGACY_DETAILS if k in body},
        links=links(
            [
                ("New Relic incident", get_path(body, "incident_url")),
                ("Violation chart", get_path(body, "violation_chart_url")),
                ("Runbook", get_path(body, "runbook_url")),
            ]
        ),
        occurred_at=timestamp(body.get("timestamp")),
    )


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    if "current_state" in body or "incident_id" in body:
        return [_legacy(body)]
    return [_issue(body)]


SAMPLE = {
    "id": "c5faa7e6-7b54-402d-af79-f99601e0278c",
    "issueUrl": "https://radar-api.service.newrelic.com/accounts/4420147/issues/"
    "c5faa7e6-7b54-402d-af79-f99601e0278c?notifier=WEBHOOK",
    "title": "checkout-api query result is > 5.0 for 5 minutes on 'Checkout error rate'",
    "priority": "CRITICAL",
    "impactedEntities": ["checkout-api"],
    "totalIncidents": 1,
    "state": "ACTIVATED",
    "trigger": "STATE_CHANGE",
    "isCorrelated": False,
    "createdAt": 1795165200000,
    "updatedAt": 1795165260000,
    "sources": ["newrelic"],
    "alertPolicyNames": ["Checkout golden signals"],
    "alertConditionNames": ["Checkout error rate"],
    "workflowName": "Checkout on-call",
}

PROVIDER = Provider(kind="newrelic", parse=parse, sample=SAMPLE)
