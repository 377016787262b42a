"""Pingdom state change webhooks (Pingdom docs, "Webhooks": the uptime check example with
`check_params`, `importance_level`, `first_probe`/`second_probe`, and transaction checks).

Pingdom posts JSON when a check changes state: uptime checks between UP and DOWN, transaction
checks (`check_type` TRANSACTION) between SUCCESS(FUL) and FAILING. Set the integration URL
(Integrations → Add integration → Webhook) to
https://opsknight.example.com/api/v1/integrations/pingdom/<key>/ and enable it on the checks.

DOWN/FAILING triggers, one incident per check (dedup `pingdom-<check_id>`): `importance_level`
HIGH critical, LOW warning (critical when absent). UP/SUCCESS(FUL) resolves. UNCONFIRMED_DOWN
(one probe failed, Pingdom is re-testing from a second location) pages nobody: Pingdom sends
DOWN once confirmed, so paging earlier would page on every single-probe blip. For the same
reason an UP that follows UNCONFIRMED_DOWN is dropped: nothing was opened, and a resolve for a
key with no incident is remembered as an early resolve that would swallow a DOWN minutes later.
UNKNOWN and PAUSED change nothing. Pingdom does not sign webhooks: generic X-OpsKnight-Signature.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import (
    done,
    get_path,
    items,
    links,
    mapping,
    require_object,
    text,
    timestamp,
)
from integrations.sources.registry import Provider

FAILING = ("DOWN", "FAILING")
PASSING = ("UP", "SUCCESSFUL", "SUCCESS")
QUIET = ("UNCONFIRMED_DOWN", "UNKNOWN", "PAUSED")
STATES = FAILING + PASSING + QUIET
IMPORTANCE = {"HIGH": Severity.CRITICAL, "LOW": Severity.WARNING}


def _changed_at(body: dict[str, Any]) -> datetime | None:
    seconds = body.get("state_changed_timestamp")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and 0 < seconds < 1e11:
        return timestamp(seconds)
    utc = body.get("state_changed_utc_time")  # naive, documented as UTC
    if isinstance(utc, str):
        try:
            parsed = parse_datetime(utc.strip())
        except ValueError:
            return None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _state(body: dict[str, Any], name: str, errors: list[str], *, required: bool) -> str:
    state = text(body, name, errors, required=required).strip().upper()
    if state and state not in STATES:
        errors.append(f"'{name}' must be one of {', '.join(STATES)}.")
    return state


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    check_id = text(body, "check_id", errors, required=True, limit=64).strip()
    current = _state(body, "current_state", errors, required=True)
    previous = _state(body, "previous_state", errors, required=False)
    importance = text(body, "importance_level", errors).strip().upper()
    if importance and importance not in IMPORTANCE:
        errors.append("'importance_level' must be HIGH or LOW.")
    params = mapping(body, "check_params", errors)
    tags = items(body, "tags", errors)
    name = text(body, "check_name", errors, limit=200).strip() or f"Pingdom check {check_id}"
    check_type = text(body, "check_type", errors, limit=40).strip()
    short = text(body, "description", errors, limit=500).strip()
    long = text(body, "long_description", errors, limit=4000).strip()
    custom = text(body, "custom_message", errors, limit=4000).strip()
    full_url = text(body, "check_params.full_url", errors, limit=255).strip()
    hostname = text(body, "check_params.hostname", errors, limit=255).strip()
    done(errors)
    if current in QUIET or (current in PASSING and previous == "UNCONFIRMED_DOWN"):
        return []
    if current in FAILING:
        action, severity = AlertAction.TRIGGER, IMPORTANCE.get(importance, Severity.CRITICAL)
        summary = f"{name} is {'failing' if current == 'FAILING' else 'down'}"
        if short:
            summary += f": {short}"
    else:
        action, severity, summary = AlertAction.RESOLVE, Severity.INFO, f"{name} is up"
    probes = {k: body[k] for k in ("first_probe", "second_probe") if get_path(body, k)}
    return [
        NormalizedEvent(
            action=action,
            dedup_key=f"pingdom-{check_id}",
            summary=summary[:1024],
            severity=severity,
            source=full_url or hostname or name,
            description="\n\n".join(part for part in (long, custom) if part),
            details={
                "check_id": check_id,
                "check_type": check_type,
                "previous_state": previous,
                "current_state": current,
                "importance_level": importance,
                "check_params": params,
                "tags": tags,
                **probes,
            },
            links=links([("Checked URL", full_url)]),
            occurred_at=_changed_at(body),
        )
    ]


SAMPLE = {
    "check_id": 12345,
    "check_name": "Checkout API",
    "check_type": "HTTP",
    "check_params": {
        "basic_auth": False,
        "encryption": True,
        "full_url": "https://checkout.example.com/health",
        "header": "User-Agent:Pingdom.com_bot",
        "hostname": "checkout.example.com",
        "ipv6": False,
        "port": 443,
        "url": "/health",
    },
    "tags": ["checkout"],
    "previous_state": "UP",
    "current_state": "DOWN",
    "importance_level": "HIGH",
    "state_changed_timestamp": 1795166043,
    "state_changed_utc_time": "2026-11-20T09:14:03",
    "long_description": "HTTP Server Error 503 Service Unavailable",
    "description": "HTTP Error 503",
    "first_probe": {"ip": "185.39.146.214", "ipv6": "", "location": "Stockholm, Sweden"},
    "second_probe": {"ip": "52.0.204.16", "ipv6": "", "location": "Ashburn, US", "version": 1},
}

PROVIDER = Provider(kind="pingdom", parse=parse, sample=SAMPLE)
