"""PagerDuty Events API v2: alert events (/v2/enqueue) and change events (/v2/change/enqueue).

Wire format: ../shared/specs/wire-formats.md §2.1 and §2.2. Unknown fields are refused by name, so
a typo is an error the sender sees rather than data we silently drop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from incidents.ingestion import NormalizedEvent
from incidents.models import DEDUP_KEY_MAX_LENGTH, AlertAction, Severity

EVENT_FIELDS = {
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "images",
    "links",
    "client",
    "client_url",
}
PAYLOAD_FIELDS = {
    "summary",
    "source",
    "severity",
    "timestamp",
    "component",
    "group",
    "class",
    "custom_details",
}
CHANGE_FIELDS = {"routing_key", "payload", "links", "images"}
CHANGE_PAYLOAD_FIELDS = {"summary", "source", "timestamp", "custom_details"}
ACTIONS = {
    "trigger": AlertAction.TRIGGER,
    "acknowledge": AlertAction.ACKNOWLEDGE,
    "resolve": AlertAction.RESOLVE,
}


class InvalidEvent(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def _string(
    obj: dict[str, Any],
    name: str,
    errors: list[str],
    *,
    where: str = "",
    required: bool = False,
    max_length: int | None = None,
) -> str:
    value = obj.get(name)
    label = f"{where}{name}"
    if value is None:
        if required:
            errors.append(f"'{label}' is missing.")
        return ""
    if not isinstance(value, str):
        errors.append(f"'{label}' must be a string.")
        return ""
    if required and not value.strip():
        errors.append(f"'{label}' must not be empty.")
    if max_length is not None and len(value) > max_length:
        errors.append(f"'{label}' is longer than {max_length} characters.")
    return value


def _unknown(obj: dict[str, Any], allowed: set[str], where: str, errors: list[str]) -> None:
    errors.extend(f"'{where}{name}' is not a known field." for name in sorted(set(obj) - allowed))


def _timestamp(payload: dict[str, Any], errors: list[str]) -> datetime | None:
    raw = payload.get("timestamp")
    if raw is None:
        return None
    if isinstance(raw, str) and raw.endswith("Z") and ("+" in raw[10:] or "-" in raw[10:]):
        raw = raw[:-1]  # "+00:00Z": what python-pagerduty's own timestamps look like
    parsed = parse_datetime(raw) if isinstance(raw, str) else None
    if parsed is None:
        errors.append("'payload.timestamp' must be an ISO 8601 date-time.")
    return parsed


def _links(body: dict[str, Any], errors: list[str]) -> tuple[list[dict], list[dict]]:
    links, images = body.get("links", []), body.get("images", [])
    if not isinstance(links, list) or not all(
        isinstance(link, dict) and isinstance(link.get("href"), str) for link in links
    ):
        errors.append("'links' must be a list of objects with an 'href' string.")
        links = []
    if not isinstance(images, list) or not all(
        isinstance(image, dict) and isinstance(image.get("src"), str) for image in images
    ):
        errors.append("'images' must be a list of objects with a 'src' string.")
        images = []
    return links, images


def routing_key_of(body: Any) -> str:
    return (
        body.get("routing_key", "")
        if isinstance(body, dict) and isinstance(body.get("routing_key"), str)
        else ""
    )


def parse_event(body: Any) -> NormalizedEvent:
    """A v2 alert event as a NormalizedEvent, or InvalidEvent listing every problem."""
    if not isinstance(body, dict):
        raise InvalidEvent(["The event must be a JSON object."])
    errors: list[str] = []
    _unknown(body, EVENT_FIELDS, "", errors)
    _string(body, "routing_key", errors, required=True)
    action_name = body.get("event_action")
    action = ACTIONS.get(action_name) if isinstance(action_name, str) else None
    if action is None:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve.")
    dedup_key = _string(
        body,
        "dedup_key",
        errors,
        max_length=DEDUP_KEY_MAX_LENGTH,
        required=action in (AlertAction.ACKNOWLEDGE, AlertAction.RESOLVE),
    )
    for name in ("client", "client_url"):
        _string(body, name, errors)
    links, images = _links(body, errors)
    payload = body.get("payload")
    details: dict[str, Any] = {}
    summary = source = ""
    severity = Severity.CRITICAL
    occurred_at = None
    if action == AlertAction.TRIGGER or payload is not None:
        if not isinstance(payload, dict):
            errors.append(
                "'payload' must be an object." if payload is not None else "'payload' is missing."
            )
        else:
            _unknown(payload, PAYLOAD_FIELDS, "payload.", errors)
            summary = _string(
                payload, "summary", errors, where="payload.", required=True, max_length=1024
            )
            source = _string(payload, "source", errors, where="payload.", required=True)
            severity_name = payload.get("severity")
            if severity_name not in Severity.values:
                errors.append("'payload.severity' must be one of critical, error, warning, info.")
            else:
                severity = Severity(severity_name)
            occurred_at = _timestamp(payload, errors)
            for name in ("component", "group", "class"):
                if value := _string(payload, name, errors, where="payload."):
                    details[name] = value
            if "custom_details" in payload:
                details["custom_details"] = payload["custom_details"]
    for name in ("client", "client_url"):
        if isinstance(body.get(name), str):
            details[name] = body[name]
    if errors:
        raise InvalidEvent(errors)
    return NormalizedEvent(
        action=action,
        dedup_key=dedup_key or None,
        summary=summary,
        severity=severity,
        source=source,
        details=details,
        links=links,
        images=images,
        occurred_at=occurred_at,
    )


def parse_change(body: Any) -> NormalizedEvent:
    """A v2 change event: recorded on the service, never pages."""
    if not isinstance(body, dict):
        raise InvalidEvent(["The event must be a JSON object."])
    errors: list[str] = []
    _unknown(body, CHANGE_FIELDS, "", errors)
    _string(body, "routing_key", errors, required=True)
    links, images = _links(body, errors)
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise InvalidEvent([*errors, "'payload' must be an object."])
    _unknown(payload, CHANGE_PAYLOAD_FIELDS, "payload.", errors)
    summary = _string(payload, "summary", errors, where="payload.", required=True, max_length=1024)
    source = _string(payload, "source", errors, where="payload.")
    occurred_at = _timestamp(payload, errors)
    if errors:
        raise InvalidEvent(errors)
    return NormalizedEvent(
        action=AlertAction.CHANGE,
        summary=summary,
        source=source,
        links=links,
        images=images,
        details={"custom_details": payload.get("custom_details")},
        occurred_at=occurred_at,
    )
