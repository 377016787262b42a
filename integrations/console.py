"""The test console: what a payload would become, without writing anything.

Operators paste a provider's payload (or start from the provider's sample) and see each
NormalizedEvent, the route the integration's rules give it (service, urgency, severity, dropped,
the dedup key after grouping), and whether it would open a new incident or join an open one.
It runs the same parser and the same rules as the endpoint, so what the console shows is what
the endpoint would do with the same body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from incidents.ingestion import SEVERITY_URGENCY, NormalizedEvent, normalize_dedup_key
from incidents.models import AlertAction, Incident, Severity
from integrations.models import Integration, IntegrationKind
from integrations.routing import Route, load_rules, route
from integrations.sources import alertmanager, events, opsgenie, pagerduty
from integrations.sources.common import InvalidPayload
from integrations.sources.registry import UnknownProvider, provider


@dataclass(frozen=True)
class Preview:
    event: NormalizedEvent  # as the rules changed it
    dedup_key: str  # after grouping
    joins: Incident | None  # the open incident a trigger would join; None: a new one
    route: Route
    original: NormalizedEvent  # as parsed

    @property
    def outcome(self) -> str:
        if self.route.dropped:
            return "dropped by a rule: stored, no incident"
        if self.event.action == AlertAction.TRIGGER:
            return f"joins incident #{self.joins.number}" if self.joins else "opens a new incident"
        if self.event.action == AlertAction.CHANGE:
            return "recorded as a change event"
        verb = "resolves" if self.event.action == AlertAction.RESOLVE else "acknowledges"
        return f"{verb} incident #{self.joins.number}" if self.joins else "matches no open incident"

    @property
    def urgency(self) -> str:
        """The urgency a new incident would get, as ingestion picks it; "" for non-triggers."""
        if self.event.action != AlertAction.TRIGGER or self.route.dropped:
            return ""
        service = self.route.service
        return str(
            self.event.urgency
            or service.default_urgency
            or SEVERITY_URGENCY[Severity(self.event.severity)]
        )

    @property
    def changes(self) -> list[str]:
        """What the rules changed, in words, for the console's route column."""
        before, after = self.original, self.event
        found = [f"dedup key was {before.dedup_key}"] if before.dedup_key != after.dedup_key else []
        if before.urgency != after.urgency:
            found.append(f"urgency set to {after.urgency}")
        if before.severity != after.severity:
            found.append(f"severity {before.severity} → {after.severity}")
        return found


@dataclass(frozen=True)
class ConsoleResult:
    previews: list[Preview]
    errors: list[str]


def sample_payload(integration: Integration) -> str:
    """A documented example for the integration's kind, to start from."""
    try:
        sample: Any = provider(integration.kind).sample
    except UnknownProvider:
        sample = BUILTIN_SAMPLES.get(integration.kind, {})
    return json.dumps(sample, indent=2, ensure_ascii=False)


def _parse(integration: Integration, body: Any) -> list[NormalizedEvent]:
    kind = integration.kind
    if kind == IntegrationKind.PAGERDUTY:
        return [pagerduty.parse_event(body)]
    if kind == IntegrationKind.OPSGENIE:
        return [opsgenie.parse_create(body)]
    if kind == IntegrationKind.ALERTMANAGER:
        group_by = str((integration.options or {}).get("group_by", ""))
        return alertmanager.parse_webhook(body, group_by=group_by)
    if kind == IntegrationKind.EVENTS:
        return [events.parse(body, needs_service=False)[0]]
    return provider(kind).parse(body, dict(integration.options or {}))


def _errors(exc: Exception) -> list[str]:
    found = getattr(exc, "errors", None)
    if isinstance(found, dict):
        return [f"{name}: {message}" for name, message in found.items()]
    if isinstance(found, list) and found:
        return [str(message) for message in found]
    return [str(exc)]


def dry_run(integration: Integration, raw: str) -> ConsoleResult:
    """Parse `raw` as this integration's endpoint would; read the database, write nothing."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        return ConsoleResult([], [f"Not valid JSON: {exc}."])
    try:
        parsed = _parse(integration, body)
    except (
        InvalidPayload,
        alertmanager.InvalidPayload,
        pagerduty.InvalidEvent,
        opsgenie.InvalidAlert,
        events.InvalidEvent,
    ) as exc:
        return ConsoleResult([], _errors(exc))
    rules = load_rules(integration)
    previews = []
    for parsed_event in parsed:
        routed = route(rules, parsed_event)
        key = normalize_dedup_key(routed.event.dedup_key or "")
        joins = (
            Incident.objects.open().filter(service_id=routed.service.pk, dedup_key=key).first()
            if key and not routed.dropped
            else None
        )
        previews.append(
            Preview(
                event=routed.event,
                dedup_key=key or "(generated)",
                joins=joins,
                route=routed,
                original=parsed_event,
            )
        )
    return ConsoleResult(previews, [])


BUILTIN_SAMPLES: dict[str, Any] = {
    IntegrationKind.PAGERDUTY: {
        "routing_key": "<routing key>",
        "event_action": "trigger",
        "dedup_key": "disk-full-web-1",
        "payload": {
            "summary": "Disk 95% full on web-1",
            "source": "web-1",
            "severity": "critical",
            "custom_details": {"mount": "/var", "free_gb": 2},
        },
    },
    IntegrationKind.OPSGENIE: {
        "message": "Disk 95% full on web-1",
        "alias": "disk-full-web-1",
        "priority": "P1",
        "tags": ["disk"],
    },
    IntegrationKind.ALERTMANAGER: {
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "status": "firing",
        "receiver": "opsknight",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "instance": "web-1", "severity": "critical"},
                "annotations": {"summary": "Disk 95% full on web-1"},
                "startsAt": "2026-11-20T09:14:03Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": "c3f1e8a2b4d6e8f0",
            }
        ],
    },
    IntegrationKind.EVENTS: {
        "event_action": "trigger",
        "dedup_key": "disk-full-web-1",
        "payload": {"summary": "Disk 95% full on web-1", "source": "web-1", "severity": "critical"},
    },
}
