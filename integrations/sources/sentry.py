"""Sentry: integration-platform webhooks (internal or public integration) and the legacy plugin.

Reads the payloads of docs.sentry.io "Integration Platform → Webhooks": Issues
(`Sentry-Hook-Resource: issue`, `data.issue`), Issue Alerts (`event_alert`, `data.event`),
Errors (`error`, `data.error`, the same event shape) and Metric Alerts (`metric_alert`,
`data.metric_alert`); and the legacy "WebHooks" plugin body (`id`, `project`, `culprit`, `level`,
`url`, `event{...}`, as `build_legacy_webhook_payload` in getsentry/sentry builds it). The
resource header is not needed: each body says what it is by the key under `data`.

- Issues: `created`/`unresolved` (and activity alerts' `triggered`) trigger, `resolved` resolves,
  `assigned` and `archived` (`ignored` before Sentry renamed it) acknowledge: someone took it or
  chose to silence it. One incident per Sentry issue: `sentry-<issue id>`, which issue alerts,
  error webhooks and the legacy plugin share, so an alert rule's trigger is resolved by the
  issue's `resolved` webhook.
- Metric alerts: `critical`/`warning` trigger at that severity, `resolved` resolves;
  `sentry-metric-alert-<metric_alert.id>` (Sentry's incident, stable across those three).
- Severity from the level: fatal → critical, error → error, warning → warning, info/debug → info.
- Other resources (installation, comment, …) and issue actions Sentry may add are accepted
  without events: Sentry disables an integration whose webhooks keep failing.

Signature: `Sentry-Hook-Signature`, the hex HMAC-SHA256 of the body keyed with the integration's
client secret. The legacy plugin does not sign: leave the signing secret empty for it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from django.http import HttpRequest

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

LEVELS = {
    "fatal": Severity.CRITICAL,
    "error": Severity.ERROR,
    "warning": Severity.WARNING,
    "info": Severity.INFO,
    "debug": Severity.INFO,
}
ISSUE_ACTIONS = {
    "created": AlertAction.TRIGGER,
    "unresolved": AlertAction.TRIGGER,
    "triggered": AlertAction.TRIGGER,  # activity alerts carry data.issue too
    "resolved": AlertAction.RESOLVE,
    "assigned": AlertAction.ACKNOWLEDGE,
    "archived": AlertAction.ACKNOWLEDGE,
    "ignored": AlertAction.ACKNOWLEDGE,
}
TRIGGERS = {name for name, action in ISSUE_ACTIONS.items() if action == AlertAction.TRIGGER}
METRIC_ACTIONS = {
    "critical": (AlertAction.TRIGGER, Severity.CRITICAL),
    "warning": (AlertAction.TRIGGER, Severity.WARNING),
    "resolved": (AlertAction.RESOLVE, Severity.INFO),
}


# An event's API URL names its project: /api/0/projects/<org>/<project>/events/<id>/
EVENT_URL = re.compile(r"/projects/[^/]+/([^/]+)/events/")


def _project_of(url: str) -> str:
    found = EVENT_URL.search(url)
    return found.group(1) if found else ""


def _level(value: str) -> Severity:
    return LEVELS.get(value.lower(), Severity.ERROR)


def _issue(body: dict[str, Any], action: str, errors: list[str]) -> list[NormalizedEvent]:
    issue = mapping(body, "data.issue", errors)
    issue_id = text(body, "data.issue.id", errors)
    if not issue_id and not errors:
        errors.append("'data.issue.id' is missing.")
    title = text(body, "data.issue.title", errors, limit=500)
    short_id = text(body, "data.issue.shortId", errors)
    level = text(body, "data.issue.level", errors)
    culprit = text(body, "data.issue.culprit", errors, limit=1000)
    project = text(body, "data.issue.project.slug", errors) or text(
        body, "data.issue.project.name", errors
    )
    done(errors)
    if action not in ISSUE_ACTIONS:
        return []
    summary = title or culprit or f"Sentry issue {issue_id}"
    assignee = get_path(issue, "assignedTo.name") or get_path(issue, "assignedTo.email")
    return [
        NormalizedEvent(
            action=ISSUE_ACTIONS[action],
            dedup_key=f"sentry-{issue_id}",
            summary=f"{short_id}: {summary}" if short_id else summary,
            severity=_level(level),
            source=project or "sentry",
            description=culprit,
            details={
                "action": action,
                "actor": body.get("actor"),
                **{
                    name: issue.get(name)
                    for name in ("id", "shortId", "status", "substatus", "level", "count")
                },
                "project": project,
                **({"assignedTo": assignee} if isinstance(assignee, str) else {}),
            },
            links=links([("Sentry issue", issue.get("web_url") or issue.get("permalink"))]),
            # When it was last seen dates a trigger; Sentry sends no time for the state change.
            occurred_at=timestamp(issue.get("lastSeen")) if action in TRIGGERS else None,
        )
    ]


def _event(body: dict[str, Any], key: str, errors: list[str]) -> list[NormalizedEvent]:
    """An issue alert (`data.event`) or an error webhook (`data.error`): a trigger."""
    event = mapping(body, f"data.{key}", errors)
    issue_id = text(body, f"data.{key}.issue_id", errors)
    if not issue_id and not errors:
        errors.append(f"'data.{key}.issue_id' is missing.")
    title = text(body, f"data.{key}.title", errors, limit=500) or text(
        body, f"data.{key}.message", errors, limit=500
    )
    rule = text(body, "data.triggered_rule", errors, limit=200)
    level = text(body, f"data.{key}.level", errors)
    culprit = text(body, f"data.{key}.culprit", errors, limit=1000)
    done(errors)
    summary = title or culprit or f"Sentry issue {issue_id}"
    return [
        NormalizedEvent(
            action=AlertAction.TRIGGER,
            dedup_key=f"sentry-{issue_id}",
            summary=summary,
            severity=_level(level),
            source=_project_of(text(body, f"data.{key}.url", errors)) or "sentry",
            description=f"Alert rule: {rule}\n{culprit}".strip() if rule else culprit,
            details={
                "resource": "event_alert" if key == "event" else key,
                "triggered_rule": rule,
                "issue_id": issue_id,
                **{name: event.get(name) for name in ("event_id", "level", "platform", "release")},
                "tags": event.get("tags"),
            },
            links=links([("Sentry event", event.get("web_url"))]),
            occurred_at=timestamp(event.get("datetime")),
        )
    ]


def _metric_alert(body: dict[str, Any], action: str, errors: list[str]) -> list[NormalizedEvent]:
    alert = mapping(body, "data.metric_alert", errors)
    alert_id = text(body, "data.metric_alert.id", errors)
    if not alert_id and not errors:
        errors.append("'data.metric_alert.id' is missing.")
    rule = text(body, "data.metric_alert.alert_rule.name", errors, limit=300)
    title = text(body, "data.description_title", errors, limit=500)
    description = text(body, "data.description_text", errors, limit=5000)
    if action not in METRIC_ACTIONS:
        errors.append("'action' must be critical, warning or resolved for a metric alert.")
    done(errors)
    event_action, severity = METRIC_ACTIONS[action]
    return [
        NormalizedEvent(
            action=event_action,
            dedup_key=f"sentry-metric-alert-{alert_id}",
            summary=title or rule or f"Sentry metric alert {alert_id}",
            severity=severity,
            source="sentry",
            description=description,
            details={
                "action": action,
                "metric_alert": {k: alert.get(k) for k in ("id", "identifier", "title", "status")},
                "alert_rule": {
                    k: get_path(alert, f"alert_rule.{k}")
                    for k in ("id", "name", "aggregate", "query", "projects")
                },
            },
            links=links([("Sentry alert", get_path(body, "data.web_url"))]),
            occurred_at=timestamp(
                alert.get("date_closed" if action == "resolved" else "date_started")
            ),
        )
    ]


def _legacy(body: dict[str, Any], errors: list[str]) -> list[NormalizedEvent]:
    """The legacy WebHooks plugin: one POST per alert rule firing on an issue (group)."""
    group_id = text(body, "id", errors, required=True)
    project = text(body, "project", errors, required=True)
    event = mapping(body, "event", errors)
    title = text(body, "event.title", errors, limit=500) or text(body, "message", errors, limit=500)
    culprit = text(body, "culprit", errors, limit=1000)
    level = text(body, "level", errors)
    done(errors)
    return [
        NormalizedEvent(
            action=AlertAction.TRIGGER,
            dedup_key=f"sentry-{group_id}",
            summary=title or culprit or f"Sentry issue {group_id}",
            severity=_level(level),
            source=project,
            description=culprit,
            details={
                "resource": "legacy_webhook",
                "project_name": body.get("project_name"),
                "level": level,
                "triggering_rules": body.get("triggering_rules"),
                "event_id": event.get("event_id"),
                "tags": event.get("tags"),
            },
            links=links([("Sentry issue", body.get("url"))]),
            occurred_at=timestamp(event.get("datetime")),
        )
    ]


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    if "data" not in body:
        return _legacy(body, errors)
    data = mapping(body, "data", errors)
    action = text(body, "action", errors, required=True)
    done(errors)
    if "issue" in data:
        return _issue(body, action, errors)
    if "metric_alert" in data:
        return _metric_alert(body, action, errors)
    for key in ("event", "error"):
        if key in data:
            return _event(body, key, errors)
    return []  # installation, comment, … : nothing to page about


def verify(request: HttpRequest, secret: str) -> bool:
    """`Sentry-Hook-Signature`: hex HMAC-SHA256 of the raw body, keyed by the client secret."""
    supplied = request.headers.get("Sentry-Hook-Signature", "").strip().lower()
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return bool(supplied) and hmac.compare_digest(supplied.encode(), expected.encode())


SAMPLE = {
    "action": "created",
    "actor": {"id": "sentry", "name": "Sentry", "type": "application"},
    "data": {
        "issue": {
            "id": "1170820242",
            "shortId": "FRONT-END-9",
            "title": "ReferenceError: blooopy is not defined",
            "culprit": "?(runner)",
            "level": "error",
            "status": "unresolved",
            "substatus": "new",
            "count": "1",
            "firstSeen": "2019-08-19T20:58:37.391000Z",
            "lastSeen": "2019-08-19T20:58:37.391000Z",
            "project": {"id": "1", "name": "front-end", "slug": "front-end"},
            "web_url": "https://sentry.io/organizations/test-org/issues/1170820242/",
        }
    },
    "installation": {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"},
}

PROVIDER = Provider(kind="sentry", parse=parse, verify=verify, sample=SAMPLE)
