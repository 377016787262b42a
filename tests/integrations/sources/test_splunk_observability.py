"""Splunk Observability: each recorded detector notification gives exactly these events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.services import integration_create
from integrations.sources.common import InvalidPayload
from integrations.sources.splunk_observability import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import hmac_hex, post

pytestmark = pytest.mark.django_db

KIND = "splunk-observability"
KEY = "splunk-observability-FgUs1xrAYAA"
SECRET = "sfx-shared-secret-4a7b"
DETECTOR = "https://app.us1.signalfx.com/#/detector/FgUqV9HAcAA/edit?incidentId=FgUs1xrAYAA"
RUNBOOK = {"href": "https://runbooks.example.com/web/cpu", "text": "Runbook"}
CHART = [
    {
        "src": "https://app.us1.signalfx.com/api/v2/image/FgUs1xrAYAA/ZqHn1z?size=600x400",
        "alt": "Web tier CPU",
    }
]


def _details(body):
    return {
        "status": body["status"],
        "statusExtended": body["statusExtended"],
        "severity": "Critical",
        "detector": "Web tier CPU",
        "detectorId": "FgUqV9HAcAA",
        "rule": "CPU over 90%",
        "originatingMetric": "cpu.utilization",
        "detectOnCondition": "when(A > threshold(90), lasting='5m')",
        "dimensions": body["dimensions"],
        "inputs": body["inputs"],
    }


def test_an_anomalous_detector_triggers_one_incident_per_splunk_incident():
    body = load("splunk_observability", "anomalous")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=KEY,
        summary="Critical Alert: Web tier CPU (CPU over 90%)",
        severity=Severity.CRITICAL,
        source="web-3",
        description='Rule "CPU over 90%" in detector "Web tier CPU" triggered at '
        "Fri, 20 Nov 2026 09:14:03 GMT.\n\n"
        "Triggering condition: The value of cpu.utilization is above 90 for 5m.\n\n"
        "Signal value for cpu.utilization: 96.2\n\nSignal details:\n{host=web-3}",
        details=_details(body),
        links=[{"href": f"{DETECTOR}&is=anomalous", "text": "Detector"}, RUNBOOK],
        images=CHART,
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC),
    )


def test_ok_resolves_the_same_key():
    body = load("splunk_observability", "ok")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.RESOLVE,
        dedup_key=KEY,
        summary="Back to normal: Web tier CPU (CPU over 90%)",
        severity=Severity.CRITICAL,
        source="web-3",
        description='Rule "CPU over 90%" in detector "Web tier CPU" cleared at '
        "Fri, 20 Nov 2026 09:41:27 GMT.\n\nCurrent signal value for cpu.utilization: 41.7\n\n"
        "Signal details:\n{host=web-3}",
        details=_details(body),
        links=[{"href": f"{DETECTOR}&is=ok", "text": "Detector"}, RUNBOOK],
        images=CHART,
        occurred_at=datetime(2026, 11, 20, 9, 41, 27, tzinfo=UTC),
    )


def test_manually_resolved_resolves():
    (event,) = parse(load("splunk_observability", "manually_resolved"), {})
    assert (event.action, event.dedup_key, event.summary) == (
        AlertAction.RESOLVE,
        KEY,
        "Manually resolved: Web tier CPU (CPU over 90%)",
    )


def test_a_stopped_detector_resolves():
    body = load("splunk_observability", "anomalous") | {"status": "stopped", "statusExtended": ""}
    assert parse(body, {})[0].action == AlertAction.RESOLVE


@pytest.mark.parametrize(
    ("word", "severity"),
    [
        ("Critical", Severity.CRITICAL),
        ("Major", Severity.ERROR),
        ("Minor", Severity.WARNING),
        ("Warning", Severity.WARNING),
        ("Info", Severity.INFO),
    ],
)
def test_severities(word, severity):
    body = load("splunk_observability", "anomalous") | {"severity": word}
    assert parse(body, {})[0].severity == severity


def test_a_custom_payload_without_title_or_dimensions_still_reads():
    body = {"incidentId": "Fx1", "status": "anomalous", "detector": "Disk", "rule": "Full"}
    (event,) = parse(body, {})
    assert (event.summary, event.source, event.images) == ("Disk (Full)", "Disk", [])


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"status": "anomalous"}, "'incidentId' is missing."),
        (
            {"incidentId": "Fx1", "status": "firing"},
            "'status' must be anomalous, ok, stopped or manually resolved.",
        ),
        ({"incidentId": "Fx1"}, "'status' must be anomalous, ok, stopped or manually resolved."),
        (
            {"incidentId": "Fx1", "status": "ok", "dimensions": ["host"]},
            "'dimensions' must be an object.",
        ),
    ],
)
def test_payloads_that_are_not_splunk_observability_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert error in refused.value.errors


def _signed(name: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(load("splunk_observability", name)).encode()
    digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()
    return raw, {"X-SFX-Signature": base64.b64encode(digest).decode()}


def test_anomalous_then_ok_through_http_signed(client, service):
    splunk = integration_create(service=service, kind=KIND, name="Splunk", signing_secret=SECRET)
    raw, headers = _signed("anomalous")
    fired = post(client, KIND, splunk.key, None, raw=raw, headers=headers)
    assert fired.status_code == 202, fired.content
    assert fired.json()["results"] == [{"dedup_key": KEY, "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == (
        "Critical Alert: Web tier CPU (CPU over 90%)",
        Severity.CRITICAL,
    )
    raw, headers = _signed("ok")
    cleared = post(client, KIND, splunk.key, None, raw=raw, headers=headers)
    assert cleared.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


@pytest.mark.parametrize("case", ["bad", "missing", "hex-instead-of-base64"])
def test_a_bad_or_missing_signature_is_a_401_and_writes_nothing(client, service, case):
    splunk = integration_create(service=service, kind=KIND, name="Splunk", signing_secret=SECRET)
    raw = json.dumps(load("splunk_observability", "anomalous")).encode()
    headers = {
        "bad": {"X-SFX-Signature": base64.b64encode(b"\0" * 32).decode()},
        "missing": {},
        "hex-instead-of-base64": {"X-SFX-Signature": hmac_hex(SECRET, raw)},
    }[case]
    before = written()
    response = post(client, KIND, splunk.key, None, raw=raw, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert written() == before
