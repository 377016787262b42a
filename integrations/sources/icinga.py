"""Icinga 2 notifications: a NotificationCommand posting the runtime macros, or Event Stream.

1. A NotificationCommand (Icinga 2 docs, "Monitoring Basics" → Notification Commands and
   Runtime Macros) posts one form field per runtime macro, named after it. The command is an
   array, so Icinga runs curl without a shell and no output can break the quoting. A service
   command is shown; the host one sends `host.state`/`host.output` instead of the `service.*`
   fields (Icinga refuses to run a command with a macro it cannot resolve, so one command
   cannot serve both). Assign both with `apply Notification` rules to a User `opsknight` with
   `vars.opsknight_url = "https://opsknight.example.com/api/v1/integrations/icinga/<key>/"`:

       object NotificationCommand "opsknight-service-notification" {
         command = [ "/usr/bin/curl", "-fsS", "--max-time", "10",
           "--data-urlencode", "notification.type=$notification.type$",
           "--data-urlencode", "notification.author=$notification.author$",
           "--data-urlencode", "notification.comment=$notification.comment$",
           "--data-urlencode", "host.name=$host.name$",
           "--data-urlencode", "host.display_name=$host.display_name$",
           "--data-urlencode", "service.name=$service.name$",
           "--data-urlencode", "service.display_name=$service.display_name$",
           "--data-urlencode", "service.state=$service.state$",
           "--data-urlencode", "service.output=$service.output$",
           "--data-urlencode", "icinga.timet=$icinga.timet$",
           "$opsknight_url$" ]
       }

   A JSON body is accepted too, with the same dotted keys or nested
   (`{"notification": {"type": ...}, "host": {"name": ...}}`).
2. An Event Stream "Notification" event (Icinga 2 docs, "REST API" → Event Stream Type:
   Notification: `type`, `timestamp`, `host`, `service`, `users`, `notification_type`,
   `author`, `text`, `check_result`), forwarded one event per request by a relay subscribed to
   `/v1/events?types=Notification`. The state comes from `check_result.state` (a host's 0/1 is
   UP and 2/3 DOWN, UNREACHABLE when `vars_after.reachable` is false).

`notification.type` is PROBLEM, RECOVERY, ACKNOWLEDGEMENT, CUSTOM, FLAPPINGSTART, FLAPPINGEND,
DOWNTIMESTART, DOWNTIMEEND or DOWNTIMECANCELLED. The mapping is Nagios' (sources/nagios.py):
PROBLEM triggers (CRITICAL/DOWN critical, UNKNOWN/UNREACHABLE error, WARNING warning),
RECOVERY resolves, ACKNOWLEDGEMENT acknowledges, FLAPPINGSTART triggers a warning that
FLAPPINGEND resolves when OK/UP, downtime and custom notifications are only recorded. Dedup key
`icinga-<host>[-<service>]`. Generic X-OpsKnight-Signature when a signing secret is set.
"""

from __future__ import annotations

from typing import Any

from incidents.ingestion import NormalizedEvent
from integrations.sources.common import (
    InvalidPayload,
    done,
    get_path,
    mapping,
    require_object,
    text,
)
from integrations.sources.nagios import (
    HOST_STATES,
    SERVICE_STATES,
    TYPES,
    UNEXPANDED,
    Notification,
    event_for,
    state_error,
    unix_time,
)
from integrations.sources.registry import Provider

GROUPS = ("notification", "host", "service", "icinga")


def _nested(body: dict[str, Any]) -> dict[str, Any]:
    """Dotted form fields (`host.name`) folded into objects, unexpanded macros emptied."""
    nested: dict[str, Any] = {
        key: dict(value) if isinstance(value, dict) else value
        for key, value in body.items()
        if "." not in key
    }
    for key, value in body.items():
        group, dot, rest = key.partition(".")
        if dot and isinstance(nested.setdefault(group, {}), dict):
            nested[group].setdefault(rest, value)
    for group in GROUPS:
        for name, value in mapping(nested, group, []).items():
            if isinstance(value, str) and UNEXPANDED.fullmatch(value.strip()):
                nested[group][name] = ""
    return nested


def _type(value: str, errors: list[str], *, stream: bool = False) -> str:
    note_type = value.strip().upper()
    field = "notification_type" if stream else "notification.type"
    if note_type and note_type not in TYPES:
        errors.append(f"'{field}' must be one of {', '.join(TYPES)}.")
    return note_type


def _from_macros(body: dict[str, Any]) -> tuple[Notification, dict[str, Any]]:
    body = _nested(body)
    errors: list[str] = []
    for group in GROUPS:
        mapping(body, group, errors)
    done(errors)
    note_type = _type(text(body, "notification.type", errors, required=True), errors)
    service = text(body, "service.name", errors, limit=255).strip()
    of = "service" if service else "host"
    state = text(body, f"{of}.state", errors).strip().upper()
    allowed = SERVICE_STATES if service else HOST_STATES
    if problem := state_error(note_type, state, f"{of}.state", allowed):
        errors.append(problem)
    note = Notification(
        type=note_type,
        host=text(body, "host.name", errors, required=True, limit=255).strip(),
        service=service,
        state=state,
        output=text(body, f"{of}.output", errors, limit=16000),
        author=text(body, "notification.author", errors, limit=200),
        comment=text(body, "notification.comment", errors, limit=4000),
        occurred_at=unix_time(get_path(body, "icinga.timet")),
        host_label=text(body, "host.display_name", errors, limit=255).strip(),
        service_label=text(body, "service.display_name", errors, limit=255).strip(),
    )
    done(errors)
    details = {
        group: {name: value for name, value in body[group].items() if value not in ("", None)}
        for group in GROUPS
        if body.get(group)
    }
    return note, details


def _state_from_result(result: dict[str, Any], service: str) -> str:
    state = result.get("state")
    if isinstance(state, bool) or not isinstance(state, int | float) or state not in (0, 1, 2, 3):
        return ""
    if service:
        return SERVICE_STATES[int(state)]
    if state < 2:
        return "UP"
    return "UNREACHABLE" if get_path(result, "vars_after.reachable") is False else "DOWN"


def _from_event_stream(body: dict[str, Any]) -> tuple[Notification, dict[str, Any]]:
    errors: list[str] = []
    note_type = _type(text(body, "notification_type", errors, required=True), errors, stream=True)
    service = text(body, "service", errors, limit=255).strip()
    result = mapping(body, "check_result", errors)
    state = _state_from_result(result, service)
    if "state" in result and not state:
        errors.append("'check_result.state' must be 0, 1, 2 or 3.")
    elif problem := state_error(
        note_type, state, "check_result.state", SERVICE_STATES if service else HOST_STATES
    ):
        errors.append(problem)
    note = Notification(
        type=note_type,
        host=text(body, "host", errors, required=True, limit=255).strip(),
        service=service,
        state=state,
        output=text(body, "check_result.output", errors, limit=16000),
        author=text(body, "author", errors, limit=200),
        comment=text(body, "text", errors, limit=4000),
        occurred_at=unix_time(body.get("timestamp")),
    )
    done(errors)
    details = {k: body[k] for k in ("users", "command", "check_result") if body.get(k)}
    return note, details


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    if "type" in body:
        if body["type"] != "Notification":
            raise InvalidPayload(["'type' must be \"Notification\" (stream types=Notification)."])
        note, details = _from_event_stream(body)
    else:
        note, details = _from_macros(body)
    return [event_for(note, prefix="icinga", details=details)]


SAMPLE = {
    "notification.type": "PROBLEM",
    "notification.author": "",
    "notification.comment": "",
    "host.name": "db-01.example.com",
    "host.display_name": "db-01",
    "service.name": "disk-/var",
    "service.display_name": "Disk /var",
    "service.state": "CRITICAL",
    "service.output": "DISK CRITICAL - free space: /var 412 MiB (2% inode=97%);",
    "icinga.timet": "1795166043",
}

PROVIDER = Provider(kind="icinga", parse=parse, body="json-or-form", sample=SAMPLE)
