"""Bitbucket Cloud: each recorded build status gives exactly these events; red then green."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.services import integration_create
from integrations.sources.bitbucket import parse
from integrations.sources.common import InvalidPayload
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import hmac_hex, post

pytestmark = pytest.mark.django_db

KEY = "bitbucket-acme/checkout-BB-PIPELINE-DEFAULT-main"
SECRET = "bb-webhook-secret-3c9d7e1f"
REPO_LINK = {"href": "https://bitbucket.org/acme/checkout", "text": "Repository"}


def _details(state, name, commit):
    return {
        "state": state,
        "key": "BB-PIPELINE-DEFAULT",
        "name": name,
        "refname": "main",
        "commit": commit,
        "actor": "Emma Lindqvist",
    }


def test_a_failed_build_triggers_per_status_key_and_branch():
    (event,) = parse(load("bitbucket", "commit_status_failed"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=KEY,
        summary="acme/checkout: Pipeline #412 for main failed",
        severity=Severity.ERROR,
        source="acme/checkout",
        description="Tests failed in step 'Test'",
        details=_details(
            "FAILED", "Pipeline #412 for main", "9fec847784abb10b2fa567ee63b85bd238955d0e"
        ),
        links=[
            {
                "href": "https://bitbucket.org/acme/checkout/addon/pipelines/home#!/results/412",
                "text": "Build",
            },
            REPO_LINK,
        ],
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, 547563, tzinfo=UTC),
    )


def test_the_next_successful_build_resolves_the_same_key():
    (event,) = parse(load("bitbucket", "commit_status_successful"), {})
    assert event == NormalizedEvent(
        action=AlertAction.RESOLVE,
        dedup_key=KEY,
        summary="acme/checkout: Pipeline #413 for main passed",
        severity=Severity.INFO,
        source="acme/checkout",
        description="All steps passed",
        details=_details(
            "SUCCESSFUL", "Pipeline #413 for main", "1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5"
        ),
        links=[
            {
                "href": "https://bitbucket.org/acme/checkout/addon/pipelines/home#!/results/413",
                "text": "Build",
            },
            REPO_LINK,
        ],
        occurred_at=datetime(2026, 11, 20, 9, 36, 12, 918273, tzinfo=UTC),
    )


def test_a_build_in_progress_changes_nothing():
    assert parse(load("bitbucket", "commit_status_inprogress"), {}) == []


def test_a_stopped_build_changes_nothing():
    body = load("bitbucket", "commit_status_failed")
    body["commit_status"]["state"] = "STOPPED"
    assert parse(body, {}) == []


def test_a_tool_that_sends_no_refname_is_keyed_by_status_key_alone():
    body = load("bitbucket", "commit_status_failed")
    del body["commit_status"]["refname"]
    body["commit_status"] |= {"key": "JENKINS-CHECKOUT", "name": "checkout #88"}
    (event,) = parse(body, {})
    assert event.dedup_key == "bitbucket-acme/checkout-JENKINS-CHECKOUT"
    assert event.summary == "acme/checkout: checkout #88 failed at 9fec847784ab"


def test_the_branches_option_keeps_other_branches_quiet():
    body = load("bitbucket", "commit_status_failed")
    assert parse(body, {"branches": ["release"]}) == []
    assert len(parse(body, {"branches": ["main"]})) == 1


def test_other_repository_events_are_accepted_without_events():
    push = {"actor": {"display_name": "Emma"}, "repository": {"full_name": "acme/checkout"}}
    assert parse(push, {}) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"state": "FAILED"}, "'commit_status' is missing."),
        ({"commit_status": "FAILED"}, "'commit_status' must be an object."),
        (
            {"commit_status": {"state": "FAILED", "key": "K"}},
            "'repository.full_name' is missing.",
        ),
        (
            {"repository": {"full_name": "a/b"}, "commit_status": {"state": "FAILED"}},
            "'commit_status.key' is missing.",
        ),
        (
            {"repository": {"full_name": "a/b"}, "commit_status": {"state": "RED", "key": "K"}},
            "'commit_status.state' must be SUCCESSFUL, FAILED, INPROGRESS or STOPPED.",
        ),
    ],
)
def test_payloads_that_are_not_bitbucket_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert error in refused.value.errors


def _signed(name: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(load("bitbucket", name)).encode()
    return raw, {
        "X-Event-Key": "repo:commit_status_updated",
        "X-Hub-Signature": "sha256=" + hmac_hex(SECRET, raw),
    }


def test_a_red_then_green_build_through_http(client, service):
    bitbucket = integration_create(
        service=service, kind="bitbucket", name="Bitbucket", signing_secret=SECRET
    )
    raw, headers = _signed("commit_status_failed")
    red = post(client, "bitbucket", bitbucket.key, None, raw=raw, headers=headers)
    assert red.status_code == 202, red.content
    assert red.json()["results"] == [{"dedup_key": KEY, "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert incident.title == "acme/checkout: Pipeline #412 for main failed"
    raw, headers = _signed("commit_status_successful")
    green = post(client, "bitbucket", bitbucket.key, None, raw=raw, headers=headers)
    assert green.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


@pytest.mark.parametrize("signature", ["sha256=" + "0" * 64, ""], ids=["bad", "missing"])
def test_a_bad_or_missing_signature_is_a_401_and_writes_nothing(client, service, signature):
    bitbucket = integration_create(
        service=service, kind="bitbucket", name="Bitbucket", signing_secret=SECRET
    )
    headers = {"X-Hub-Signature": signature} if signature else {}
    before = written()
    response = post(
        client,
        "bitbucket",
        bitbucket.key,
        load("bitbucket", "commit_status_failed"),
        headers=headers,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert written() == before
