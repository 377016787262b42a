"""UptimeRobot: each recorded alert gives exactly these events; JSON and form posts over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.sources.common import InvalidPayload
from integrations.sources.uptimerobot import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
URL = "https://checkout.example.com/health"
MONITOR = {"monitorID": "793042315", "monitorURL": URL, "monitorFriendlyName": "Checkout API"}


def test_down_triggers_a_critical_incident_per_monitor():
    (event,) = parse(load("uptimerobot", "down"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="uptimerobot-793042315",
        summary="Checkout API is down: Connection Timeout",
        severity=Severity.CRITICAL,
        source=URL,
        description="Connection Timeout",
        details={
            **MONITOR,
            "alertType": "1",
            "alertTypeFriendlyName": "Down",
            "alertDetails": "Connection Timeout",
            "alertDateTime": "1795166043",  # *alertFriendlyDuration* was left unreplaced: gone
        },
        links=[{"href": URL, "text": "Monitor"}],
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC),
    )


def test_up_resolves_the_same_key_and_says_for_how_long_it_was_down():
    (event,) = parse(load("uptimerobot", "up"), {})
    assert event == NormalizedEvent(
        action=AlertAction.RESOLVE,
        dedup_key="uptimerobot-793042315",
        summary="Checkout API is up (was down for 21 minutes and 0 seconds)",
        severity=Severity.INFO,
        source=URL,
        description="HTTP 200 - OK",
        details={
            **MONITOR,
            "alertType": "2",
            "alertTypeFriendlyName": "Up",
            "alertDetails": "HTTP 200 - OK",
            "alertDuration": "1260",
            "alertFriendlyDuration": "21 minutes and 0 seconds",
            "alertDateTime": "1795167303",
        },
        links=[{"href": URL, "text": "Monitor"}],
        occurred_at=datetime(2026, 11, 20, 9, 35, 3, tzinfo=UTC),
    )


def test_ssl_expiry_is_a_warning_on_its_own_key():
    (event,) = parse(load("uptimerobot", "ssl_expiry"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="uptimerobot-793042315-ssl",
        summary="Checkout API: SSL certificate expires in 7 days (2026-11-27 09:14:03)",
        severity=Severity.WARNING,
        source=URL,
        description="SSL certificate expires in 7 days",
        details={
            **MONITOR,
            "alertType": "3",
            "alertTypeFriendlyName": "SSL expiry",
            "alertDetails": "SSL certificate expires in 7 days",
            "alertDateTime": "1795166043",
            "sslExpiryDate": "2026-11-27 09:14:03",
            "sslExpiryDaysLeft": "7",
        },
        links=[{"href": URL, "text": "Monitor"}],
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC),
    )


def test_numbers_snake_case_names_and_seconds_only_are_read():
    body = {"monitor_id": 793042315, "monitor_friendly_name": "Checkout API", "alert_type": 2,
            "alert_duration": 75}  # fmt: skip
    (event,) = parse(body, {})
    assert (event.action, event.dedup_key, event.summary, event.source) == (
        AlertAction.RESOLVE,
        "uptimerobot-793042315",
        "Checkout API is up (was down for 1 min 15 s)",
        "Checkout API",
    )


def test_other_alert_types_are_accepted_without_an_event():
    assert parse({**load("uptimerobot", "down"), "alertType": "98"}, {}) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"alertType": "1"}, "'monitorID' is missing."),
        ({"monitorID": "1"}, "'alertType' is missing."),
        ({"monitorID": "1", "alertType": "*alertType*"}, "'alertType' is missing."),
        ({"monitorID": "1", "alertType": "down"}, "'alertType' must be a whole number."),
        ({"monitorID": "1", "alertType": "1", "alertDateTime": "soon"}, "'alertDateTime' must be"),
        ({"monitorID": {"id": 1}, "alertType": "1"}, "'monitorID' must be a string."),
    ],
)
def test_payloads_that_are_not_uptimerobot_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


@pytest.mark.parametrize("encoding", ["json", "form"])
def test_down_then_up_through_http(client, service, encoding):
    robot = connect(service, "uptimerobot")

    def send(name: str):
        body = load("uptimerobot", name)
        if encoding == "json":
            return post(client, "uptimerobot", robot.key, body)
        raw = urlencode(body).encode()
        return post(client, "uptimerobot", robot.key, None, raw=raw, content_type=FORM)

    down = send("down")
    assert down.status_code == 202, down.content
    assert down.json()["results"] == [
        {"dedup_key": "uptimerobot-793042315", "outcome": "triggered"}
    ]
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == (
        "Checkout API is down: Connection Timeout",
        Severity.CRITICAL,
    )
    assert send("up").json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_bad_form_is_a_400_naming_the_field_and_writes_nothing(client, service):
    robot = connect(service, "uptimerobot")
    before = written()
    raw = urlencode({"monitorID": "793042315", "alertType": "*alertType*"}).encode()
    response = post(client, "uptimerobot", robot.key, None, raw=raw, content_type=FORM)
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == ["'alertType' is missing."]
    assert written() == before
