"""Zabbix webhook media type (Alerts → Media types → Create media type → Webhook).

Zabbix has no fixed webhook body: a media type's parameters (name: macro) reach its script as
JSON, and the script posts them. Parameters to add (Zabbix manual, "Macros supported by
location"; names in parentheses are also accepted):

    URL                  https://opsknight.example.com/api/v1/integrations/zabbix/<key>/
    secret               the integration's signing secret (leave empty when none is set)
    event_id (eventid)   {EVENT.ID}                event_value          {EVENT.VALUE}
    event_update_status  {EVENT.UPDATE.STATUS}     event_update_action  {EVENT.UPDATE.ACTION}
    event_update_user    {USER.FULLNAME}           event_update_message {EVENT.UPDATE.MESSAGE}
    event_ack            {EVENT.ACK.STATUS}        event_name           {EVENT.NAME}
    event_opdata         {EVENT.OPDATA}            event_tags           {EVENT.TAGSJSON}
    severity             {EVENT.NSEVERITY}         severity_name        {EVENT.SEVERITY}
    host (hostname)      {HOST.NAME}               host_ip              {HOST.IP}
    trigger_id           {TRIGGER.ID}              trigger_name         {TRIGGER.NAME}
    trigger_description  {TRIGGER.DESCRIPTION}    url                  {$ZABBIX.URL}

Script. With a secret it signs the body with hmac(), one of the global functions Zabbix 6.x+
gives webhook scripts, in the generic X-OpsKnight-Signature header (verify=None: a signature
over the body, not a fixed token header like the seed's X-Gitlab-Token, which any log of the
request would leak):

    var p = JSON.parse(value), req = new HttpRequest(), url = p.URL, secret = p.secret;
    delete p.URL; delete p.secret;
    try { p.event_tags = JSON.parse(p.event_tags); } catch (e) {}
    var body = JSON.stringify(p);
    req.addHeader('Content-Type: application/json');
    if (secret) { req.addHeader('X-OpsKnight-Signature: sha256=' + hmac('sha256', secret, body)); }
    var resp = req.post(url, body);
    if (req.getStatus() !== 202) { throw 'OpsKnight answered ' + req.getStatus() + ': ' + resp; }
    return 'OK';

Add message templates for Problem, Problem recovery and Problem update (their text is unused),
and recovery and update operations to the action.

Mapping:
- An update (`event_update_status` 1): "closed" in `event_update_action` resolves, "acknowledged"
  acknowledges (not "unacknowledged"), anything else (a comment, a severity change, suppression)
  is recorded without effect.
- Otherwise `event_value` 0 (or a status RESOLVED/OK) resolves, 1 (PROBLEM) triggers.
- Severity from the number (severity names can be renamed in Zabbix): 5 Disaster critical,
  4 High error, 3 Average and 2 Warning warning, 1 Information and 0 Not classified info.
- Dedup `zabbix-<host>-<trigger id>`, or the event id when there is no trigger (service and
  internal events). The trigger is the better grouping: a trigger in "Multiple" problem
  generation mode opens a new event (new id) each time it fires while in problem, which would
  page once per event; and its OK event closes all of them at once, one resolve for one key.
  Integration option `{"group_by": "event"}` keys per event instead, for triggers whose
  problems are closed one by one by tag correlation.
Values Zabbix could not expand (`{TRIGGER.ID}`, `*UNKNOWN*`) count as absent.
"""

from __future__ import annotations

import json
import re
from typing import Any

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import done, links, require_object, severity_from, text
from integrations.sources.registry import Provider

ALIASES = {
    "eventid": "event_id",
    "triggerid": "trigger_id",
    "hostname": "host",
    "host_name": "host",
    "event_nseverity": "severity",
    "event_severity": "severity_name",
    "event_ack_status": "event_ack",
    "event_tags_json": "event_tags",
    "zabbix_url": "url",
    "event_status": "status",
    "trigger_status": "status",
}
NUMBERED = {
    5: Severity.CRITICAL,
    4: Severity.ERROR,
    3: Severity.WARNING,
    2: Severity.WARNING,
    1: Severity.INFO,
    0: Severity.INFO,
}
NAMED = {
    "disaster": 5, "high": 4, "average": 3, "warning": 2, "information": 1, "not classified": 0,
}  # fmt: skip
UNEXPANDED = re.compile(r"\{[^{}]*\}|\*UNKNOWN\*")
ACKNOWLEDGED = re.compile(r"(?<!un)acknowledged")
CLOSED = re.compile(r"\bclosed\b")
NUMBER = re.compile(r"[0-9]+")
LEVELS = ("0", "1", "2", "3", "4", "5")
UPDATE_VERBS = {
    AlertAction.RESOLVE: "closed",
    AlertAction.ACKNOWLEDGE: "acknowledged",
    AlertAction.CHANGE: "updated",
    AlertAction.TRIGGER: "updated",
}
RESOLVED_WORDS = ("0", "resolved", "ok", "recovery")
PROBLEM_WORDS = ("1", "problem")


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in body.items():
        name = ALIASES.get(key, key)
        if isinstance(value, str) and UNEXPANDED.fullmatch(value.strip()):
            value = None
        if fields.get(name) is None:
            fields[name] = value
    return fields


def _tags(value: Any, errors: list[str]) -> dict[str, str]:
    """{EVENT.TAGSJSON} (a list, or its JSON text) or {EVENT.TAGS} ("a:b, c:d") as a dict."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            value = 0  # refused below
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        pairs = [part.partition(":") for part in value.split(", ")]
        return {tag.strip(): tag_value.strip() for tag, _, tag_value in pairs if tag.strip()}
    tags: dict[str, str] = {}
    if isinstance(value, list) and all(isinstance(t, dict) for t in value):
        for tag in value:
            name, tag_value = tag.get("tag"), tag.get("value", "")
            if not isinstance(name, str) or not isinstance(tag_value, str):
                break
            tags[name] = f"{tags[name]}, {tag_value}" if name in tags else tag_value
        else:
            return tags
    errors.append('\'event_tags\' must be a list of {"tag", "value"} objects.')
    return {}


def _severity(fields: dict[str, Any], errors: list[str]) -> tuple[Severity, str]:
    number = text(fields, "severity", errors).strip()
    name = text(fields, "severity_name", errors).strip()
    if number in LEVELS:
        return NUMBERED[int(number)], name
    if number and not NUMBER.fullmatch(number):  # a name sent in `severity`
        number, name = "", name or number
    level = NAMED.get(name.lower()) if name else None
    if level is not None:
        return NUMBERED[level], name
    if number:
        errors.append("'severity' must be 0 to 5 ({EVENT.NSEVERITY}).")
    return severity_from(name, Severity.WARNING), name


def _action(fields: dict[str, Any], errors: list[str]) -> AlertAction:
    if text(fields, "event_update_status", errors).strip() == "1":
        update = text(fields, "event_update_action", errors).lower()
        if CLOSED.search(update):
            return AlertAction.RESOLVE
        if ACKNOWLEDGED.search(update):
            return AlertAction.ACKNOWLEDGE
        acked = not update and text(fields, "event_ack", errors).strip().lower() == "yes"
        return AlertAction.ACKNOWLEDGE if acked else AlertAction.CHANGE
    field = "event_value" if fields.get("event_value") is not None else "status"
    value = text(fields, field, errors).strip().lower()
    if value in RESOLVED_WORDS:
        return AlertAction.RESOLVE
    if value in PROBLEM_WORDS:
        return AlertAction.TRIGGER
    if value:
        errors.append(f"'{field}' must be 1 (problem) or 0 (recovery).")
    else:
        errors.append("'event_value' is missing.")
    return AlertAction.CHANGE  # not used: the errors refuse the body


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    fields = _fields(require_object(body))
    errors: list[str] = []
    event_id = text(fields, "event_id", errors, required=True).strip()
    if event_id and not NUMBER.fullmatch(event_id):
        errors.append("'event_id' must be a number ({EVENT.ID}).")
    trigger_id = text(fields, "trigger_id", errors).strip()
    host = text(fields, "host", errors, limit=255).strip()
    updated = text(fields, "event_update_status", errors).strip() == "1"
    action = _action(fields, errors)
    severity, severity_name = _severity(fields, errors)
    tags = _tags(fields.get("event_tags"), errors)
    name = (
        text(fields, "event_name", errors, limit=500)
        or text(fields, "trigger_name", errors, limit=500)
        or f"Zabbix event {event_id}"
    )
    opdata = text(fields, "event_opdata", errors, limit=500)
    user = text(fields, "event_update_user", errors, limit=200)
    message = text(fields, "event_update_message", errors, limit=4000)
    description = text(fields, "trigger_description", errors, limit=4000)
    frontend = text(fields, "url", errors).rstrip("/")
    done(errors)
    per_event = options.get("group_by") == "event"
    ident = event_id if per_event or not trigger_id else trigger_id
    summary = f"{name} on {host}" if host else name
    if opdata:
        summary += f" ({opdata})"
    if updated and user:
        summary += f", {UPDATE_VERBS[action]} by {user}"
    if message:
        summary += f": {message.splitlines()[0]}"
    page = f"{frontend}/tr_events.php?triggerid={trigger_id}&eventid={event_id}"
    detail_names = ("event_update_action", "event_ack", "event_source", "host_ip", "trigger_id")
    return [
        NormalizedEvent(
            action=action,
            dedup_key="-".join(part for part in ("zabbix", host, ident) if part),
            summary=summary[:1024],
            severity=severity if action == AlertAction.TRIGGER else Severity.INFO,
            source=host or "zabbix",
            description="\n\n".join(part for part in (description, message) if part),
            details={
                "event_id": event_id,
                "severity": severity_name,
                "tags": tags,
                **{k: fields[k] for k in detail_names if fields.get(k) not in (None, "")},
            },
            links=links([("Zabbix", page if trigger_id else frontend)]),
        )
    ]


SAMPLE = {
    "event_id": "4182745",
    "event_value": "1",
    "event_update_status": "0",
    "event_update_action": "",
    "event_ack": "No",
    "event_name": "Load average is too high (per CPU load over 1.5 for 5m)",
    "event_opdata": "Load averages(1m, 5m, 15m): (7.82, 6.91, 5.40), # of CPUs: 4",
    "event_tags": [{"tag": "scope", "value": "performance"}, {"tag": "component", "value": "cpu"}],
    "severity": "3",
    "severity_name": "Average",
    "host": "web-01",
    "host_ip": "10.0.3.11",
    "trigger_id": "23311",
    "trigger_name": "Load average is too high (per CPU load over 1.5 for 5m)",
    "trigger_description": "The load average per CPU is too high. The system may be slow.",
    "url": "https://zabbix.example.com",
}

PROVIDER = Provider(kind="zabbix", parse=parse, sample=SAMPLE)
