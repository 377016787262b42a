"""Nagios: each recorded notification gives exactly these events; form posts through HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import Alert, AlertAction, Incident, Severity, Status
from integrations.sources.common import InvalidPayload
from integrations.sources.nagios import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
DRIVE_FULL = "c:\\ - total: 49.90 Gb - used: 48.87 Gb (98%) - free 1.03 Gb (2%)"


def filled(name: str) -> dict:
    """The fixture's fields Nagios filled in: what the event keeps as details."""
    return {key: value for key, value in load("nagios", name).items() if value != ""}


def test_a_service_problem_triggers_one_incident_per_host_and_service():
    (event,) = parse(load("nagios", "service_problem"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="nagios-win-fs-02-Drive C: Space",
        summary=f"Drive C: Space on win-fs-02 is CRITICAL: {DRIVE_FULL}",
        severity=Severity.CRITICAL,
        source="win-fs-02",
        description=DRIVE_FULL,
        details=filled("service_problem"),
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC),  # $TIMET$, not $LONGDATETIME$
    )


def test_a_recovery_resolves_the_same_key():
    (event,) = parse(load("nagios", "service_recovery"), {})
    output = "c:\\ - total: 49.90 Gb - used: 31.20 Gb (63%) - free 18.70 Gb (37%)"
    assert event == NormalizedEvent(
        action=AlertAction.RESOLVE,
        dedup_key="nagios-win-fs-02-Drive C: Space",
        summary=f"Drive C: Space on win-fs-02 is OK: {output}",
        severity=Severity.INFO,
        source="win-fs-02",
        description=output,
        details=filled("service_recovery"),
        occurred_at=datetime(2026, 11, 20, 9, 44, 3, tzinfo=UTC),
    )


def test_a_host_notification_keys_on_the_host_alone():
    (event,) = parse(load("nagios", "host_down"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="nagios-core-sw-01",
        summary="core-sw-01 is DOWN: PING CRITICAL - Packet loss = 100%",
        severity=Severity.CRITICAL,
        source="core-sw-01",
        description="PING CRITICAL - Packet loss = 100%",
        details=filled("host_down"),
        occurred_at=datetime(2026, 11, 20, 10, 2, 41, tzinfo=UTC),
    )


def test_an_acknowledgement_acknowledges_and_says_who_and_why():
    (event,) = parse(load("nagios", "acknowledgement"), {})
    output = "c:\\ - total: 49.90 Gb - used: 48.91 Gb (98%) - free 0.99 Gb (2%)"
    assert event == NormalizedEvent(
        action=AlertAction.ACKNOWLEDGE,
        dedup_key="nagios-win-fs-02-Drive C: Space",
        summary="Drive C: Space on win-fs-02 acknowledged by jdoe: "
        "Rotating the IIS logs, back in 20 min",
        severity=Severity.INFO,
        source="win-fs-02",
        description=f"Rotating the IIS logs, back in 20 min\n\n{output}",
        details=filled("acknowledgement"),
        occurred_at=datetime(2026, 11, 20, 9, 24, 3, tzinfo=UTC),
    )


def test_flapping_start_triggers_a_warning_because_nagios_goes_quiet_while_flapping():
    (event,) = parse(load("nagios", "flapping_start"), {})
    output = "HTTP CRITICAL: HTTP/1.1 502 Bad Gateway - 166 bytes in 0.004 second response time"
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="nagios-web-03-HTTP",
        summary=f"HTTP on web-03 is flapping: {output}",
        severity=Severity.WARNING,
        source="web-03",
        description=output,
        details=filled("flapping_start"),
        occurred_at=datetime(2026, 11, 20, 11, 30, 12, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("state", "action"),
    [("OK", AlertAction.RESOLVE), ("CRITICAL", AlertAction.CHANGE)],
)
def test_flapping_stop_resolves_only_a_healthy_service(state, action):
    body = {**load("nagios", "flapping_start"), "NOTIFICATIONTYPE": "FLAPPINGSTOP"}
    (event,) = parse({**body, "SERVICESTATE": state}, {})
    assert (event.action, event.dedup_key) == (action, "nagios-web-03-HTTP")
    assert event.summary.startswith("HTTP on web-03 stopped flapping: ")


def test_downtime_is_recorded_never_acknowledged_or_resolved():
    (event,) = parse(load("nagios", "downtime_start"), {})
    assert event == NormalizedEvent(
        action=AlertAction.CHANGE,
        dedup_key="nagios-db-02",
        summary="db-02 entered downtime by alice: Kernel upgrade, CHG-2211",
        severity=Severity.INFO,
        source="db-02",
        description="Kernel upgrade, CHG-2211\n\nPING OK - Packet loss = 0%, RTA = 0.44 ms",
        details=filled("downtime_start"),
        occurred_at=datetime(2026, 11, 21, 2, 0, tzinfo=UTC),
    )
    end = {**load("nagios", "downtime_start"), "NOTIFICATIONTYPE": "DOWNTIMEEND"}
    (ended,) = parse(end, {})
    assert (ended.action, ended.summary) == (
        AlertAction.CHANGE,
        "db-02 left downtime by alice: Kernel upgrade, CHG-2211",
    )


def test_snake_case_keys_and_escaped_long_output_are_read():
    (event,) = parse(load("nagios", "service_problem_snake_case"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="nagios-mq-01-RabbitMQ queue orders",
        summary="RabbitMQ queue orders on mq-01 is WARNING: "
        "RABBITMQ_QUEUE WARNING - messages 12840 (warning at 10000)",
        severity=Severity.WARNING,
        source="mq-01",
        description="RABBITMQ_QUEUE WARNING - messages 12840 (warning at 10000)\n\n"
        "consumers: 2\nmessages_ready: 12791\nmessages_unacknowledged: 49",
        details=event.details,
        occurred_at=datetime(2026, 11, 20, 10, 20, tzinfo=UTC),
    )
    assert event.details["SERVICESTATE"] == "WARNING"


@pytest.mark.parametrize(
    ("state", "severity"),
    [("UNKNOWN", Severity.ERROR), ("WARNING", Severity.WARNING), ("CRITICAL", Severity.CRITICAL)],
)
def test_service_states_map_to_severities(state, severity):
    (event,) = parse({**load("nagios", "service_problem"), "SERVICESTATE": state}, {})
    assert event.severity == severity


def test_an_unreachable_host_is_an_error():
    (event,) = parse({**load("nagios", "host_down"), "HOSTSTATE": "UNREACHABLE"}, {})
    assert (event.action, event.severity) == (AlertAction.TRIGGER, Severity.ERROR)


def test_a_macro_nagios_left_unexpanded_counts_as_empty():
    body = {**load("nagios", "host_down"), "SERVICEDESC": "$SERVICEDESC$"}
    (event,) = parse(body, {})
    assert event.dedup_key == "nagios-core-sw-01"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"HOSTNAME": "db-01", "HOSTSTATE": "DOWN"}, "'NOTIFICATIONTYPE' is missing."),
        ({"NOTIFICATIONTYPE": "PROBLEM", "HOSTSTATE": "DOWN"}, "'HOSTNAME' is missing."),
        ({"NOTIFICATIONTYPE": "PROBLEM", "HOSTNAME": "db-01"}, "'HOSTSTATE' is missing."),
        (
            {"NOTIFICATIONTYPE": "PROBLEM", "HOSTNAME": "db-01", "HOSTSTATE": "CRITICAL"},
            "'HOSTSTATE' must be one of UP, DOWN, UNREACHABLE.",
        ),
        (
            {"NOTIFICATIONTYPE": "PROBLEM", "HOSTNAME": "h", "SERVICEDESC": "x", "SERVICESTATE": 2},
            "'SERVICESTATE' must be one of OK, WARNING, CRITICAL, UNKNOWN.",
        ),
        ({"NOTIFICATIONTYPE": "ALERT", "HOSTNAME": "db-01"}, "'NOTIFICATIONTYPE' must be one of"),
        ({"NOTIFICATIONTYPE": "PROBLEM", "HOSTNAME": ["db-01"]}, "'HOSTNAME' must be a string."),
    ],
)
def test_payloads_that_are_not_nagios_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_a_form_post_triggers_acknowledges_and_resolves_through_http(client, service):
    nagios = connect(service, "nagios")

    def send(name: str):
        raw = urlencode(load("nagios", name)).encode()
        return post(client, "nagios", nagios.key, None, raw=raw, content_type=FORM)

    problem = send("service_problem")
    assert problem.status_code == 202, problem.content
    assert problem.json()["results"] == [
        {"dedup_key": "nagios-win-fs-02-Drive C: Space", "outcome": "triggered"}
    ]
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == (
        f"Drive C: Space on win-fs-02 is CRITICAL: {DRIVE_FULL}",
        Severity.CRITICAL,
    )
    assert send("acknowledgement").json()["results"][0]["outcome"] == "acknowledged"
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED
    assert send("service_recovery").json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_json_post_works_too_and_downtime_is_only_recorded(client, service):
    nagios = connect(service, "nagios")
    response = post(client, "nagios", nagios.key, load("nagios", "downtime_start"))
    assert response.status_code == 202, response.content
    assert response.json()["results"] == [{"dedup_key": "nagios-db-02", "outcome": "recorded"}]
    assert Incident.objects.count() == 0
    assert (
        Alert.objects.get().summary == "db-02 entered downtime by alice: Kernel upgrade, CHG-2211"
    )


def test_a_bad_form_is_a_400_naming_the_field_and_writes_nothing(client, service):
    nagios = connect(service, "nagios")
    before = written()
    raw = urlencode({"NOTIFICATIONTYPE": "PROBLEM", "HOSTSTATE": "DOWN"}).encode()
    response = post(client, "nagios", nagios.key, None, raw=raw, content_type=FORM)
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == ["'HOSTNAME' is missing."]
    assert written() == before
