"""Zabbix: each recorded media-type post gives exactly these events; signed posts through HTTP."""

from __future__ import annotations

import json

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.services import integration_create
from integrations.sources.common import InvalidPayload
from integrations.sources.zabbix import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, hmac_hex, post

pytestmark = pytest.mark.django_db

KEY = "zabbix-web-01-23311"
NAME = "Load average is too high (per CPU load over 1.5 for 5m) on web-01"
ABOUT = "The load average per CPU is too high. Your system may be slow to respond."
PAGE = "https://zabbix.example.com/tr_events.php?triggerid=23311&eventid=4182745"
TAGS = {"class": "os", "component": "cpu", "scope": "performance"}
COMMON = {"event_id": "4182745", "severity": "Average", "tags": TAGS, "event_source": "0"}


def test_a_problem_triggers_one_incident_per_trigger():
    (event,) = parse(load("zabbix", "problem"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=KEY,
        summary=f"{NAME} (Load averages(1m, 5m, 15m): (7.82, 6.91, 5.40), # of CPUs: 4)",
        severity=Severity.WARNING,  # 3 Average
        source="web-01",
        description=ABOUT,
        details={**COMMON, "event_ack": "No", "host_ip": "10.0.3.11", "trigger_id": "23311"},
        links=[{"href": PAGE, "text": "Zabbix"}],
    )


def test_a_recovery_resolves_the_same_key():
    (event,) = parse(load("zabbix", "recovery"), {})
    assert event == NormalizedEvent(
        action=AlertAction.RESOLVE,
        dedup_key=KEY,
        summary=f"{NAME} (Load averages(1m, 5m, 15m): (0.92, 2.41, 3.87), # of CPUs: 4)",
        severity=Severity.INFO,
        source="web-01",
        description=ABOUT,
        details={**COMMON, "event_ack": "Yes", "host_ip": "10.0.3.11", "trigger_id": "23311"},
        links=[{"href": PAGE, "text": "Zabbix"}],
    )


def test_an_acknowledging_update_acknowledges():
    (event,) = parse(load("zabbix", "acknowledged"), {})
    assert event == NormalizedEvent(
        action=AlertAction.ACKNOWLEDGE,
        dedup_key=KEY,
        summary=f"{NAME} (Load averages(1m, 5m, 15m): (7.40, 7.02, 5.88), # of CPUs: 4), "
        "acknowledged by Alice Admin: Runaway logrotate cron, killing it",
        severity=Severity.INFO,
        source="web-01",
        description=f"{ABOUT}\n\nRunaway logrotate cron, killing it",
        details={
            **COMMON,
            "event_update_action": "acknowledged, commented",
            "event_ack": "Yes",
            "host_ip": "10.0.3.11",
            "trigger_id": "23311",
        },
        links=[{"href": PAGE, "text": "Zabbix"}],
    )


def test_a_comment_is_recorded_without_acknowledging():
    (event,) = parse(load("zabbix", "commented"), {})
    assert (event.action, event.dedup_key, event.summary) == (
        AlertAction.CHANGE,
        KEY,
        f"{NAME} (Load averages(1m, 5m, 15m): (7.62, 6.99, 5.61), # of CPUs: 4), "
        "updated by Bob Builder: Same thing happened last Friday, see OPS-4411",
    )


@pytest.mark.parametrize(
    ("update", "action"),
    [
        ("closed", AlertAction.RESOLVE),
        ("acknowledged, closed", AlertAction.RESOLVE),
        ("unacknowledged", AlertAction.CHANGE),
        ("changed severity from Average to High", AlertAction.CHANGE),
        ("suppressed", AlertAction.CHANGE),
    ],
)
def test_update_actions_map_to_what_the_person_did(update, action):
    body = {**load("zabbix", "acknowledged"), "event_update_action": update}
    (event,) = parse(body, {})
    assert event.action == action


def test_disaster_with_tags_as_json_text_and_no_frontend_url():
    (event,) = parse(load("zabbix", "disaster_problem"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="zabbix-db-03-24107",
        summary="MySQL: Service is down on db-03",
        severity=Severity.CRITICAL,
        source="db-03",
        description="",
        details={
            "event_id": "4190021",
            "severity": "Disaster",
            "tags": {"component": "application", "service": "mysql"},
            "event_ack": "No",
            "event_source": "0",
            "host_ip": "10.0.4.23",
            "trigger_id": "24107",
        },
        links=[],  # {$ZABBIX.URL} was not defined, so Zabbix sent the macro itself
    )


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("5", Severity.CRITICAL),
        ("4", Severity.ERROR),
        ("3", Severity.WARNING),
        ("2", Severity.WARNING),
        ("1", Severity.INFO),
        ("0", Severity.INFO),
        ("High", Severity.ERROR),
        ("Not classified", Severity.INFO),
    ],
)
def test_severities_by_number_or_name(severity, expected):
    body = {**load("zabbix", "problem"), "severity": severity, "severity_name": ""}
    (event,) = parse(body, {})
    assert event.severity == expected


def test_without_a_trigger_the_event_id_is_the_key_and_the_option_can_force_it():
    body = {**load("zabbix", "problem"), "trigger_id": "{TRIGGER.ID}"}
    assert parse(body, {})[0].dedup_key == "zabbix-web-01-4182745"
    (per_event,) = parse(load("zabbix", "problem"), {"group_by": "event"})
    assert per_event.dedup_key == "zabbix-web-01-4182745"


def test_plain_event_tags_and_status_words_are_read():
    body = {
        "eventid": "77",
        "status": "RESOLVED",
        "hostname": "edge-1",
        "triggerid": "9",
        "event_tags": "scope:availability, team:net",
    }
    (event,) = parse(body, {})
    assert (event.action, event.dedup_key, event.details["tags"]) == (
        AlertAction.RESOLVE,
        "zabbix-edge-1-9",
        {"scope": "availability", "team": "net"},
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"event_value": "1"}, "'event_id' is missing."),
        ({"event_id": "{EVENT.ID}", "event_value": "1"}, "'event_id' is missing."),
        ({"event_id": "abc", "event_value": "1"}, "'event_id' must be a number"),
        ({"event_id": "1"}, "'event_value' is missing."),
        ({"event_id": "1", "event_value": "2"}, "'event_value' must be 1 (problem) or 0"),
        ({"event_id": "1", "event_value": "1", "severity": "9"}, "'severity' must be 0 to 5"),
        ({"event_id": "1", "event_value": "1", "event_tags": [1]}, "'event_tags' must be a list"),
    ],
)
def test_payloads_that_are_not_zabbix_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_problem_acknowledge_recovery_through_http(client, service):
    zabbix = connect(service, "zabbix")
    problem = post(client, "zabbix", zabbix.key, load("zabbix", "problem"))
    assert problem.status_code == 202, problem.content
    assert problem.json()["results"] == [{"dedup_key": KEY, "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert incident.severity == Severity.WARNING
    ack = post(client, "zabbix", zabbix.key, load("zabbix", "acknowledged"))
    assert ack.json()["results"][0]["outcome"] == "acknowledged"
    comment = post(client, "zabbix", zabbix.key, load("zabbix", "commented"))
    assert comment.json()["results"][0]["outcome"] == "recorded"
    recovery = post(client, "zabbix", zabbix.key, load("zabbix", "recovery"))
    assert recovery.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def signed_zabbix(service):
    return integration_create(service=service, kind="zabbix", name="Zabbix", signing_secret="s3")


def test_the_documented_script_signature_is_accepted(client, service):
    zabbix = signed_zabbix(service)
    raw = json.dumps(load("zabbix", "problem")).encode()
    signature = {"X-OpsKnight-Signature": f"sha256={hmac_hex('s3', raw)}"}
    response = post(client, "zabbix", zabbix.key, None, raw=raw, headers=signature)
    assert response.status_code == 202, response.content
    assert response.json()["results"][0]["outcome"] == "triggered"


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-OpsKnight-Signature": "sha256=" + "0" * 64}, {"X-Gitlab-Token": "s3"}],
    ids=["missing", "wrong", "a-bare-token-is-not-enough"],
)
def test_a_missing_or_bad_signature_is_a_401_and_writes_nothing(client, service, headers):
    zabbix = signed_zabbix(service)
    before = written()
    response = post(client, "zabbix", zabbix.key, load("zabbix", "problem"), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert written() == before


def test_a_bad_body_is_a_400_naming_the_field_and_writes_nothing(client, service):
    zabbix = connect(service, "zabbix")
    before = written()
    response = post(client, "zabbix", zabbix.key, {"event_id": "{EVENT.ID}", "event_value": "1"})
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == ["'event_id' is missing."]
    assert written() == before
