"""Generic webhook: defaults and a JMESPath mapping give exactly these events; bad mappings are
400s naming the option; signatures through HTTP."""

from __future__ import annotations

import json

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.services import integration_create
from integrations.sources.common import InvalidPayload, stable_key
from integrations.sources.webhook import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, hmac_hex, post

pytestmark = pytest.mark.django_db

SECRET = "webhook-secret"
MAPPING = {
    "dedup_key": "incident.key",
    "summary": "incident.headline",
    "action": "incident.state",
    "severity": "incident.urgency",
    "source": "$.incident.host",
    "description": "incident.details",
    "trigger_values": ["open", "reopened"],
    "resolve_values": ["closed"],
    "acknowledge_values": ["investigating"],
    "severity_map": {"P1": "critical", "P2": "error", "P3": "warning"},
}
OPTIONS = {"mapping": MAPPING}


def test_default_fields_trigger():
    body = load("webhook", "default_triggered")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="backup-db-1-nightly",
        summary="Nightly backup failed on db-1",
        severity=Severity.CRITICAL,  # "high"
        source="backup-runner",
        description="pg_dump exited with status 1 after 42 minutes.",
        details=body,
    )


def test_default_fields_resolve_and_acknowledge_the_same_key():
    (resolved,) = parse(load("webhook", "default_resolved"), {})
    (acknowledged,) = parse(load("webhook", "default_acknowledged"), {})
    assert (resolved.action, resolved.dedup_key) == (AlertAction.RESOLVE, "backup-db-1-nightly")
    assert (acknowledged.action, acknowledged.dedup_key, acknowledged.severity) == (
        AlertAction.ACKNOWLEDGE,
        "backup-db-1-nightly",
        Severity.WARNING,  # no severity field
    )


def test_a_list_gives_one_event_per_element_with_the_fallback_fields():
    body = load("webhook", "default_batch")
    assert parse(body, {}) == [
        NormalizedEvent(
            action=AlertAction.TRIGGER,
            dedup_key="4411",
            summary="Certificate for shop.example.com expires in 7 days",
            severity=Severity.WARNING,  # "medium"
            source="cert-watch",
            details=body[0],
            raw=body[0],
        ),
        NormalizedEvent(
            action=AlertAction.TRIGGER,
            dedup_key="webhook-queue-depth-above-10k",
            summary="Queue depth above 10k",
            severity=Severity.CRITICAL,  # "P1", by the shared keyword normalization
            source="rabbitmq-prod",
            details=body[1],
            raw=body[1],
        ),
    ]


def test_a_jmespath_mapping_reads_a_custom_payload():
    body = load("webhook", "mapped_open")
    (event,) = parse(body, OPTIONS)
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="etl-nightly-orders",
        summary="Orders ETL missed its 06:00 deadline",
        severity=Severity.CRITICAL,
        source="etl-1",
        description="Last successful run: 2026-11-19 06:02 UTC",
        details=body,
    )


@pytest.mark.parametrize(
    ("fixture", "action"),
    [("mapped_investigating", AlertAction.ACKNOWLEDGE), ("mapped_closed", AlertAction.RESOLVE)],
)
def test_the_mappings_values_decide_the_action(fixture, action):
    (event,) = parse(load("webhook", fixture), OPTIONS)
    assert (event.action, event.dedup_key) == (action, "etl-nightly-orders")


@pytest.mark.parametrize(
    ("state", "action"),
    [
        ("Alert resolved", AlertAction.RESOLVE),
        ("OK", AlertAction.RESOLVE),
        ("broken", AlertAction.TRIGGER),  # "ok" is matched as a word, not inside "broken"
        ("acknowledged", AlertAction.ACKNOWLEDGE),
        ("pending", AlertAction.TRIGGER),  # matches nothing: triggers, as the seed did
        (True, AlertAction.TRIGGER),
        ("", AlertAction.TRIGGER),
    ],
)
def test_default_action_words(state, action):
    assert parse({"title": "x", "status": state}, {})[0].action == action


def test_expressions_can_use_jmespath_functions_and_list_indexes():
    body = {"alerts": [{"labels": {"host": "a"}, "msg": "down"}], "level": "critical"}
    mapping = {"summary": "join(' ', [alerts[0].labels.host, alerts[0].msg])", "dedup_key": "'k'"}
    (event,) = parse(body, {"mapping": mapping})
    # Fields the mapping leaves out keep their default paths: `level` here.
    assert (event.summary, event.dedup_key, event.severity) == ("a down", "k", Severity.CRITICAL)


def test_a_summary_without_latin_letters_still_gets_a_stable_key():
    (event,) = parse({"title": "Сервер недоступен"}, {})
    assert event.dedup_key == stable_key("webhook", "Сервер недоступен")


@pytest.mark.parametrize(
    ("mapping", "error"),
    [
        ({"summary": "incident."}, "Integration option 'mapping.summary' is not a valid JMESPath"),
        (
            {"summary": "alerts.0.id"},
            "Integration option 'mapping.summary' is not a valid JMESPath",
        ),
        ({"source": "`unclosed"}, "Integration option 'mapping.source' is not a valid JMESPath"),
        ({"summary": ""}, "Integration option 'mapping.summary' must be a JMESPath expression."),
        ({"severity": 3}, "Integration option 'mapping.severity' must be a JMESPath expression."),
        ({"titel": "x"}, "Integration option 'mapping.titel' is not one of summary, dedup_key"),
        (
            {"resolve_values": "closed"},
            "Integration option 'mapping.resolve_values' must be a list",
        ),
        ({"severity_map": {"P1": "urgent"}}, "Integration option 'mapping.severity_map' must map"),
        ({"summary": "abs(incident.headline)"}, "Integration option 'mapping.summary' ("),
    ],
)
def test_a_bad_mapping_is_refused_naming_the_option(mapping, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(load("webhook", "mapped_open"), {"mapping": mapping})
    assert any(message.startswith(error) for message in refused.value.errors), refused.value


def test_a_mapping_that_is_not_an_object_is_refused():
    with pytest.raises(InvalidPayload) as refused:
        parse({"title": "x"}, {"mapping": ["summary"]})
    assert refused.value.errors == ["Integration option 'mapping' must be an object."]


@pytest.mark.parametrize(
    ("body", "options", "error"),
    [
        ({"status": "open"}, {}, "'summary' is missing: 'summary', 'title', 'message'"),
        ({"incident": {}}, OPTIONS, "'summary' is missing: mapping.summary ('incident.headline')"),
        ({"title": {"text": "x"}}, {}, "'title' must be text, not a list or object."),
        ({"incident": {"headline": ["x"]}}, OPTIONS, "'incident.headline' must be text"),
        ([{"title": "x"}, {"status": "open"}], {}, "'1.summary' is missing"),
        ([{"title": "x"}, "y"], {}, "'1' must be an object."),
        ([], {}, "The body must not be an empty list."),
        (3, {}, "The body must be a JSON object or a list of them."),
    ],
)
def test_bodies_without_what_the_mapping_needs_are_refused_by_field(body, options, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, options)
    assert any(message.startswith(error) for message in refused.value.errors), refused.value


def test_open_investigating_closed_through_http(client, service):
    hook = connect(service, "webhook", mapping=MAPPING)
    opened = post(client, "webhook", hook.key, load("webhook", "mapped_open"))
    assert opened.status_code == 202, opened.content
    assert opened.json()["results"] == [{"dedup_key": "etl-nightly-orders", "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert (incident.title, incident.severity, incident.source) == (
        "Orders ETL missed its 06:00 deadline",
        Severity.CRITICAL,
        "etl-1",
    )
    acked = post(client, "webhook", hook.key, load("webhook", "mapped_investigating"))
    assert acked.json()["results"][0]["outcome"] == "acknowledged"
    closed = post(client, "webhook", hook.key, load("webhook", "mapped_closed"))
    assert closed.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_bad_mapping_is_a_400_through_http_and_writes_nothing(client, service):
    hook = connect(service, "webhook", mapping={"summary": "incident.", "dedup_key": "a[0"})
    before = written()
    response = post(client, "webhook", hook.key, load("webhook", "mapped_open"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_payload"
    errors = response.json()["details"]["errors"]
    assert [e.split(" is not")[0] for e in errors] == [
        "Integration option 'mapping.summary'",
        "Integration option 'mapping.dedup_key'",
    ]
    assert written() == before


@pytest.fixture
def signed(service):
    return integration_create(service=service, kind="webhook", name="Hook", signing_secret=SECRET)


RAW = json.dumps(load("webhook", "default_triggered")).encode()


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Webhook-Signature": hmac_hex(SECRET, RAW)},
        {"X-Webhook-Signature": "sha256=" + hmac_hex(SECRET, RAW).upper()},
        {"X-Signature": hmac_hex(SECRET, RAW)},
        {"X-OpsKnight-Signature": "sha256=" + hmac_hex(SECRET, RAW)},
    ],
)
def test_a_signed_body_is_accepted(client, signed, headers):
    response = post(client, "webhook", signed.key, None, raw=RAW, headers=headers)
    assert response.status_code == 202, response.content


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"X-Webhook-Signature": hmac_hex("wrong", RAW)}, id="wrong-secret"),
        pytest.param({"X-Webhook-Signature": "sha1=" + hmac_hex(SECRET, RAW)}, id="other-scheme"),
        pytest.param({"X-Hub-Signature": hmac_hex(SECRET, RAW)}, id="other-header"),
    ],
)
def test_a_bad_or_missing_signature_is_refused_and_writes_nothing(client, signed, headers):
    before = written()
    response = post(client, "webhook", signed.key, None, raw=RAW, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert written() == before
