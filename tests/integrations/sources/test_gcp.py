"""Google Cloud Monitoring (webhook schema 1.2): each recorded incident gives exactly these
events; open then closed through HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.sources.common import InvalidPayload
from integrations.sources.gcp import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db


def test_an_open_incident_triggers_with_the_policy_severity_and_subject():
    body = load("gcp", "metric_open")
    (event,) = parse(body, {})
    incident = body["incident"]
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="gcp-0.opqiw61fsv7p",
        summary="[CRITICAL] Checkout VM CPU high on checkout-vm-01",
        severity=Severity.CRITICAL,
        source="checkout-vm-01",
        description="CPU on a checkout VM has been above 90% for 5 minutes.\n\n"
        "See the playbook before restarting.",
        details={
            "policy_name": "Checkout VM CPU high",
            "condition_name": "VM Instance - CPU utilization above 90%",
            "scoping_project_id": "checkout-prod",
            "resource": incident["resource"],
            "resource_type_display_name": "VM Instance",
            "metric": incident["metric"],
            "observed_value": "0.973",
            "threshold_value": "0.9",
            "policy_user_labels": {"team": "checkout", "env": "prod"},
            "metadata": incident["metadata"],
        },
        links=[
            {
                "href": "https://console.cloud.google.com/monitoring/alerting/incidents/"
                "0.opqiw61fsv7p?project=checkout-prod",
                "text": "Cloud Monitoring incident",
            },
            {"href": "https://wiki.example.com/runbooks/checkout-vm-cpu", "text": "Playbook"},
        ],
        occurred_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
    )


def test_the_closed_incident_resolves_the_same_key_at_its_end():
    (event,) = parse(load("gcp", "metric_closed"), {})
    assert (event.action, event.dedup_key, event.occurred_at) == (
        AlertAction.RESOLVE,
        "gcp-0.opqiw61fsv7p",
        datetime(2026, 11, 20, 9, 23, tzinfo=UTC),
    )


def test_an_uptime_incident_without_documentation_uses_its_summary_and_severity_label():
    (event,) = parse(load("gcp", "uptime_open"), {})
    summary = (
        "An uptime check on checkout-prod Uptime Check URL labels {host=checkout.example.com, "
        "project_id=checkout-prod} is failing."
    )
    assert (event.summary, event.description, event.severity, event.source) == (
        summary,
        summary,
        Severity.ERROR,  # from the policy's user label: the policy has no severity level
        "checkout-prod Uptime Check URL labels {host=checkout.example.com, "
        "project_id=checkout-prod}",
    )


def test_without_any_severity_an_incident_is_a_warning():
    body = load("gcp", "uptime_open")
    del body["incident"]["policy_user_labels"]
    body["incident"]["severity"] = "No severity"
    assert parse(body, {})[0].severity == Severity.WARNING


def test_the_test_connection_button_is_accepted_without_events():
    assert parse(load("gcp", "test_connection"), {}) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"version": "1.2"}, "'incident' is missing."),
        ({"incident": {"incident_id": "1", "state": "open"}}, "'version' is missing."),
        ({"version": "1.1", "incident": {"incident_id": "1", "state": "open"}}, "'version' must"),
        ({"version": "1.2", "incident": {"state": "open"}}, "'incident.incident_id' is missing."),
        ({"version": "1.2", "incident": {"incident_id": "1", "state": "x"}}, "'incident.state'"),
        ({"version": "1.2", "incident": []}, "'incident' must be an object."),
    ],
)
def test_payloads_that_are_not_cloud_monitoring_incidents_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_open_then_closed_through_http(client, service):
    gcp = connect(service, "gcp")
    opened = post(client, "gcp", gcp.key, load("gcp", "metric_open"))
    assert opened.status_code == 202, opened.content
    assert opened.json()["results"] == [{"dedup_key": "gcp-0.opqiw61fsv7p", "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert incident.title == "[CRITICAL] Checkout VM CPU high on checkout-vm-01"
    closed = post(client, "gcp", gcp.key, load("gcp", "metric_closed"))
    assert closed.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_bad_body_is_a_400_naming_the_field_and_writes_nothing(client, service):
    gcp = connect(service, "gcp")
    before = written()
    response = post(client, "gcp", gcp.key, {"version": "1.2", "incident": {"state": "open"}})
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == ["'incident.incident_id' is missing."]
    assert written() == before
