"""UptimeRobot webhook alert contact (Integrations → Webhook; help article "Webhook alerts").

UptimeRobot posts its alert variables either as JSON, written in the contact's "POST value"
with "Send as JSON (application/json)" ticked, or as the default form fields
(application/x-www-form-urlencoded). Both carry the same names; the documented JSON template:

    {"monitorID": "*monitorID*", "monitorURL": "*monitorURL*",
     "monitorFriendlyName": "*monitorFriendlyName*", "alertType": "*alertType*",
     "alertTypeFriendlyName": "*alertTypeFriendlyName*", "alertDetails": "*alertDetails*",
     "alertDuration": "*alertDuration*", "alertDateTime": "*alertDateTime*",
     "sslExpiryDate": "*sslExpiryDate*", "sslExpiryDaysLeft": "*sslExpiryDaysLeft*"}

snake_case names (`monitor_id`, `alert_type`, as some guides write them) are accepted too, and a
variable UptimeRobot left unreplaced (`*alertFriendlyDuration*` on a down alert) counts as
absent. Put the key in the URL: https://opsknight.example.com/api/v1/integrations/uptimerobot/<key>/

`alertType` 1 (down) triggers a critical incident, 2 (up) resolves it, one per monitor (dedup
`uptimerobot-<monitorID>`); 3 (SSL certificate expiry) triggers a warning on its own key,
`uptimerobot-<monitorID>-ssl`, so a renewed-certificate reminder never resolves an outage or the
reverse (UptimeRobot sends no "renewed" alert: resolve those by hand). Other alert types are
accepted without an event. UptimeRobot does not sign requests: generic X-OpsKnight-Signature.
"""

from __future__ import annotations

import re
from typing import Any

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import done, links, require_object, text, timestamp
from integrations.sources.registry import Provider

DOWN, UP, SSL_EXPIRY = 1, 2, 3
NAMES = (
    "monitorID", "monitorURL", "monitorFriendlyName", "alertType", "alertTypeFriendlyName",
    "alertDetails", "alertDuration", "alertFriendlyDuration", "alertDateTime",
    "monitorAlertContacts", "sslExpiryDate", "sslExpiryDaysLeft",
)  # fmt: skip
CANONICAL = {name.lower(): name for name in NAMES}
PLACEHOLDER = re.compile(r"\*[A-Za-z]+\*")
WHOLE = re.compile(r"[0-9]{1,11}")


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in body.items():
        name = CANONICAL.get(key.replace("_", "").lower(), key)
        if isinstance(value, str) and PLACEHOLDER.fullmatch(value.strip()):
            value = None
        if fields.get(name) is None:
            fields[name] = value
    return fields


def _whole(fields: dict[str, Any], name: str, errors: list[str]) -> int | None:
    """A whole number, sent as a number (JSON) or as text (form fields, quoted templates)."""
    value = text(fields, name, errors).strip()
    if not value:
        return None
    if not WHOLE.fullmatch(value):
        errors.append(f"'{name}' must be a whole number.")
        return None
    return int(value)


def _duration(fields: dict[str, Any], seconds: int | None) -> str:
    friendly = fields.get("alertFriendlyDuration")
    if isinstance(friendly, str) and friendly.strip():
        return friendly.strip()
    if seconds is None:
        return ""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    fields = _fields(require_object(body))
    errors: list[str] = []
    monitor_id = text(fields, "monitorID", errors, required=True, limit=64).strip()
    alert_type = _whole(fields, "alertType", errors)
    if alert_type is None and "'alertType' must be a whole number." not in errors:
        errors.append("'alertType' is missing.")
    url = text(fields, "monitorURL", errors, limit=255).strip()
    name = text(fields, "monitorFriendlyName", errors, limit=200).strip() or url or monitor_id
    details_text = text(fields, "alertDetails", errors, limit=1000).strip()
    seconds = _whole(fields, "alertDuration", errors)
    at = _whole(fields, "alertDateTime", errors)
    days_left = _whole(fields, "sslExpiryDaysLeft", errors)
    expiry = text(fields, "sslExpiryDate", errors, limit=64).strip()
    done(errors)
    if alert_type not in (DOWN, UP, SSL_EXPIRY):
        return []
    key = f"uptimerobot-{monitor_id}"
    if alert_type == DOWN:
        action, severity, summary = AlertAction.TRIGGER, Severity.CRITICAL, f"{name} is down"
        if details_text:
            summary += f": {details_text}"
    elif alert_type == UP:
        action, severity, summary = AlertAction.RESOLVE, Severity.INFO, f"{name} is up"
        if duration := _duration(fields, seconds):
            summary += f" (was down for {duration})"
    else:
        action, severity, key = AlertAction.TRIGGER, Severity.WARNING, f"{key}-ssl"
        when = f"in {days_left} days" if days_left is not None else "soon"
        summary = f"{name}: SSL certificate expires {when}"
        if expiry:
            summary += f" ({expiry})"
    return [
        NormalizedEvent(
            action=action,
            dedup_key=key,
            summary=summary[:1024],
            severity=severity,
            source=url or name,
            description=details_text,
            details={k: v for k, v in fields.items() if v not in (None, "")},
            links=links([("Monitor", url)]),
            occurred_at=timestamp(at) if at else None,
        )
    ]


SAMPLE = {
    "monitorID": "793042315",
    "monitorURL": "https://checkout.example.com/health",
    "monitorFriendlyName": "Checkout API",
    "alertType": "1",
    "alertTypeFriendlyName": "Down",
    "alertDetails": "Connection Timeout",
    "alertDuration": "*alertDuration*",
    "alertDateTime": "1795166043",
    "sslExpiryDate": "*sslExpiryDate*",
    "sslExpiryDaysLeft": "*sslExpiryDaysLeft*",
}

PROVIDER = Provider(kind="uptimerobot", parse=parse, body="json-or-form", sample=SAMPLE)
