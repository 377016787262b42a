"""Splunk On-Call (VictorOps) REST endpoint format, so VictorOps senders switch by URL alone.

Reads the body of Splunk On-Call's "REST Endpoint integration" (help.victorops.com / Splunk
On-Call docs, "Recommended fields"): `message_type` (CRITICAL, WARNING, ACKNOWLEDGEMENT, INFO,
RECOVERY, any case), `entity_id`, `entity_display_name`, `state_message`, `monitoring_tool`,
`state_start_time` (Unix seconds), `ack_msg`/`ack_author`, annotations `vo_annotate.u.<title>`
(a link), `vo_annotate.i.<title>` (an image), `vo_annotate.s.<title>` (a note), and any other
fields, which become details. The routing key that VictorOps puts in the URL is the
integration's key here.

- CRITICAL triggers critical, WARNING triggers warning, ACKNOWLEDGEMENT acknowledges, RECOVERY
  resolves. INFO is recorded on the alert log and never pages, as VictorOps shows an INFO
  message on its timeline without opening an incident.
- One incident per entity: `splunk-oncall-<entity_id>`. Like VictorOps, a CRITICAL or WARNING
  without `entity_id` opens an incident of its own (no key); acknowledging or recovering one
  requires the `entity_id`.
- Summary: `entity_display_name`, else `state_message`, else `entity_id`.

Authentication: VictorOps does not sign requests; with a signing secret set the generic
`X-OpsKnight-Signature: sha256=<hex>` applies.
"""

from __future__ import annotations

from typing import Any

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import done, links, require_object, text, timestamp
from integrations.sources.registry import Provider

MESSAGE_TYPES = {
    "CRITICAL": (AlertAction.TRIGGER, Severity.CRITICAL),
    "WARNING": (AlertAction.TRIGGER, Severity.WARNING),
    "ACKNOWLEDGEMENT": (AlertAction.ACKNOWLEDGE, Severity.INFO),
    "RECOVERY": (AlertAction.RESOLVE, Severity.INFO),
    "INFO": (AlertAction.CHANGE, Severity.INFO),
}
URL, IMAGE, NOTE = "vo_annotate.u.", "vo_annotate.i.", "vo_annotate.s."
READ = {
    "message_type",
    "entity_id",
    "entity_display_name",
    "state_message",
    "monitoring_tool",
    "state_start_time",
}


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    message_type = text(body, "message_type", errors, required=True).upper()
    if message_type and message_type not in MESSAGE_TYPES:
        errors.append(
            "'message_type' must be CRITICAL, WARNING, ACKNOWLEDGEMENT, INFO or RECOVERY."
        )
    entity_id = text(body, "entity_id", errors)
    name = text(body, "entity_display_name", errors, limit=500)
    message = text(body, "state_message", errors, limit=10_000)
    tool = text(body, "monitoring_tool", errors, limit=255)
    host = text(body, "host_name", errors, limit=255)
    ack_message = text(body, "ack_msg", errors, limit=5000)
    done(errors)
    action, severity = MESSAGE_TYPES[message_type]
    if not entity_id and action in (AlertAction.ACKNOWLEDGE, AlertAction.RESOLVE):
        errors.append(f"'entity_id' is missing: a {message_type} needs it.")
    done(errors)
    annotations = {k: v for k, v in body.items() if k.startswith("vo_annotate.")}
    notes = [f"{k.removeprefix(NOTE)}: {v}" for k, v in annotations.items() if k.startswith(NOTE)]
    started = body.get("state_start_time")
    if isinstance(started, str) and started.isdigit():
        started = int(started)  # senders templating the body often quote the seconds
    return [
        NormalizedEvent(
            action=action,
            dedup_key=f"splunk-oncall-{entity_id}" if entity_id else None,
            summary=name or message.partition("\n")[0][:500] or entity_id or message_type,
            severity=severity,
            source=host or tool or "splunk-oncall",
            description="\n\n".join(part for part in (message, ack_message, *notes) if part),
            details={
                "message_type": message_type,
                "entity_id": entity_id,
                **({"monitoring_tool": tool} if tool else {}),
                **{k: v for k, v in body.items() if k not in READ and k not in annotations},
            },
            links=links(
                (k.removeprefix(URL), v) for k, v in annotations.items() if k.startswith(URL)
            ),
            images=[
                {"src": v, "alt": k.removeprefix(IMAGE)}
                for k, v in annotations.items()
                if k.startswith(IMAGE) and isinstance(v, str) and v.startswith("https://")
            ],
            occurred_at=timestamp(started),
        )
    ]


SAMPLE = {
    "message_type": "CRITICAL",
    "entity_id": "disk.space/db-01",
    "entity_display_name": "Disk space low on db-01",
    "state_message": "/var/lib/postgresql is 96% full (4.1 GB free).",
    "monitoring_tool": "nagios",
    "host_name": "db-01",
    "state_start_time": 1795166043,
    "vo_annotate.u.Runbook": "https://runbooks.example.com/db/disk-space",
}

PROVIDER = Provider(kind="splunk-oncall", parse=parse, sample=SAMPLE)
