"""Keep alerts (keephq/keep `AlertDto`), as a Keep workflow's webhook step or any sender of
Keep's generic `POST /alerts/event` body posts them: one alert object or a list of them.

Fields (keephq/keep `keep/api/models/alert.py` `AlertDto` and its schema example; wire-formats
§2.8): `name` (required), `status` firing|resolved|acknowledged|suppressed|pending, `severity`
critical|high|warning|info|low (or Keep's numbers 5..1), `fingerprint`, `lastReceived`,
`message`, `description`, `url`, `imageUrl`, `labels`, `service`, `environment`, `source[]`.

Mapping: firing triggers (Keep's default when `status` is absent), resolved resolves,
acknowledged acknowledges; suppressed (dismissed in Keep) and pending change nothing. Dedup
key `keep-<fingerprint>`; without one, Keep's own default: the SHA-256 of `name`. Severity
critical→critical, high→error, warning→warning, info/low→info; absent → info, as Keep
defaults it. Summary `name`; description `description`, else `message`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import (
    InvalidPayload,
    done,
    get_path,
    links,
    mapping,
    text,
    timestamp,
)
from integrations.sources.registry import Provider

ACTIONS = {
    "firing": AlertAction.TRIGGER,
    "resolved": AlertAction.RESOLVE,
    "acknowledged": AlertAction.ACKNOWLEDGE,
    "suppressed": None,
    "pending": None,
}
SEVERITIES = {
    "critical": Severity.CRITICAL,
    "high": Severity.ERROR,
    "warning": Severity.WARNING,
    "info": Severity.INFO,
    "low": Severity.INFO,
}
SEVERITY_ORDER = {5: "critical", 4: "high", 3: "warning", 2: "info", 1: "low"}
DETAIL_FIELDS = (
    "id",
    "environment",
    "service",
    "source",
    "labels",
    "fingerprint",
    "lastReceived",
    "firingStartTime",
    "providerId",
    "providerType",
    "assignee",
    "note",
)


def _severity(root: Any, where: str, errors: list[str]) -> Severity:
    value = get_path(root, f"{where}severity")
    if isinstance(value, int) and not isinstance(value, bool) and value in SEVERITY_ORDER:
        return SEVERITIES[SEVERITY_ORDER[value]]
    if value is None:
        return Severity.INFO
    if isinstance(value, str) and value.strip().lower() in SEVERITIES:
        return SEVERITIES[value.strip().lower()]
    errors.append(f"'{where}severity' must be one of critical, high, warning, info, low.")
    return Severity.INFO


def _alert(root: Any, where: str, errors: list[str]) -> NormalizedEvent | None:
    """The alert at `where` ("" for the body itself, "3." for a list's fourth) in `root`."""
    alert = get_path(root, where.rstrip(".")) if where else root
    if not isinstance(alert, dict):
        errors.append(f"'{where.rstrip('.')}' must be an object.")
        return None
    count = len(errors)
    name = text(root, f"{where}name", errors, required=True, limit=1000)
    status = text(root, f"{where}status", errors).strip().lower() or "firing"
    if status not in ACTIONS:
        errors.append(f"'{where}status' must be one of {', '.join(ACTIONS)}.")
    severity = _severity(root, where, errors)
    fingerprint = text(root, f"{where}fingerprint", errors, limit=255)
    description = text(root, f"{where}description", errors)
    message = text(root, f"{where}message", errors)
    url, image_url = text(root, f"{where}url", errors), text(root, f"{where}imageUrl", errors)
    service = text(root, f"{where}service", errors, limit=255)
    mapping(root, f"{where}labels", errors)  # checked here, kept in the details
    sources = get_path(alert, "source")
    if sources is not None and not (
        isinstance(sources, list) and all(isinstance(s, str) for s in sources)
    ):
        errors.append(f"'{where}source' must be a list of strings.")
        sources = []
    # Keep turns a dismissed alert into a suppressed one.
    action = None if alert.get("dismissed") is True else ACTIONS.get(status)
    if len(errors) > count or action is None:
        return None
    key = fingerprint or hashlib.sha256(name.encode()).hexdigest()
    details = {k: alert[k] for k in DETAIL_FIELDS if alert.get(k) not in (None, "", [], {})}
    details["status"] = status
    return NormalizedEvent(
        action=action,
        dedup_key=f"keep-{key}",
        summary=name,
        severity=severity,
        source=service or ", ".join(sources or []) or "keep",
        description=description or message,
        details=details,
        links=links([("Alert", url)]),
        images=[{"src": image_url, "alt": name}]
        if image_url.startswith(("http://", "https://"))
        else [],
        occurred_at=timestamp(alert.get("lastReceived")),
        raw=alert,
    )


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    errors: list[str] = []
    if isinstance(body, list):
        if not body:
            raise InvalidPayload(["The body must not be an empty list."])
        found = [_alert(body, f"{index}.", errors) for index in range(len(body))]
    elif isinstance(body, dict):
        found = [_alert(body, "", errors)]
    else:
        raise InvalidPayload(["The body must be a JSON object or a list of them."])
    done(errors)
    return [event for event in found if event is not None]


SAMPLE = {
    "id": "1234",
    "name": "Checkout API error rate above 5%",
    "status": "firing",
    "severity": "critical",
    "lastReceived": "2026-11-20T09:14:03.512Z",
    "environment": "production",
    "service": "checkout",
    "source": ["prometheus"],
    "message": "5xx rate is 7.3% over the last 5 minutes",
    "description": "Checkout API is returning errors to customers.",
    "url": "https://keep.example.com/alerts/feed?alertId=1234",
    "labels": {"team": "payments", "region": "eu-west-1"},
    "fingerprint": "3d1f5d8f0b6a4f0c",
}

PROVIDER = Provider(kind="keep", parse=parse, sample=SAMPLE)
