"""Icinga 2: notification-command fields and Event Stream events give exactly these events."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.sources.common import InvalidPayload
from integrations.sources.icinga import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
KEY = "icinga-db-01.example.com-postgres-replication"
LAG = 'POSTGRES_HOT_STANDBY_DELAY CRITICAL: DB "postgres" (host:db-02) 1842'


def test_a_service_problem_triggers_with_display_names_in_the_title():
    (event,) = parse(load("icinga", "service_problem"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=KEY,
        summary=f"PostgreSQL replication lag on db-01 is CRITICAL: {LAG}",
        severity=Severity.CRITICAL,
        source="db-01.example.com",
        description=LAG,
        details={
            "notification": {"type": "PROBLEM"},
            "host": {"name": "db-01.example.com", "display_name": "db-01"},
            "service": {
                "name": "postgres-replication",
                "display_name": "PostgreSQL replication lag",
                "state": "CRITICAL",
                "output": LAG,
            },
            "icinga": {"timet": "1795166043"},
        },
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC),
    )


def test_a_recovery_resolves_the_same_key():
    (event,) = parse(load("icinga", "service_recovery"), {})
    output = 'POSTGRES_HOT_STANDBY_DELAY OK: DB "postgres" (host:db-02) 2'
    assert (event.action, event.dedup_key, event.summary, event.occurred_at) == (
        AlertAction.RESOLVE,
        KEY,
        f"PostgreSQL replication lag on db-01 is OK: {output}",
        datetime(2026, 11, 20, 9, 54, 3, tzinfo=UTC),
    )
    assert event.severity == Severity.INFO


def test_a_host_problem_keys_on_the_host():
    (event,) = parse(load("icinga", "host_down"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="icinga-edge-router-2",
        summary="Edge router 2 is DOWN: CRITICAL - 192.0.2.1: rta nan, lost 100%",
        severity=Severity.CRITICAL,
        source="edge-router-2",
        description="CRITICAL - 192.0.2.1: rta nan, lost 100%",
        details={
            "notification": {"type": "PROBLEM"},
            "host": {
                "name": "edge-router-2",
                "display_name": "Edge router 2",
                "state": "DOWN",
                "output": "CRITICAL - 192.0.2.1: rta nan, lost 100%",
            },
            "icinga": {"timet": "1795168961"},
        },
        occurred_at=datetime(2026, 11, 20, 10, 2, 41, tzinfo=UTC),
    )


def test_an_acknowledgement_acknowledges_with_author_and_comment():
    (event,) = parse(load("icinga", "acknowledgement"), {})
    comment = "Replica is catching up after the vacuum, watching it"
    assert (event.action, event.dedup_key, event.summary, event.description) == (
        AlertAction.ACKNOWLEDGE,
        KEY,
        f"PostgreSQL replication lag on db-01 acknowledged by alice: {comment}",
        f'{comment}\n\nPOSTGRES_HOT_STANDBY_DELAY CRITICAL: DB "postgres" (host:db-02) 1310',
    )


def test_an_event_stream_notification_lands_on_the_same_incident():
    body = load("icinga", "event_stream_notification")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=KEY,
        summary=f"postgres-replication on db-01.example.com is CRITICAL: {LAG}",
        severity=Severity.CRITICAL,
        source="db-01.example.com",
        description=LAG,
        details={
            "users": ["opsknight"],
            "command": "opsknight-service-notification",
            "check_result": body["check_result"],
        },
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, 381000, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("state", "reachable", "expected"),
    [(0.0, True, "UP"), (2.0, True, "DOWN"), (2.0, False, "UNREACHABLE")],
)
def test_an_event_stream_host_state_comes_from_the_check_result(state, reachable, expected):
    body = {
        "type": "Notification",
        "host": "edge-router-2",
        "notification_type": "RECOVERY" if expected == "UP" else "PROBLEM",
        "check_result": {"state": state, "output": "x", "vars_after": {"reachable": reachable}},
    }
    (event,) = parse(body, {})
    assert event.summary == f"edge-router-2 is {expected}: x"
    assert event.dedup_key == "icinga-edge-router-2"


def test_nested_json_is_read_like_dotted_fields():
    body = {
        "notification": {"type": "FLAPPINGSTART"},
        "host": {"name": "web-03"},
        "service": {"name": "http", "state": "WARNING", "output": "HTTP WARNING: slow"},
    }
    (event,) = parse(body, {})
    assert (event.action, event.severity, event.dedup_key, event.summary) == (
        AlertAction.TRIGGER,
        Severity.WARNING,
        "icinga-web-03-http",
        "http on web-03 is flapping: HTTP WARNING: slow",
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"host.name": "db-01", "host.state": "DOWN"}, "'notification.type' is missing."),
        ({"notification.type": "PROBLEM", "host.state": "DOWN"}, "'host.name' is missing."),
        ({"notification.type": "PROBLEM", "host.name": "db-01"}, "'host.state' is missing."),
        (
            {"notification.type": "PROBLEM", "host.name": "h", "host.state": "CRITICAL"},
            "'host.state' must be one of UP, DOWN, UNREACHABLE.",
        ),
        ({"notification.type": "PING", "host.name": "h"}, "'notification.type' must be one of"),
        ({"notification.type": "PROBLEM", "host": "db-01"}, "'host' must be an object."),
        ({"type": "StateChange", "host": "db-01"}, "'type' must be \"Notification\""),
        (
            {"type": "Notification", "host": "h", "notification_type": "PROBLEM"},
            "'check_result.state' is missing.",
        ),
        (
            {"type": "Notification", "host": "h", "notification_type": "PROBLEM",
             "check_result": {"state": 7}},
            "'check_result.state' must be 0, 1, 2 or 3.",
        ),
    ],
)  # fmt: skip
def test_payloads_that_are_not_icinga_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_problem_then_recovery_through_http_as_the_command_posts_them(client, service):
    icinga = connect(service, "icinga")

    def send(name: str):
        raw = urlencode(load("icinga", name)).encode()
        return post(client, "icinga", icinga.key, None, raw=raw, content_type=FORM)

    problem = send("service_problem")
    assert problem.status_code == 202, problem.content
    assert problem.json()["results"] == [{"dedup_key": KEY, "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert incident.title == f"PostgreSQL replication lag on db-01 is CRITICAL: {LAG}"
    # The same problem seen on the event stream joins the incident.
    streamed = post(client, "icinga", icinga.key, load("icinga", "event_stream_notification"))
    assert streamed.json()["results"] == [{"dedup_key": KEY, "outcome": "deduplicated"}]
    assert send("service_recovery").json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_bad_body_is_a_400_naming_the_field_and_writes_nothing(client, service):
    icinga = connect(service, "icinga")
    before = written()
    response = post(client, "icinga", icinga.key, {"type": "CheckResult"})
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == [
        "'type' must be \"Notification\" (stream types=Notification)."
    ]
    assert written() == before
