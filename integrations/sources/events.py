"""The OpsKnight Events API (`POST /api/v1/events`): the seed's schema, strictly validated."""

from __future__ import annotations

from typing import Any

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity

FIELDS = {"event_action", "dedup_key", "payload", "service_id", "links", "images"}
PAYLOAD_FIELDS = {"summary", "source", "severity", "custom_details"}
ACTIONS = {
    "trigger": AlertAction.TRIGGER,
    "acknowledge": AlertAction.ACKNOWLEDGE,
    "resolve": AlertAction.RESOLVE,
}


class InvalidEvent(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _text(
    obj: dict[str, Any], name: str, low: int, high: int, errors: dict[str, str], where: str = ""
) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        errors[f"{where}{name}"] = "Required, a string." if value is None else "Must be a string."
        return ""
    if not low <= len(value.strip() if low else value) <= high:
        errors[f"{where}{name}"] = f"Must be {low} to {high} characters."
    return value


def parse(body: Any, *, needs_service: bool) -> tuple[NormalizedEvent, int | None]:
    """The event and, for API-key callers, the service it names."""
    if not isinstance(body, dict):
        raise InvalidEvent({"non_field_errors": "The event must be a JSON object."})
    errors: dict[str, str] = {}
    for name in sorted(set(body) - FIELDS):
        errors[name] = "Unknown field."
    action = (
        ACTIONS.get(body.get("event_action")) if isinstance(body.get("event_action"), str) else None
    )
    if action is None:
        errors["event_action"] = "Must be one of trigger, acknowledge, resolve."
    dedup_key = _text(body, "dedup_key", 1, 200, errors)
    service_id = body.get("service_id")
    if needs_service and (not isinstance(service_id, int) or isinstance(service_id, bool)):
        errors["service_id"] = "Required with an API key: the id of the service (a number)."
    elif not needs_service and service_id is not None:
        errors["service_id"] = "Not allowed with an integration key: the key names the service."
    payload = body.get("payload")
    summary = source = ""
    severity = Severity.CRITICAL
    details: dict[str, Any] = {}
    if action == AlertAction.TRIGGER or payload is not None:
        if not isinstance(payload, dict):
            errors["payload"] = (
                "Required for a trigger, an object." if payload is None else ("Must be an object.")
            )
        else:
            for name in sorted(set(payload) - PAYLOAD_FIELDS):
                errors[f"payload.{name}"] = "Unknown field."
            summary = _text(payload, "summary", 1, 500, errors, "payload.")
            source = _text(payload, "source", 1, 200, errors, "payload.")
            if payload.get("severity") not in Severity.values:
                errors["payload.severity"] = "Must be one of critical, error, warning, info."
            else:
                severity = Severity(payload["severity"])
            if "custom_details" in payload:
                details["custom_details"] = payload["custom_details"]
    if errors:
        raise InvalidEvent(errors)
    event = NormalizedEvent(
        action=action,
        dedup_key=dedup_key,
        summary=summary,
        severity=severity,
        source=source,
        details=details,
    )
    return event, service_id if needs_service else None
