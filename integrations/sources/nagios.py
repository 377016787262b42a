r"""Nagios Core / Nagios XI notifications, posted by a notification command.

Nagios has no webhook: a notification command runs curl with the standard notification macros
(Nagios Core 4 docs, "Standard Macros in Nagios" and "Notifications"), one form field per macro,
named after it. Form fields (`--data-urlencode`) because plugin output is pasted in verbatim and
a backslash in it ("C:\ - total: 50 GB") would break a JSON body built on a command line; a JSON
object with the same keys is accepted too, as are lowercase or snake_case keys
(`notificationtype`, `host_name`, `service_description`). One command serves host and service
notifications (the service macros are empty for a host); the key is a custom contact variable:

    define command {
        command_name  notify-opsknight
        command_line  /usr/bin/curl -fsS --max-time 10 \
            --data-urlencode "NOTIFICATIONTYPE=$NOTIFICATIONTYPE$" \
            --data-urlencode "HOSTNAME=$HOSTNAME$" --data-urlencode "HOSTADDRESS=$HOSTADDRESS$" \
            --data-urlencode "HOSTSTATE=$HOSTSTATE$" --data-urlencode "HOSTOUTPUT=$HOSTOUTPUT$" \
            --data-urlencode "SERVICEDESC=$SERVICEDESC$" \
            --data-urlencode "SERVICESTATE=$SERVICESTATE$" \
            --data-urlencode "SERVICEOUTPUT=$SERVICEOUTPUT$" \
            --data-urlencode "LONGSERVICEOUTPUT=$LONGSERVICEOUTPUT$" \
            --data-urlencode "NOTIFICATIONAUTHOR=$NOTIFICATIONAUTHOR$" \
            --data-urlencode "NOTIFICATIONCOMMENT=$NOTIFICATIONCOMMENT$" \
            --data-urlencode "LONGDATETIME=$LONGDATETIME$" --data-urlencode "TIMET=$TIMET$" \
            https://opsknight.example.com/api/v1/integrations/nagios/$_CONTACTOPSKNIGHT_KEY$/
    }
    define contact {
        contact_name                   opsknight
        _opsknight_key                 <the integration key>
        host_notification_commands     notify-opsknight
        service_notification_commands  notify-opsknight
        host_notification_options      d,u,r,f,s
        service_notification_options   w,u,c,r,f,s
        host_notification_period       24x7
        service_notification_period    24x7
    }

Keep `illegal_macro_output_chars` at its default: it strips the quotes and `$` that plugin
output could use to break out of the command line. With a signing secret on the integration,
post from a script that signs the body (`openssl dgst -sha256 -hmac`) in X-OpsKnight-Signature.

Mapping, one incident per host or service (dedup `nagios-<host>[-<service>]`):
- PROBLEM triggers: CRITICAL/DOWN critical, UNKNOWN/UNREACHABLE error, WARNING warning.
- RECOVERY (or a PROBLEM whose state is OK/UP) resolves; ACKNOWLEDGEMENT acknowledges.
- FLAPPINGSTART triggers a warning: Nagios sends no problem or recovery notifications while an
  object flaps, so this is the only page anyone gets. FLAPPINGSTOP/FLAPPINGDISABLED resolve it
  when the state is OK/UP; otherwise they are only recorded and the problem stays open.
- DOWNTIMESTART/END/CANCELLED and CUSTOM are recorded (a "change" alert), never paged,
  acknowledged or resolved: downtime is planned maintenance, not someone acknowledging this
  problem, and a resolve sent on downtime end for a healthy host would be remembered as an
  early resolve (incidents.ingestion) and swallow a real problem arriving minutes later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import done, links, require_object, text, timestamp
from integrations.sources.registry import Provider

HEALTHY = ("OK", "UP")
PROBLEM_SEVERITY = {
    "CRITICAL": Severity.CRITICAL,
    "DOWN": Severity.CRITICAL,
    "UNKNOWN": Severity.ERROR,
    "UNREACHABLE": Severity.ERROR,
    "WARNING": Severity.WARNING,
}
HOST_STATES = ("UP", "DOWN", "UNREACHABLE")
SERVICE_STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
TYPES = (
    "PROBLEM", "RECOVERY", "ACKNOWLEDGEMENT", "FLAPPINGSTART", "FLAPPINGSTOP", "FLAPPINGEND",
    "FLAPPINGDISABLED", "DOWNTIMESTART", "DOWNTIMEEND", "DOWNTIMECANCELLED", "DOWNTIMEREMOVED",
    "CUSTOM",
)  # fmt: skip
FLAPPING_ENDS = ("FLAPPINGSTOP", "FLAPPINGEND", "FLAPPINGDISABLED")
# Types whose text is what a person typed (the comment), not the plugin output.
COMMENTED = ("ACKNOWLEDGEMENT", "CUSTOM", "DOWNTIMESTART", "DOWNTIMEEND", "DOWNTIMECANCELLED")
ALIASES = {"SERVICEDESCRIPTION": "SERVICEDESC", "HOST": "HOSTNAME", "SERVICE": "SERVICEDESC"}
# A macro the sender could not expand ($SERVICEDESC$ in a host context) carries no value.
UNEXPANDED = re.compile(r"\$[A-Za-z0-9_.]+\$")
SECONDS = re.compile(r"[0-9]{1,11}(\.[0-9]+)?")


@dataclass(frozen=True)
class Notification:
    """One host or service notification, from Nagios or Icinga 2 alike."""

    type: str
    host: str
    service: str
    state: str
    output: str = ""
    long_output: str = ""
    author: str = ""
    comment: str = ""
    occurred_at: datetime | None = None
    # What people call them, when it differs from the name (Icinga 2's display_name).
    host_label: str = ""
    service_label: str = ""


def _action(note: Notification) -> tuple[AlertAction, str]:
    healthy = note.state in HEALTHY
    if note.type == "ACKNOWLEDGEMENT":
        return AlertAction.ACKNOWLEDGE, "acknowledged"
    if note.type == "RECOVERY" or (note.type == "PROBLEM" and healthy):
        return AlertAction.RESOLVE, f"is {note.state or 'OK'}"
    if note.type == "PROBLEM":
        return AlertAction.TRIGGER, f"is {note.state}"
    if note.type == "FLAPPINGSTART":
        return AlertAction.TRIGGER, "is flapping"
    if note.type in FLAPPING_ENDS:
        return (AlertAction.RESOLVE if healthy else AlertAction.CHANGE), "stopped flapping"
    if note.type == "DOWNTIMESTART":
        return AlertAction.CHANGE, "entered downtime"
    if note.type.startswith("DOWNTIME"):
        return AlertAction.CHANGE, "left downtime"
    return AlertAction.CHANGE, "custom notification"


def event_for(
    note: Notification,
    *,
    prefix: str,
    details: dict[str, Any],
    link_pairs: tuple[tuple[str, Any], ...] = (),
) -> NormalizedEvent:
    """The event a Nagios-style notification means (Icinga 2 shares it)."""
    action, verb = _action(note)
    host = note.host_label or note.host
    what = f"{note.service_label or note.service} on {host}" if note.service else host
    summary = f"{what} {verb}"
    if note.author:
        summary += f" by {note.author}"
    said = (note.comment or note.output) if note.type in COMMENTED else note.output
    if first_line := said.strip().split("\n", 1)[0].strip():
        summary += f": {first_line}"
    if note.type == "FLAPPINGSTART":
        severity = Severity.WARNING
    else:
        severity = PROBLEM_SEVERITY.get(note.state, Severity.INFO)
    key = f"{prefix}-{note.host}-{note.service}" if note.service else f"{prefix}-{note.host}"
    return NormalizedEvent(
        action=action,
        dedup_key=key,
        summary=summary[:1024],
        severity=severity if action == AlertAction.TRIGGER else Severity.INFO,
        source=note.host,
        description="\n\n".join(p for p in (note.comment, note.output, note.long_output) if p),
        details=details,
        links=links(link_pairs),
        occurred_at=note.occurred_at,
    )


def state_error(note_type: str, state: str, field: str, allowed: tuple[str, ...]) -> str | None:
    """Why `state` cannot be used; a PROBLEM or end of flapping needs one to act on."""
    if state and state not in allowed:
        return f"'{field}' must be one of {', '.join(allowed)}."
    if not state and (note_type == "PROBLEM" or note_type in FLAPPING_ENDS):
        return f"'{field}' is missing."
    return None


def unix_time(value: Any) -> datetime | None:
    """Seconds since the epoch, as a number or as the digits a form field carries."""
    if isinstance(value, str) and SECONDS.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e11:
        return None  # (common.timestamp overflows on a huge integer)
    return timestamp(value)


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    """Macro name -> value, whatever case the sender used; the exact macro name wins."""
    fields: dict[str, Any] = {}
    for key, value in body.items():
        name = key.upper().replace("_", "")
        name = ALIASES.get(name, name)
        if isinstance(value, str) and UNEXPANDED.fullmatch(value.strip()):
            value = ""
        if name not in fields or key == name:
            fields[name] = value
    return fields


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    fields = _fields(require_object(body))
    errors: list[str] = []
    note_type = text(fields, "NOTIFICATIONTYPE", errors, required=True).strip().upper()
    if note_type and note_type not in TYPES:
        errors.append(f"'NOTIFICATIONTYPE' must be one of {', '.join(TYPES)}.")
    host = text(fields, "HOSTNAME", errors, required=True, limit=255).strip()
    service = text(fields, "SERVICEDESC", errors, limit=255).strip()
    of = "SERVICE" if service else "HOST"
    state = text(fields, f"{of}STATE", errors).strip().upper()
    allowed = SERVICE_STATES if service else HOST_STATES
    if problem := state_error(note_type, state, f"{of}STATE", allowed):
        errors.append(problem)
    note = Notification(
        type=note_type,
        host=host,
        service=service,
        state=state,
        output=text(fields, f"{of}OUTPUT", errors, limit=4000),
        # Nagios passes long output with its line breaks escaped as a literal backslash-n.
        long_output=text(fields, f"LONG{of}OUTPUT", errors, limit=16000).replace("\\n", "\n"),
        author=text(fields, "NOTIFICATIONAUTHOR", errors, limit=200),
        comment=text(fields, "NOTIFICATIONCOMMENT", errors, limit=4000),
        occurred_at=unix_time(fields.get("TIMET")),
    )
    notes_url = text(fields, f"{of}NOTESURL", errors)
    done(errors)
    details = {name: value for name, value in fields.items() if value not in ("", None)}
    return [event_for(note, prefix="nagios", details=details, link_pairs=(("Notes", notes_url),))]


SAMPLE = {
    "NOTIFICATIONTYPE": "PROBLEM",
    "HOSTNAME": "db-01",
    "HOSTADDRESS": "10.0.4.21",
    "HOSTSTATE": "UP",
    "HOSTOUTPUT": "PING OK - Packet loss = 0%, RTA = 0.41 ms",
    "SERVICEDESC": "Disk /var",
    "SERVICESTATE": "CRITICAL",
    "SERVICEOUTPUT": "DISK CRITICAL - free space: /var 412 MB (2.1% inode=97%):",
    "LONGSERVICEOUTPUT": "",
    "NOTIFICATIONAUTHOR": "",
    "NOTIFICATIONCOMMENT": "",
    "LONGDATETIME": "Fri Nov 20 09:14:03 UTC 2026",
    "TIMET": "1795166043",
}

PROVIDER = Provider(kind="nagios", parse=parse, body="json-or-form", sample=SAMPLE)
