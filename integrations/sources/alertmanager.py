"""Prometheus Alertmanager webhook, version "4": one event per alert, or one per group.

Wire format: ../shared/specs/wire-formats.md §2.4. Pure functions: a body in, NormalizedEvents
out, or InvalidPayload listing every problem. Unknown fields are refused by name, so a payload
from something that only resembles Alertmanager fails loudly instead of losing data.

Two dedup modes, chosen per integration: per alert (the alert's `fingerprint`, the stable hash
Alertmanager computes from its labels) so each alert is its own incident, or per group
(`groupKey`) so a group is one incident, resolved when Alertmanager says the group is.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity

GROUP_BY_GROUP_KEY = "group_key"
PAYLOAD_FIELDS = {
    "version",
    "groupKey",
    "truncatedAlerts",
    "status",
    "receiver",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "alerts",
}
ALERT_FIELDS = {
    "status",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
}
STATUSES = {"firing", "resolved"}
SEVERITIES = {
    "critical": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "p1": Severity.CRITICAL,
    "error": Severity.ERROR,
    "high": Severity.ERROR,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "medium": Severity.WARNING,
    "info": Severity.INFO,
    "low": Severity.INFO,
    "none": Severity.INFO,
}
SEVERITY_RANK = [Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.CRITICAL]
# RFC 3339 proper: a full date, a time and an offset (ISO 8601 alone would allow far more).
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


class InvalidPayload(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def _unknown(obj: dict[str, Any], allowed: set[str], where: str, errors: list[str]) -> None:
    errors.extend(f"'{where}{name}' is not a known field." for name in sorted(set(obj) - allowed))


def _string(obj: dict[str, Any], name: str, where: str, errors: list[str]) -> str:
    value = obj.get(name, "")
    if not isinstance(value, str):
        errors.append(f"'{where}{name}' must be a string.")
        return ""
    return value


def _string_map(
    obj: dict[str, Any], name: str, where: str, errors: list[str], *, required: bool = False
) -> dict[str, str]:
    value = obj.get(name)
    if value is None:
        if required:
            errors.append(f"'{where}{name}' is missing.")
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        errors.append(f"'{where}{name}' must be an object of string values.")
        return {}
    return value


def _time(obj: dict[str, Any], name: str, where: str, errors: list[str]) -> datetime | None:
    raw = obj.get(name)
    if raw is None:
        return None
    parsed = parse_datetime(raw) if isinstance(raw, str) and RFC3339.fullmatch(raw) else None
    if parsed is None:
        errors.append(f"'{where}{name}' must be an RFC 3339 date-time.")
    return parsed


def severity_of(labels: dict[str, str]) -> Severity:
    """`labels.severity` in the words teams actually use; warning when absent or unknown."""
    return SEVERITIES.get(labels.get("severity", "").strip().lower(), Severity.WARNING)


def summary_of(annotations: dict[str, str], labels: dict[str, str]) -> str:
    """The annotation a human wrote, else `alertname on instance`, else the label set."""
    for name in ("summary", "description"):
        if annotations.get(name, "").strip():
            return annotations[name].strip()
    if alertname := labels.get("alertname", ""):
        instance = labels.get("instance", "")
        return f"{alertname} on {instance}" if instance else alertname
    return ", ".join(f"{name}={value}" for name, value in sorted(labels.items()))


def labels_key(labels: dict[str, str]) -> str:
    """A stable dedup key for an alert sent without a fingerprint: a hash of its sorted labels."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"), ensure_ascii=False)
    return "labels:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _alert(alert: Any, index: int, errors: list[str]) -> dict[str, Any] | None:
    where = f"alerts[{index}]."
    if not isinstance(alert, dict):
        errors.append(f"'alerts[{index}]' must be an object.")
        return None
    count = len(errors)
    _unknown(alert, ALERT_FIELDS, where, errors)
    status = alert.get("status")
    if status not in STATUSES:
        errors.append(f"'{where}status' must be one of firing, resolved.")
    parsed = {
        "status": status,
        "labels": _string_map(alert, "labels", where, errors, required=True),
        "annotations": _string_map(alert, "annotations", where, errors),
        "startsAt": _time(alert, "startsAt", where, errors),
        "endsAt": _time(alert, "endsAt", where, errors),
        "generatorURL": _string(alert, "generatorURL", where, errors),
        "fingerprint": _string(alert, "fingerprint", where, errors),
    }
    return parsed if len(errors) == count else None


def _group(body: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    _unknown(body, PAYLOAD_FIELDS, "", errors)
    if body.get("version") != "4":
        errors.append("'version' must be \"4\".")
    truncated = body.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        errors.append("'truncatedAlerts' must be a whole number of at least 0.")
    status = body.get("status")
    if status is not None and status not in STATUSES:
        errors.append("'status' must be one of firing, resolved.")
    return {
        "status": status,
        "groupKey": _string(body, "groupKey", "", errors),
        "receiver": _string(body, "receiver", "", errors),
        "externalURL": _string(body, "externalURL", "", errors),
        "groupLabels": _string_map(body, "groupLabels", "", errors),
        "commonLabels": _string_map(body, "commonLabels", "", errors),
        "commonAnnotations": _string_map(body, "commonAnnotations", "", errors),
    }


def _per_alert(group: dict[str, Any], alert: dict[str, Any]) -> NormalizedEvent:
    labels, annotations = alert["labels"], alert["annotations"]
    details: dict[str, Any] = {"labels": labels, "annotations": annotations}
    details |= {name: alert[name] for name in ("generatorURL",) if alert[name]}
    details |= {k: group[k] for k in ("groupKey", "externalURL", "receiver") if group[k]}
    return NormalizedEvent(
        action=AlertAction.RESOLVE if alert["status"] == "resolved" else AlertAction.TRIGGER,
        dedup_key=alert["fingerprint"] or labels_key(labels),
        summary=summary_of(annotations, labels),
        severity=severity_of(labels),
        source=labels.get("instance") or labels.get("job") or "alertmanager",
        description=annotations.get("description", ""),
        details=details,
        links=[{"href": alert["generatorURL"], "text": "Source"}] if alert["generatorURL"] else [],
        occurred_at=alert["endsAt"] if alert["status"] == "resolved" else alert["startsAt"],
    )


def _grouped(group: dict[str, Any], alerts: list[dict[str, Any]]) -> NormalizedEvent:
    labels = {**group["groupLabels"], **group["commonLabels"]}
    annotations = group["commonAnnotations"]
    firing = [a for a in alerts if a["status"] == "firing"] or alerts
    severity = max((severity_of(a["labels"]) for a in firing), key=SEVERITY_RANK.index)
    started = [a["startsAt"] for a in alerts if a["startsAt"] is not None]
    details: dict[str, Any] = {
        name: group[name]
        for name in ("groupKey", "receiver", "externalURL", "groupLabels", "commonLabels")
        if group[name]
    }
    details["commonAnnotations"] = annotations
    details["alerts"] = [
        {
            "status": a["status"],
            "labels": a["labels"],
            "annotations": a["annotations"],
            "fingerprint": a["fingerprint"],
            "generatorURL": a["generatorURL"],
        }
        for a in alerts
    ]
    return NormalizedEvent(
        action=AlertAction.RESOLVE if group["status"] == "resolved" else AlertAction.TRIGGER,
        dedup_key=group["groupKey"],
        summary=summary_of(annotations, labels),
        severity=severity,
        source=labels.get("instance") or labels.get("job") or "alertmanager",
        description=annotations.get("description", ""),
        details=details,
        links=[{"href": group["externalURL"], "text": "Alertmanager"}]
        if group["externalURL"]
        else [],
        occurred_at=min(started) if started else None,
    )


def parse_webhook(body: Any, *, group_by: str = "") -> list[NormalizedEvent]:
    """The events of one webhook, in alert order, or InvalidPayload listing every problem.

    `group_by == "group_key"` makes the whole group one event keyed by `groupKey`.
    """
    if not isinstance(body, dict):
        raise InvalidPayload(["The payload must be a JSON object."])
    errors: list[str] = []
    group = _group(body, errors)
    raw_alerts = body.get("alerts")
    alerts: list[dict[str, Any]] = []
    if not isinstance(raw_alerts, list) or not raw_alerts:
        errors.append("'alerts' must be a non-empty list.")
    else:
        for index, raw in enumerate(raw_alerts):
            if (alert := _alert(raw, index, errors)) is not None:
                alerts.append(alert)
    grouped = group_by == GROUP_BY_GROUP_KEY
    if grouped and not group["groupKey"]:
        errors.append("'groupKey' is required when this integration groups by group key.")
    if grouped and group["status"] is None:
        errors.append("'status' is required when this integration groups by group key.")
    if errors:
        raise InvalidPayload(errors)
    if grouped:
        return [_grouped(group, alerts)]
    # Each alert keeps its own entry of the body (plus the group's fields), not the whole body:
    # a storm of 500 alerts in one payload must not store it 500 times.
    group_fields = {k: v for k, v in body.items() if k != "alerts"}
    return [
        replace(_per_alert(group, alert), raw={**group_fields, "alerts": [raw]})
        for alert, raw in zip(alerts, raw_alerts, strict=True)
    ]
