"""The generic webhook: any JSON object (or a list of them, one event each), read through a
per-integration mapping in `options["mapping"]`.

Mapping keys (all optional):
- `dedup_key`, `summary`, `severity`, `action`, `source`, `description`: a JMESPath expression
  (jmespath.org; a dotted path such as `alert.title` is one; list items are `alerts[0].id`;
  a leading `$.` is dropped). A mapped expression replaces that field's default paths.
- `trigger_values`, `resolve_values`, `acknowledge_values`: words of the action field, matched
  case-insensitively as whole words (`resolved` matches "Alert resolved"); resolve wins over
  acknowledge over trigger; a value matching none, or no value, triggers.
- `severity_map`: {the sender's value: critical|error|warning|info}, before the defaults.

Defaults (the OpsKnight seed's): summary from `summary`, `title`, `message` or `name` (one is
required); dedup key `dedup_key`, `id` or `alert_id`, else `webhook-<summary slug>`; action from
`status`, `action` or `state` with trigger values triggered/fired/firing/alert/critical/error/open,
resolve values resolved/ok/normal/closed/fixed/recovered, acknowledge values
ack/acknowledge/acknowledged; severity from `severity`, `level` or `priority` (critical, error,
warning, info, high→critical, medium→warning, low→info, else the shared keyword normalization;
warning when absent); source `source`, `origin` or `system`, else "webhook"; description
`description`. A bad mapping is an InvalidPayload naming the option (a 400, never a 500).

Signature (when the integration has a signing secret): hex HMAC-SHA256 of the body, bare or as
`sha256=<hex>`, in `X-Webhook-Signature` (the seed's), or any header of the generic check
(`X-Signature`, `X-OpsKnight-Signature`, `X-Hub-Signature-256`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache
from typing import Any

import jmespath
from django.http import HttpRequest
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import InvalidPayload, done, severity_from, slug, stable_key
from integrations.sources.registry import Provider

SIGNATURE_HEADERS = (
    "X-Webhook-Signature",
    "X-Signature",
    "X-OpsKnight-Signature",
    "X-Hub-Signature-256",
)
DEFAULT_PATHS = {
    "summary": ("summary", "title", "message", "name"),
    "dedup_key": ("dedup_key", "id", "alert_id"),
    "action": ("status", "action", "state"),
    "severity": ("severity", "level", "priority"),
    "source": ("source", "origin", "system"),
    "description": ("description",),
}
DEFAULT_VALUES = {
    AlertAction.RESOLVE: ("resolved", "ok", "normal", "closed", "fixed", "recovered"),
    AlertAction.ACKNOWLEDGE: ("ack", "acknowledge", "acknowledged"),
    AlertAction.TRIGGER: ("triggered", "fired", "firing", "alert", "critical", "error", "open"),
}
VALUE_OPTIONS = {
    "resolve_values": AlertAction.RESOLVE,
    "acknowledge_values": AlertAction.ACKNOWLEDGE,
    "trigger_values": AlertAction.TRIGGER,
}
DEFAULT_SEVERITIES = {
    "critical": Severity.CRITICAL,
    "error": Severity.ERROR,
    "warning": Severity.WARNING,
    "info": Severity.INFO,
    "high": Severity.CRITICAL,
    "medium": Severity.WARNING,
    "low": Severity.INFO,
}
MAPPING_KEYS = (*DEFAULT_PATHS, *VALUE_OPTIONS, "severity_map")


def verify(request: HttpRequest, secret: str) -> bool:
    """HMAC-SHA256 hex of the body in X-Webhook-Signature or X-Signature, constant-time."""
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest().encode()
    for header in SIGNATURE_HEADERS:
        supplied = request.headers.get(header, "").strip().removeprefix("sha256=").lower()
        if supplied and hmac.compare_digest(supplied.encode(), expected):
            return True
    return False


@lru_cache(maxsize=512)
def _compile(expression: str) -> ParsedResult:
    return jmespath.compile(expression)


def read_mapping(options: dict[str, Any]) -> dict[str, Any]:
    """The checked `options["mapping"]`, or InvalidPayload naming each bad option (forms that
    edit an integration can call it to refuse a bad mapping before any alert does)."""
    raw = options.get("mapping") or {}
    if not isinstance(raw, dict):
        raise InvalidPayload(["Integration option 'mapping' must be an object."])
    errors: list[str] = []
    config: dict[str, Any] = {"paths": {}, "values": {}, "severities": {}}
    for name in sorted(set(raw) - set(MAPPING_KEYS)):
        errors.append(
            f"Integration option 'mapping.{name}' is not one of {', '.join(MAPPING_KEYS)}."
        )
    for name in DEFAULT_PATHS:
        expression = raw.get(name)
        if expression is None:
            continue
        if not isinstance(expression, str) or not expression.strip():
            errors.append(f"Integration option 'mapping.{name}' must be a JMESPath expression.")
            continue
        expression = expression.strip().removeprefix("$.")
        try:
            config["paths"][name] = (expression, _compile(expression))
        except JMESPathError as exc:
            first = str(exc).splitlines()[0]
            errors.append(
                f"Integration option 'mapping.{name}' is not a valid JMESPath expression "
                f"({expression!r}): {first}"
            )
    for name, action in VALUE_OPTIONS.items():
        values = raw.get(name)
        if values is None:
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            errors.append(f"Integration option 'mapping.{name}' must be a list of words.")
            continue
        config["values"][action] = tuple(v.strip().lower() for v in values)
    severity_map = raw.get("severity_map") or {}
    if not isinstance(severity_map, dict) or not all(
        isinstance(v, str) and v.lower() in Severity.values for v in severity_map.values()
    ):
        errors.append(
            "Integration option 'mapping.severity_map' must map values to one of "
            f"{', '.join(Severity.values)}."
        )
    else:
        config["severities"] = {
            str(k).lower(): Severity(v.lower()) for k, v in severity_map.items()
        }
    done(errors)
    return config


def _value(
    item: dict[str, Any], field: str, config: dict[str, Any], where: str, errors: list[str]
) -> str:
    """The field's text: its mapped expression's result, else the first default path's."""
    mapped = config["paths"].get(field)
    if mapped is None:
        candidates = [(path, item.get(path)) for path in DEFAULT_PATHS[field]]
    else:
        expression, compiled = mapped
        try:
            candidates = [(expression, compiled.search(item))]
        except (ValueError, TypeError, RecursionError) as exc:  # JMESPathError is a ValueError
            message = str(exc).splitlines()[0]
            errors.append(
                f"Integration option 'mapping.{field}' ({expression!r}) failed: {message}"
            )
            return ""
    for path, value in candidates:
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            return str(value).lower()
        if not isinstance(value, str | int | float):
            origin = f" (mapping.{field})" if mapped else ""
            errors.append(f"'{where}{path}' must be text, not a list or object{origin}.")
            return ""
        return str(value).strip()
    return ""


def _matches(value: str, words: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", value) for w in words)


def _event(
    item: Any, where: str, config: dict[str, Any], errors: list[str]
) -> NormalizedEvent | None:
    if not isinstance(item, dict):
        errors.append(f"'{where.rstrip('.') or 'The body'}' must be an object.")
        return None
    count = len(errors)
    found = {field: _value(item, field, config, where, errors) for field in DEFAULT_PATHS}
    summary = found["summary"][:1024]
    if not summary and len(errors) == count:
        mapped = config["paths"].get("summary")
        named = f"mapping.summary ({mapped[0]!r})" if mapped else "'summary', 'title', 'message'"
        errors.append(f"'{where}summary' is missing: {named} found nothing.")
    state = found["action"].lower()
    action = AlertAction.TRIGGER
    for candidate in (AlertAction.RESOLVE, AlertAction.ACKNOWLEDGE, AlertAction.TRIGGER):
        if state and _matches(state, config["values"].get(candidate, DEFAULT_VALUES[candidate])):
            action = candidate
            break
    level = found["severity"].lower()
    severity = config["severities"].get(level) or DEFAULT_SEVERITIES.get(level)
    key = found["dedup_key"]
    if not key:
        key = f"webhook-{slug(summary, 100)}" if slug(summary) else stable_key("webhook", summary)
    return NormalizedEvent(
        action=action,
        dedup_key=key,
        summary=summary,
        severity=severity or severity_from(level, Severity.WARNING),
        source=found["source"] or "webhook",
        description=found["description"],
        details=item,
        raw=item if where else None,
    )


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    config = read_mapping(options)
    errors: list[str] = []
    if isinstance(body, list):
        if not body:
            raise InvalidPayload(["The body must not be an empty list."])
        events = [_event(item, f"{index}.", config, errors) for index, item in enumerate(body)]
    elif isinstance(body, dict):
        events = [_event(body, "", config, errors)]
    else:
        raise InvalidPayload(["The body must be a JSON object or a list of them."])
    done(errors)
    return [event for event in events if event is not None]


SAMPLE = {
    "id": "backup-db-1-nightly",
    "title": "Nightly backup failed on db-1",
    "status": "triggered",
    "severity": "high",
    "source": "backup-runner",
    "description": "pg_dump exited with status 1 after 42 minutes.",
}

PROVIDER = Provider(kind="webhook", parse=parse, verify=verify, sample=SAMPLE)
