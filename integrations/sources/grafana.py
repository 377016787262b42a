"""Grafana Alerting webhook contact point: unified alerting (Grafana 9+) and legacy (≤ 8).

Unified (grafana.com docs "Configure webhook notifications", "Webhook JSON payload"; the body
`receivers/webhook/v1/webhook.go` in grafana/alerting builds): Alertmanager's fields plus
`orgId`, `title`, `state`, `message`, `version: "1"`, and per alert `silenceURL`,
`dashboardURL`, `panelURL`, `imageURL`, `values` (Grafana 9.x: `valueString`). One event per
alert: `firing` triggers, `resolved` resolves; dedup key `grafana-<fingerprint>` (a stable hash
of the labels when there is none); severity from `labels.severity`, critical without one;
summary `annotations.summary`, else `alertname on instance`.

Legacy (Grafana ≤ 8 docs "Webhook" notifier example): `ruleId`, `ruleName`, `state`,
`evalMatches`, `message`, `ruleUrl`, `imageUrl`, `tags`. `alerting` triggers (critical, or
`tags.severity`), `no_data` triggers as warning, `ok` resolves, `paused`/`pending` are accepted
without events; dedup key `grafana-rule-<ruleId>` (`grafana-rule-<ruleName slug>` without one).
A contact point's "Test" button sends an ordinary alert (`TestAlert`, `ruleId` 0): it pages.

Signature: Grafana's optional HMAC-SHA256 (grafana/alerting `http/hmac.go`): hex HMAC of the
body, or of `<timestamp>:<body>` when a timestamp header is configured (Unix seconds, accepted
within 5 minutes). Header names are configurable in Grafana; we read the default
`X-Grafana-Alert-Signature`, `X-Grafana-Alerting-Signature`, `X-Grafana-Signature` and
timestamps from `X-Grafana-Alert-Timestamp`, `X-Grafana-Alerting-Timestamp` or
`X-Grafana-Signature-Timestamp`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from django.http import HttpRequest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import (
    done,
    get_path,
    items,
    links,
    mapping,
    require_object,
    severity_from,
    slug,
    stable_key,
    text,
    timestamp,
)
from integrations.sources.registry import Provider

SIGNATURE_HEADERS = (
    "X-Grafana-Alert-Signature",
    "X-Grafana-Alerting-Signature",
    "X-Grafana-Signature",
)
TIMESTAMP_HEADERS = (
    "X-Grafana-Alert-Timestamp",
    "X-Grafana-Alerting-Timestamp",
    "X-Grafana-Signature-Timestamp",
)
TIMESTAMP_TOLERANCE = 300  # seconds either side of now
LEGACY_STATES = ("alerting", "ok", "no_data", "paused", "pending")
STATUSES = ("firing", "resolved")
URL_FIELDS = ("generatorURL", "silenceURL", "dashboardURL", "panelURL", "imageURL")


def verify(request: HttpRequest, secret: str) -> bool:
    """Grafana's HMAC-SHA256 hex signature of the body (or `timestamp:body`), constant-time."""
    supplied = next((v for h in SIGNATURE_HEADERS if (v := request.headers.get(h, ""))), "")
    stamp = next((v for h in TIMESTAMP_HEADERS if (v := request.headers.get(h, ""))), "")
    signed = request.body
    if stamp:
        stamp = stamp.strip()
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > TIMESTAMP_TOLERANCE:
            return False
        signed = stamp.encode() + b":" + signed
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    supplied = supplied.strip().removeprefix("sha256=").lower()
    return bool(supplied) and hmac.compare_digest(supplied.encode(), expected.encode())


def _summary(annotations: dict[str, Any], labels: dict[str, Any]) -> str:
    for value in (annotations.get("summary"), annotations.get("description")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    name, instance = labels.get("alertname"), labels.get("instance")
    if isinstance(name, str) and name:
        return f"{name} on {instance}" if isinstance(instance, str) and instance else name
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "Grafana alert"


def _images(url: str, alt: str) -> list[dict[str, str]]:
    return [{"src": url, "alt": alt}] if url.startswith(("http://", "https://")) else []


def _alert(body: dict[str, Any], index: int, errors: list[str]) -> NormalizedEvent | None:
    where = f"alerts.{index}"
    count = len(errors)
    status = text(body, f"{where}.status", errors, required=True)
    if status and status not in STATUSES:
        errors.append(f"'{where}.status' must be one of firing, resolved.")
    labels = mapping(body, f"{where}.labels", errors, required=True)
    annotations = mapping(body, f"{where}.annotations", errors)
    fingerprint = text(body, f"{where}.fingerprint", errors)
    urls = {name: text(body, f"{where}.{name}", errors) for name in URL_FIELDS}
    values = mapping(body, f"{where}.values", errors)
    value_string = text(body, f"{where}.valueString", errors)
    description = text(body, f"{where}.annotations.description", errors)
    if len(errors) > count:
        return None
    summary = _summary(annotations, labels)
    details: dict[str, Any] = {"labels": labels, "annotations": annotations}
    details |= {"values": values} if values else {}
    details |= {"valueString": value_string} if value_string else {}
    details |= {"fingerprint": fingerprint} if fingerprint else {}
    details |= {k: body[k] for k in ("receiver", "groupKey", "orgId", "externalURL") if body.get(k)}
    instance = labels.get("instance")
    resolved = status == "resolved"
    return NormalizedEvent(
        action=AlertAction.RESOLVE if resolved else AlertAction.TRIGGER,
        dedup_key=f"grafana-{fingerprint}" if fingerprint else stable_key("grafana", labels),
        summary=summary,
        severity=severity_from(labels.get("severity"), Severity.CRITICAL),
        source=instance if isinstance(instance, str) and instance else "grafana",
        description=description,
        details=details,
        links=links(
            [
                ("Alert rule", urls["generatorURL"]),
                ("Dashboard", urls["dashboardURL"]),
                ("Panel", urls["panelURL"]),
                ("Silence", urls["silenceURL"]),
                ("Runbook", annotations.get("runbook_url")),
            ]
        ),
        images=_images(urls["imageURL"], summary),
        # endsAt is 0001-01-01 while firing: only a resolved alert's end is a real time.
        occurred_at=timestamp(
            get_path(body, f"{where}.endsAt" if resolved else f"{where}.startsAt")
        ),
        raw={**{k: v for k, v in body.items() if k != "alerts"}, "alerts": [body["alerts"][index]]},
    )


def _unified(body: dict[str, Any]) -> list[NormalizedEvent]:
    errors: list[str] = []
    alerts = items(body, "alerts", errors, required=True)
    if not alerts and not errors:
        errors.append("'alerts' must not be empty.")
    events = []
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            errors.append(f"'alerts.{index}' must be an object.")
        elif (event := _alert(body, index, errors)) is not None:
            events.append(event)
    done(errors)
    return events


def _legacy(body: dict[str, Any]) -> list[NormalizedEvent]:
    errors: list[str] = []
    state = text(body, "state", errors, required=True)
    if state and state not in LEGACY_STATES:
        errors.append(f"'state' must be one of {', '.join(LEGACY_STATES)}.")
    rule_id = text(body, "ruleId", errors)
    rule_name = text(body, "ruleName", errors, limit=500)
    title = text(body, "title", errors, limit=500)
    if not rule_id and not slug(rule_name):
        errors.append("'ruleId' is missing.")
    tags = mapping(body, "tags", errors)
    matches = items(body, "evalMatches", errors)
    message = text(body, "message", errors)
    rule_url = text(body, "ruleUrl", errors)
    image_url = text(body, "imageUrl", errors)
    done(errors)
    if state in ("paused", "pending"):
        return []
    name = rule_name or title or f"Grafana alert rule {rule_id}"
    severity = severity_from(tags.get("severity"), Severity.CRITICAL)
    details = {
        k: body[k]
        for k in ("ruleId", "ruleName", "state", "title", "dashboardId", "panelId", "orgId")
        if body.get(k) is not None
    }
    details |= {"evalMatches": matches} if matches else {}
    details |= {"tags": tags} if tags else {}
    return [
        NormalizedEvent(
            action=AlertAction.RESOLVE if state == "ok" else AlertAction.TRIGGER,
            dedup_key=f"grafana-rule-{rule_id or slug(rule_name)}",
            summary=f"{name} (no data)" if state == "no_data" else name,
            severity=Severity.WARNING if state == "no_data" else severity,
            source="grafana",
            description=message,
            details=details,
            links=links([("Alert rule", rule_url)]),
            images=_images(image_url, name),
        )
    ]


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    if "alerts" in body or not any(k in body for k in ("state", "ruleId", "ruleName")):
        return _unified(body)
    return _legacy(body)


SAMPLE = {
    "receiver": "OpsKnight",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "annotations": {
                "description": "The system has high memory usage",
                "runbook_url": "https://myrunbook.com/runbook/1234",
                "summary": "This alert was triggered for zone us-1",
            },
            "startsAt": "2021-10-12T09:51:03.157076+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DHigh+memory+usage%2Cteam%3Dblue%2Czone%3Dus-1",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 44.23943737541908, "C": 1},
        }
    ],
    "groupLabels": {},
    "commonLabels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
    "commonAnnotations": {},
    "externalURL": "https://play.grafana.org/",
    "version": "1",
    "groupKey": '{}/{}:{alertname="High memory usage"}',
    "truncatedAlerts": 0,
    "title": "[FIRING:1] High memory usage (blue us-1)",
    "state": "alerting",
    "message": "**Firing**\n\nValue: B=44.23943737541908, C=1\nLabels:\n - alertname = ...",
}

PROVIDER = Provider(kind="grafana", parse=parse, verify=verify, sample=SAMPLE)
