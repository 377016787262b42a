"""Opsgenie Alert API v2, the subset migrators use: create, acknowledge, close.

Wire format: ../shared/specs/wire-formats.md §2.3. Pure functions: a body in, a NormalizedEvent
(or an ActionRequest) out, or InvalidAlert naming every bad field the way Opsgenie's 422 does,
so a sender that only changes its base URL sees familiar errors. Unknown fields are refused by
name rather than silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Priority, Severity, Urgency

MESSAGE_MAX_LENGTH = 130  # Opsgenie truncates a longer message rather than refusing it
ALIAS_MAX_LENGTH = 512
CREATE_FIELDS = {
    "message",
    "alias",
    "description",
    "responders",
    "visibleTo",
    "actions",
    "tags",
    "details",
    "entity",
    "source",
    "priority",
    "user",
    "note",
}
ACTION_FIELDS = {"user", "source", "note"}
STRING_LIMITS = {"description": 15_000, "entity": 512, "source": 100, "user": 100, "note": 25_000}
RECIPIENT_TYPES = {"team", "user", "escalation", "schedule"}
IDENTIFIER_TYPES = ("id", "alias", "tiny")
PRIORITY_SEVERITY = {
    Priority.P1: Severity.CRITICAL,
    Priority.P2: Severity.ERROR,
    Priority.P3: Severity.WARNING,
    Priority.P4: Severity.INFO,
    Priority.P5: Severity.INFO,
}
PRIORITY_URGENCY = {
    Priority.P1: Urgency.HIGH,
    Priority.P2: Urgency.HIGH,
    Priority.P3: Urgency.MEDIUM,
    Priority.P4: Urgency.LOW,
    Priority.P5: Urgency.LOW,
}


class InvalidAlert(ValueError):
    """Field name → what is wrong with it: the `errors` object of Opsgenie's 422."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class ActionRequest:
    """The optional body of an acknowledge or close request."""

    user: str = ""
    source: str = ""
    note: str = ""


def _string(body: dict[str, Any], name: str, errors: dict[str, str]) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[name] = f"{name} must be a string."
        return ""
    limit = STRING_LIMITS.get(name)
    if limit is not None and len(value) > limit:
        errors[name] = f"{name} can not be longer than {limit} characters."
    return value


def _unknown(body: dict[str, Any], allowed: set[str], errors: dict[str, str]) -> None:
    for name in sorted(set(body) - allowed):
        errors[name] = f"{name} is not a known field."


def _strings(
    body: dict[str, Any], name: str, count: int, length: int, errors: dict[str, str]
) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        errors[name] = f"{name} must be a list of strings."
        return []
    if len(value) > count:
        errors[name] = f"{name} can have at most {count} items."
    elif any(len(item) > length for item in value):
        errors[name] = f"Each item of {name} can be at most {length} characters."
    return value


def _recipients(body: dict[str, Any], name: str, errors: dict[str, str]) -> list[dict[str, str]]:
    value = body.get(name)
    if value is None:
        return []
    message = (
        f"{name} must be a list of at most 50 objects with a type "
        f"({', '.join(sorted(RECIPIENT_TYPES))}) and an id, name or username."
    )
    if not isinstance(value, list) or len(value) > 50:
        errors[name] = message
        return []
    for item in value:
        if (
            not isinstance(item, dict)
            or item.get("type") not in RECIPIENT_TYPES
            or not any(isinstance(item.get(k), str) for k in ("id", "name", "username"))
            or not all(isinstance(v, str) for v in item.values())
        ):
            errors[name] = message
            return []
    return value


def _details(body: dict[str, Any], errors: dict[str, str]) -> dict[str, str]:
    value = body.get("details")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        errors["details"] = "details must be an object of string values."
        return {}
    if sum(len(k) + len(v) for k, v in value.items()) > 8000:
        errors["details"] = "details can not be longer than 8000 characters in total."
    return value


def _priority(body: dict[str, Any], errors: dict[str, str]) -> Priority:
    value = body.get("priority", Priority.P3.value)
    if value not in Priority.values:
        errors["priority"] = "priority must be one of P1, P2, P3, P4, P5."
        return Priority.P3
    return Priority(value)


def parse_create(body: Any, *, default_source: str = "") -> NormalizedEvent:
    """A create-alert body as a trigger event, or InvalidAlert naming every bad field.

    `default_source` stands in for a missing `source`, as Opsgenie uses the caller's address.
    """
    if not isinstance(body, dict):
        raise InvalidAlert({"request": "The body must be a JSON object."})
    errors: dict[str, str] = {}
    _unknown(body, CREATE_FIELDS, errors)
    message = body.get("message")
    if not isinstance(message, str):
        empty = message is None
        errors["message"] = "Message can not be empty." if empty else "message must be a string."
        message = ""
    elif not message.strip():
        errors["message"] = "Message can not be empty."
    alias = body.get("alias")
    if alias is not None and not isinstance(alias, str):
        errors["alias"] = "alias must be a string."
    elif alias is not None and len(alias) > ALIAS_MAX_LENGTH:
        errors["alias"] = f"alias can not be longer than {ALIAS_MAX_LENGTH} characters."
    strings = {name: _string(body, name, errors) for name in STRING_LIMITS}
    extras: dict[str, Any] = {
        "tags": _strings(body, "tags", 20, 50, errors),
        "actions": _strings(body, "actions", 10, 50, errors),
        "responders": _recipients(body, "responders", errors),
        "visibleTo": _recipients(body, "visibleTo", errors),
        "details": _details(body, errors),
        "entity": strings["entity"],
        "user": strings["user"],
        "note": strings["note"],
    }
    priority = _priority(body, errors)
    if errors:
        raise InvalidAlert(errors)
    return NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=alias or None,
        summary=message.strip()[:MESSAGE_MAX_LENGTH],
        severity=PRIORITY_SEVERITY[priority],
        source=strings["source"] or default_source,
        description=strings["description"],
        details={name: value for name, value in extras.items() if value},
        urgency=PRIORITY_URGENCY[priority],
        priority=priority.value,
    )


def parse_action(body: Any) -> ActionRequest:
    """The optional `{user, source, note}` body of acknowledge and close (None: no body)."""
    if body is None:
        return ActionRequest()
    if not isinstance(body, dict):
        raise InvalidAlert({"request": "The body must be a JSON object."})
    errors: dict[str, str] = {}
    _unknown(body, ACTION_FIELDS, errors)
    fields = {name: _string(body, name, errors) for name in sorted(ACTION_FIELDS)}
    if errors:
        raise InvalidAlert(errors)
    return ActionRequest(**fields)


def parse_identifier_type(value: str | None) -> str:
    """`identifierType` of the query string; Opsgenie's default is the alert id."""
    if value is None or value == "":
        return "id"
    if value not in IDENTIFIER_TYPES:
        raise InvalidAlert({"identifierType": "identifierType must be one of id, alias, tiny."})
    return value
