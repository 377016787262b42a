"""Splunk On-Call (VictorOps) REST format: each recorded body gives exactly these events."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import Alert, AlertAction, Incident, Severity, Status
from integrations.services import integration_create
from integrations.sources.common import InvalidPayload
from integrations.sources.splunk_oncall import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, hmac_hex, post

pytestmark = pytest.mark.django_db

KIND = "splunk-oncall"
KEY = "splunk-oncall-disk.space/db-01"


def test_critical_triggers_one_incident_per_entity_with_its_annotations():
    (event,) = parse(load("splunk_oncall", "critical"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=KEY,
        summary="Disk space low on db-01",
        severity=Severity.CRITICAL,
        source="db-01",
        description="/var/lib/postgresql is 96% full (4.1 GB free).\n\n"
        "Note: Autovacuum was disabled on this host last week.",
        details={
            "message_type": "CRITICAL",
            "entity_id": "disk.space/db-01",
            "monitoring_tool": "nagios",
            "host_name": "db-01",
            "check_name": "disk_space",
        },
        links=[{"href": "https://runbooks.example.com/db/disk-space", "text": "Runbook"}],
        images=[
            {
                "src": "https://grafana.example.com/render/d-solo/db?panelId=4&width=600",
                "alt": "Disk usage",
            }
        ],
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC),
    )


def test_acknowledgement_acknowledges_the_entity():
    (event,) = parse(load("splunk_oncall", "acknowledgement"), {})
    assert event == NormalizedEvent(
        action=AlertAction.ACKNOWLEDGE,
        dedup_key=KEY,
        summary="disk.space/db-01",
        severity=Severity.INFO,
        source="nagios",
        description="Looking at it, expanding the volume.",
        details={
            "message_type": "ACKNOWLEDGEMENT",
            "entity_id": "disk.space/db-01",
            "monitoring_tool": "nagios",
            "ack_msg": "Looking at it, expanding the volume.",
            "ack_author": "priya",
        },
        occurred_at=datetime(2026, 11, 20, 9, 19, 40, tzinfo=UTC),
    )


def test_recovery_resolves_the_entity():
    (event,) = parse(load("splunk_oncall", "recovery"), {})
    assert event == NormalizedEvent(
        action=AlertAction.RESOLVE,
        dedup_key=KEY,
        summary="Disk space low on db-01",
        severity=Severity.INFO,
        source="db-01",
        description="/var/lib/postgresql is 61% full (38.7 GB free).",
        details={
            "message_type": "RECOVERY",
            "entity_id": "disk.space/db-01",
            "monitoring_tool": "nagios",
            "host_name": "db-01",
            "check_name": "disk_space",
        },
        occurred_at=datetime(2026, 11, 20, 9, 41, 27, tzinfo=UTC),
    )


def test_info_is_recorded_and_never_pages():
    (event,) = parse(load("splunk_oncall", "info"), {})
    assert event == NormalizedEvent(
        action=AlertAction.CHANGE,
        dedup_key="splunk-oncall-deploy/checkout-api",
        summary="checkout-api 2026.11.20-3 deployed",
        severity=Severity.INFO,
        source="argo-cd",
        description="Rolled out to 12/12 pods in 94s.",
        details={
            "message_type": "INFO",
            "entity_id": "deploy/checkout-api",
            "monitoring_tool": "argo-cd",
        },
        occurred_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
    )


def test_warning_lowercase_and_quoted_seconds_are_read():
    body = load("splunk_oncall", "critical") | {
        "message_type": "warning",
        "state_start_time": "1795166043",
    }
    (event,) = parse(body, {})
    assert (event.action, event.severity, event.occurred_at) == (
        AlertAction.TRIGGER,
        Severity.WARNING,
        datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC),
    )


def test_a_critical_without_entity_id_is_its_own_incident():
    body = {"message_type": "CRITICAL", "state_message": "Backup job failed\nexit 3"}
    (event,) = parse(body, {})
    assert (event.dedup_key, event.summary) == (None, "Backup job failed")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"entity_id": "x"}, "'message_type' is missing."),
        (
            {"message_type": "PROBLEM", "entity_id": "x"},
            "'message_type' must be CRITICAL, WARNING, ACKNOWLEDGEMENT, INFO or RECOVERY.",
        ),
        ({"message_type": "RECOVERY"}, "'entity_id' is missing: a RECOVERY needs it."),
        ({"message_type": "CRITICAL", "entity_id": ["x"]}, "'entity_id' must be a string."),
    ],
)
def test_payloads_that_are_not_victorops_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert error in refused.value.errors


def test_critical_acknowledgement_recovery_through_http(client, service):
    oncall = connect(service, KIND)
    fired = post(client, KIND, oncall.key, load("splunk_oncall", "critical"))
    assert fired.status_code == 202, fired.content
    assert fired.json()["results"] == [{"dedup_key": KEY, "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == ("Disk space low on db-01", Severity.CRITICAL)
    acked = post(client, KIND, oncall.key, load("splunk_oncall", "acknowledgement"))
    assert acked.json()["results"][0]["outcome"] == "acknowledged"
    recovered = post(client, KIND, oncall.key, load("splunk_oncall", "recovery"))
    assert recovered.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_info_through_http_is_recorded_without_an_incident(client, service):
    oncall = connect(service, KIND)
    response = post(client, KIND, oncall.key, load("splunk_oncall", "info"))
    assert response.json()["results"][0]["outcome"] == "recorded"
    assert Incident.objects.count() == 0
    assert Alert.objects.get().action == AlertAction.CHANGE


def test_with_a_secret_the_generic_signature_is_required(client, service):
    oncall = integration_create(service=service, kind=KIND, name="VO", signing_secret="s3cret")
    raw = json.dumps(load("splunk_oncall", "critical")).encode()
    before = written()
    unsigned = post(client, KIND, oncall.key, None, raw=raw)
    assert (unsigned.status_code, unsigned.json()["error"]) == (401, "bad_signature")
    assert written() == before
    headers = {"X-OpsKnight-Signature": "sha256=" + hmac_hex("s3cret", raw)}
    assert post(client, KIND, oncall.key, None, raw=raw, headers=headers).status_code == 202
