"""Dynatrace: each recorded problem notification gives exactly these events; open then resolved
through HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.sources.common import InvalidPayload
from integrations.sources.dynatrace import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db

KEY = "dynatrace--4373281942417390123_1795165200000V2"


def test_an_open_problem_triggers_with_its_severity():
    body = load("dynatrace", "problem_open")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=KEY,
        summary="Failure rate increase on checkout-api",
        severity=Severity.ERROR,
        source="checkout-api",
        description="Failure rate increase\nService checkout-api: failure rate 12.4% "
        "(threshold 5%)",
        details={
            "ProblemID": "P-2611201",
            "PID": "-4373281942417390123_1795165200000V2",
            "State": "OPEN",
            "ProblemSeverity": "ERROR",
            "ProblemImpact": "SERVICE",
            "ImpactedEntities": body["ImpactedEntities"],
            "Tags": ["env:prod", "team:checkout"],
        },
        links=[{"href": body["Problem URL"], "text": "Dynatrace problem"}],
        occurred_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
    )


def test_a_resolved_problem_resolves_the_same_key_at_its_end():
    (event,) = parse(load("dynatrace", "problem_resolved"), {})
    assert (event.action, event.dedup_key, event.occurred_at) == (
        AlertAction.RESOLVE,
        KEY,
        datetime(2026, 11, 20, 9, 23, tzinfo=UTC),
    )


def test_a_merged_problem_resolves_it_lives_on_in_another():
    (event,) = parse(load("dynatrace", "problem_merged"), {})
    assert (event.action, event.dedup_key, event.occurred_at) == (AlertAction.RESOLVE, KEY, None)


def test_the_test_notification_is_accepted_without_events():
    assert parse(load("dynatrace", "test_run"), {}) == []


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("AVAILABILITY", Severity.CRITICAL),
        ("ERROR", Severity.ERROR),
        ("PERFORMANCE", Severity.WARNING),
        ("RESOURCE_CONTENTION", Severity.WARNING),
        ("CUSTOM_ALERT", Severity.WARNING),
        ("INFO", Severity.INFO),
        (None, Severity.WARNING),  # the default template has no {ProblemSeverity}
    ],
)
def test_severities(severity, expected):
    body = {**load("dynatrace", "problem_open"), "ProblemSeverity": severity}
    assert parse(body, {})[0].severity == expected


def test_a_minimal_template_keys_on_the_display_id():
    body = {
        "State": "OPEN",
        "ProblemID": "P-2611201",
        "ProblemTitle": "Failure rate increase",
        "ProblemURL": "https://abc12345.live.dynatrace.com/#problems",
        "ProblemDetailsJSON": "not an object",
        "Tags": ["env:prod"],
    }
    (event,) = parse(body, {})
    assert (event.dedup_key, event.summary, event.source, event.details["Tags"]) == (
        "dynatrace-P-2611201",
        "Failure rate increase",
        "dynatrace",
        ["env:prod"],
    )
    assert event.links == [{"href": body["ProblemURL"], "text": "Dynatrace problem"}]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"State": "OPEN", "PID": "1"}, "'ProblemTitle' is missing."),
        ({"ProblemTitle": "x", "PID": "1"}, "'State' is missing."),
        ({"ProblemTitle": "x", "PID": "1", "State": "CLOSED"}, "'State' must be OPEN, RESOLVED"),
        ({"ProblemTitle": "x", "State": "OPEN"}, "'PID' is missing (or 'ProblemID')."),
        ({"ProblemTitle": "x", "PID": "1", "State": "OPEN", "ImpactedEntities": {}}, "'Impacted"),
    ],
)
def test_payloads_that_are_not_dynatrace_problems_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_open_then_resolved_through_http(client, service):
    dynatrace = connect(service, "dynatrace")
    opened = post(client, "dynatrace", dynatrace.key, load("dynatrace", "problem_open"))
    assert opened.status_code == 202, opened.content
    assert opened.json()["results"] == [{"dedup_key": KEY, "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert incident.title == "Failure rate increase on checkout-api"
    resolved = post(client, "dynatrace", dynatrace.key, load("dynatrace", "problem_resolved"))
    assert resolved.json()["results"] == [{"dedup_key": KEY, "outcome": "resolved"}]
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_bad_body_is_a_400_naming_the_field_and_writes_nothing(client, service):
    dynatrace = connect(service, "dynatrace")
    before = written()
    response = post(client, "dynatrace", dynatrace.key, {"ProblemTitle": "x", "State": "OPEN"})
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == ["'PID' is missing (or 'ProblemID')."]
    assert written() == before
