"""Dynatrace problem notifications by a custom webhook integration (Dynatrace docs "Problem
notifications → Webhook integration": the default custom payload with its placeholders {State},
{ProblemID}, {PID}, {ProblemTitle}, {ProblemImpact}, {ProblemSeverity}, {ProblemURL},
{ImpactedEntity}, {ImpactedEntities}, {ProblemDetailsJSON}, {Tags}; the fixtures mirror it,
plus ProblemSeverity, which the default template leaves out).

One incident per problem: dedup key `dynatrace-<PID>` (the problem's unique system id; the
display ProblemID when a template leaves PID out). State OPEN triggers, RESOLVED resolves and so
does MERGED (the problem lives on inside another one). ProblemSeverity AVAILABILITY →
critical, ERROR → error, PERFORMANCE, RESOURCE_CONTENTION, CUSTOM_ALERT and
MONITORING_UNAVAILABLE → warning, INFO → info; warning when the template leaves it out. The
"Send test notification" run (title "Dynatrace problem notification test run") is accepted
without an event.
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
    text,
    timestamp,
)
from integrations.sources.registry import Provider

TEST_TITLE = "Dynatrace problem notification test run"
STATES = {
    "OPEN": AlertAction.TRIGGER,
    "RESOLVED": AlertAction.RESOLVE,
    "MERGED": AlertAction.RESOLVE,
}
SEVERITIES = {
    "AVAILABILITY": Severity.CRITICAL,
    "ERROR": Severity.ERROR,
    "PERFORMANCE": Severity.WARNING,
    "RESOURCE_CONTENTION": Severity.WARNING,
    "CUSTOM_ALERT": Severity.WARNING,
    "MONITORING_UNAVAILABLE": Severity.WARNING,
    "INFO": Severity.INFO,
}


def _tags(value: Any) -> list[str]:
    """`{Tags}` renders as "env:prod, team:checkout"; a template may send a list instead."""
    found = value.split(",") if isinstance(value, str) else value
    if not isinstance(found, list):
        return []
    return [tag.strip() for tag in found if isinstance(tag, str) and tag.strip()]


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    title = text(body, "ProblemTitle", errors, required=True, limit=500)
    state = text(body, "State", errors, required=True).upper()
    if state and state not in STATES:
        errors.append("'State' must be OPEN, RESOLVED or MERGED.")
    pid = text(body, "PID", errors, limit=200)
    problem_id = text(body, "ProblemID", errors, limit=100)
    if not pid and not problem_id:
        errors.append("'PID' is missing (or 'ProblemID').")
    severity = text(body, "ProblemSeverity", errors).upper()
    url = text(body, "ProblemURL", errors) or get_path(body, "Problem URL")
    impacted = text(body, "ImpactedEntity", errors, limit=255)
    entities = items(body, "ImpactedEntities", errors)
    tags = _tags(body.get("Tags"))
    details_text = text(body, "ProblemDetailsText", errors, limit=10000)
    done(errors)
    if title == TEST_TITLE:
        return []
    action = STATES[state]
    names = [e["name"] for e in entities if isinstance(e, dict) and isinstance(e.get("name"), str)]
    where = ", ".join(names[:3]) or impacted
    moment = "startTime" if action == AlertAction.TRIGGER else "endTime"
    millis = get_path(body, f"ProblemDetailsJSON.{moment}")
    return [
        NormalizedEvent(
            action=action,
            dedup_key=f"dynatrace-{pid or problem_id}",
            summary=f"{title} on {where}" if where else title,
            severity=SEVERITIES.get(severity, Severity.WARNING),
            source=impacted or ", ".join(names) or "dynatrace",
            description=details_text,
            details={
                "ProblemID": problem_id,
                "PID": pid,
                "State": state,
                "ProblemSeverity": severity,
                "ProblemImpact": body.get("ProblemImpact"),
                "ImpactedEntities": entities,
                "Tags": tags,
            },
            links=links([("Dynatrace problem", url)]),
            # Dynatrace writes -1 for "no end time yet".
            occurred_at=timestamp(millis) if isinstance(millis, int) and millis > 0 else None,
        )
    ]


SAMPLE = {
    "ImpactedEntities": [
        {"type": "SERVICE", "name": "checkout-api", "entity": "SERVICE-5E8B5C9DF0A4D1C2"}
    ],
    "ImpactedEntity": "checkout-api",
    "PID": "-4373281942417390123_1795165200000V2",
    "ProblemDetailsText": "Failure rate increase\nService checkout-api: failure rate 12.4% "
    "(threshold 5%)",
    "ProblemID": "P-2611201",
    "ProblemImpact": "SERVICE",
    "ProblemSeverity": "ERROR",
    "ProblemTitle": "Failure rate increase",
    "ProblemURL": "https://abc12345.live.dynatrace.com/#problems/problemdetails;"
    "pid=-4373281942417390123_1795165200000V2",
    "State": "OPEN",
    "Tags": "env:prod, team:checkout",
}

PROVIDER = Provider(kind="dynatrace", parse=parse, sample=SAMPLE)
