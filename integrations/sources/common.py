"""What every provider parser shares: the error type, field readers that name what is wrong,
and the keyword normalization of severities and actions (as the OpsKnight seed does it).

A parser is a pure function: a decoded body (and the integration's options) in, a list of
NormalizedEvents out, or InvalidPayload listing every problem by field path. It never raises
anything else, whatever the body (tests/integrations/test_provider_fuzz.py holds every registered
parser to that over random JSON).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from incidents.models import AlertAction, Severity


class InvalidPayload(ValueError):
    """The body is not this provider's payload; `errors` name each problem by field path."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def require_object(body: Any, what: str = "The body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidPayload([f"{what} must be a JSON object."])
    return body


def get_path(obj: Any, path: str) -> Any:
    """`a.b.0.c` into nested objects and lists; None where any step is missing."""
    current = obj
    for step in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(step)
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return None
    return current


def text(obj: Any, path: str, errors: list[str], *, required: bool = False, limit: int = 0) -> str:
    """A string (numbers are accepted and turned into text) at `path`; '' when absent."""
    value = get_path(obj, path)
    if value is None or value == "":
        if required:
            errors.append(f"'{path}' is missing.")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        errors.append(f"'{path}' must be a string.")
        return ""
    value = str(value)
    return value[:limit] if limit else value


def mapping(obj: Any, path: str, errors: list[str], *, required: bool = False) -> dict[str, Any]:
    value = get_path(obj, path)
    if value is None:
        if required:
            errors.append(f"'{path}' is missing.")
        return {}
    if not isinstance(value, dict):
        errors.append(f"'{path}' must be an object.")
        return {}
    return value


def items(obj: Any, path: str, errors: list[str], *, required: bool = False) -> list[Any]:
    value = get_path(obj, path)
    if value is None:
        if required:
            errors.append(f"'{path}' is missing.")
        return []
    if not isinstance(value, list):
        errors.append(f"'{path}' must be a list.")
        return []
    return value


def timestamp(value: Any) -> datetime | None:
    """An aware datetime from ISO 8601 text or Unix seconds/milliseconds; None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            seconds = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            return None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return None


def stable_key(prefix: str, *parts: Any, length: int = 32) -> str:
    """`<prefix>-<hash>` of the parts: the same alert always gets the same dedup key."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return f"{prefix}-{hashlib.sha256(blob.encode()).hexdigest()[:length]}"


def slug(value: str, limit: int = 120) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:limit]


_SEVERITY_WORDS: dict[Severity, tuple[str, ...]] = {
    Severity.CRITICAL: (
        "critical", "crit", "p1", "sev0", "sev1", "high", "fatal", "down", "disaster",
        "emergency", "alert", "page",
    ),
    Severity.ERROR: ("error", "err", "p2", "sev2", "major", "average"),
    Severity.WARNING: ("warning", "warn", "p3", "sev3", "degraded", "medium", "minor"),
    Severity.INFO: (
        "info", "informational", "p4", "p5", "low", "ok", "normal", "notice", "debug",
        "not classified",
    ),
}  # fmt: skip
_RESOLVE_WORDS = ("resolve", "resolved", "close", "closed", "recover", "recovered", "ok", "up")
_ACK_WORDS = ("ack", "acknowledge", "acknowledged")


def _has_word(value: str, word: str) -> bool:
    # Short tokens only as whole words ("ok" is not in "broken"), as the seed matches them.
    if len(word) <= 3:
        return re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", value) is not None
    return word in value


def severity_from(value: Any, default: Severity = Severity.WARNING) -> Severity:
    """Severity from a provider's word for it (critical/p1/sev1/high…); `default` otherwise."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return default
    word = str(value).strip().lower()
    for severity, words in _SEVERITY_WORDS.items():
        if word in words:
            return severity
    for severity, words in _SEVERITY_WORDS.items():
        if any(_has_word(word, w) for w in words if len(w) > 3):
            return severity
    return default


def action_from(value: Any, default: AlertAction = AlertAction.TRIGGER) -> AlertAction:
    """Resolve/acknowledge from a provider's status word; anything else: `default`."""
    if not isinstance(value, str):
        return default
    word = value.strip().lower()
    if any(_has_word(word, w) for w in _RESOLVE_WORDS):
        return AlertAction.RESOLVE
    if any(_has_word(word, w) for w in _ACK_WORDS):
        return AlertAction.ACKNOWLEDGE
    return default


def links(pairs: Iterable[tuple[str, Any]]) -> list[dict[str, str]]:
    """PagerDuty-style links from (text, href) pairs, skipping empty or non-http ones."""
    return [
        {"href": href, "text": label}
        for label, href in pairs
        if isinstance(href, str) and href.startswith(("http://", "https://"))
    ]


def done(errors: list[str]) -> None:
    if errors:
        raise InvalidPayload(errors)
