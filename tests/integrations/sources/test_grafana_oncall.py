"""Grafana OnCall formatted webhook: each fixture gives exactly these events; alerting then ok."""

from __future__ import annotations

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.sources.common import InvalidPayload, stable_key
from integrations.sources.grafana_oncall import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db

UID = "08d6891a-835c-e661-39fa-96b6a9e26552"
IMAGE = "https://upload.wikimedia.org/wikipedia/commons/e/ee/Grumpy_Cat_by_Gage_Skidmore.jpg"


def test_alerting_triggers_one_incident_per_alert_uid():
    (event,) = parse(load("grafana_oncall", "alerting"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=f"grafana-oncall-{UID}",
        summary="TestAlert: The whole system is down",
        severity=Severity.CRITICAL,
        source="grafana-oncall",
        description=(
            "This alert was sent by user for the demonstration purposes\nSmth happened. Oh no!"
        ),
        details={
            "alert_uid": UID,
            "image_url": IMAGE,
            "state": "alerting",
            "link_to_upstream_details": "https://en.wikipedia.org/wiki/Downtime",
        },
        links=[{"href": "https://en.wikipedia.org/wiki/Downtime", "text": "Source"}],
        images=[{"src": IMAGE, "alt": "TestAlert: The whole system is down"}],
    )


def test_ok_resolves_the_same_alert_uid():
    (event,) = parse(load("grafana_oncall", "ok"), {})
    assert (event.action, event.dedup_key) == (AlertAction.RESOLVE, f"grafana-oncall-{UID}")


@pytest.mark.parametrize("state", ["OK", " ok ", "Ok"])
def test_ok_is_read_in_any_case_as_oncall_does(state):
    body = {**load("grafana_oncall", "alerting"), "state": state}
    assert parse(body, {})[0].action == AlertAction.RESOLVE


def test_without_alert_uid_the_title_keys_the_alert_and_extra_fields_are_kept():
    (event,) = parse(load("grafana_oncall", "without_uid"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=stable_key("grafana-oncall", "Backup job failed on db-1"),
        summary="Backup job failed on db-1",
        severity=Severity.CRITICAL,
        source="grafana-oncall",
        description="pg_dump exited with status 1 after 42 minutes",
        details={
            "state": "alerting",
            "link_to_upstream_details": "https://jenkins.example.com/job/nightly-backup/812/",
            "host": "db-1",
        },
        links=[{"href": "https://jenkins.example.com/job/nightly-backup/812/", "text": "Source"}],
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"message": "x"}, "'title' is missing"),
        ({"title": ["x"]}, "'title' must be a string."),
        ({"title": "x", "state": {"ok": True}}, "'state' must be a string."),
        ({"alert_uid": True, "title": "x"}, "'alert_uid' must be a string."),
    ],
)
def test_payloads_that_are_not_the_format_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_a_list_body_is_refused():
    with pytest.raises(InvalidPayload) as refused:
        parse([load("grafana_oncall", "alerting")], {})
    assert refused.value.errors == ["The body must be a JSON object."]


def test_alerting_then_ok_through_http(client, service):
    oncall = connect(service, "grafana-oncall")
    alerting = post(client, "grafana-oncall", oncall.key, load("grafana_oncall", "alerting"))
    assert alerting.status_code == 202, alerting.content
    assert alerting.json()["results"] == [
        {"dedup_key": f"grafana-oncall-{UID}", "outcome": "triggered"}
    ]
    incident = Incident.objects.get()
    assert incident.title == "TestAlert: The whole system is down"
    ok = post(client, "grafana-oncall", oncall.key, load("grafana_oncall", "ok"))
    assert ok.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_bad_body_is_a_400_naming_the_field_and_writes_nothing(client, service):
    oncall = connect(service, "grafana-oncall")
    before = written()
    response = post(client, "grafana-oncall", oncall.key, {"message": "no title"})
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == [
        "'title' is missing (send 'title' or 'alert_uid')."
    ]
    assert written() == before
