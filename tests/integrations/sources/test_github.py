"""GitHub: each recorded webhook gives exactly these events; a red then green run through HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.services import integration_create
from integrations.sources.common import InvalidPayload
from integrations.sources.github import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, hmac_hex, post

pytestmark = pytest.mark.django_db

REPO = "octo-org/octo-repo"
SECRET = "It's a Secret to Everybody"


def _run_details(**changes):
    return {
        "webhook": "workflow_run",
        "conclusion": "failure",
        "branch": "main",
        "id": 30433642,
        "run_number": 562,
        "run_attempt": 1,
        "event": "push",
        "head_sha": "acb5820ced9479c074f688cc328bf03f341a511d",
        "path": ".github/workflows/build.yml",
        "actor": "octocat",
    } | changes


def test_a_failed_workflow_run_triggers_critical_per_repo_workflow_and_branch():
    (event,) = parse(load("github", "workflow_run_failure"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="github-octo-org/octo-repo-Build-main",
        summary="octo-org/octo-repo: workflow Build failed on main",
        severity=Severity.CRITICAL,
        source=REPO,
        description="Update README.md",
        details=_run_details(),
        links=[
            {
                "href": "https://github.com/octo-org/octo-repo/actions/runs/30433642",
                "text": "Workflow run",
            }
        ],
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, tzinfo=UTC),
    )


def test_the_next_green_run_resolves_the_same_key():
    (event,) = parse(load("github", "workflow_run_success"), {})
    assert event == NormalizedEvent(
        action=AlertAction.RESOLVE,
        dedup_key="github-octo-org/octo-repo-Build-main",
        summary="octo-org/octo-repo: workflow Build passed on main",
        severity=Severity.INFO,
        source=REPO,
        description="Fix flaky checkout test",
        details=_run_details(
            conclusion="success",
            id=30434133,
            run_number=563,
            head_sha="b3a9f4f1d1c0e2a7a1f6e5d4c3b2a19080706050",
        ),
        links=[
            {
                "href": "https://github.com/octo-org/octo-repo/actions/runs/30434133",
                "text": "Workflow run",
            }
        ],
        occurred_at=datetime(2026, 11, 20, 9, 36, 12, tzinfo=UTC),
    )


def test_a_run_in_progress_changes_nothing():
    # Not an acknowledge: a rerun starting is not a person taking the incident.
    assert parse(load("github", "workflow_run_in_progress"), {}) == []


@pytest.mark.parametrize(
    ("conclusion", "action"),
    [
        ("timed_out", AlertAction.TRIGGER),
        ("startup_failure", AlertAction.TRIGGER),
        ("cancelled", None),
        ("skipped", None),
        ("neutral", None),
        ("action_required", None),
        ("stale", None),
    ],
)
def test_other_conclusions(conclusion, action):
    body = load("github", "workflow_run_failure")
    body["workflow_run"]["conclusion"] = conclusion
    events = parse(body, {})
    assert [e.action for e in events] == ([action] if action else [])


def test_a_timed_out_run_says_so():
    body = load("github", "workflow_run_failure")
    body["workflow_run"]["conclusion"] = "timed_out"
    assert parse(body, {})[0].summary == "octo-org/octo-repo: workflow Build timed out on main"


def test_a_pull_request_from_a_fork_keeps_its_own_key():
    body = load("github", "workflow_run_failure")
    body["workflow_run"]["event"] = "pull_request"
    body["workflow_run"]["head_repository"] = {"full_name": "mallory/octo-repo"}
    (event,) = parse(body, {})
    assert event.dedup_key == "github-octo-org/octo-repo-Build-mallory:main"


def test_the_branches_option_keeps_other_branches_quiet():
    body = load("github", "workflow_run_failure")
    assert parse(body, {"branches": ["release"]}) == []
    assert len(parse(body, {"branches": ["main", "release"]})) == 1
    assert len(parse(body, {"branches": "release, main"})) == 1


def test_a_failed_check_run_triggers_per_check_and_branch():
    (event,) = parse(load("github", "check_run_failure"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="github-octo-org/octo-repo-check-test (3.11)-main",
        summary="octo-org/octo-repo: check test (3.11) failed on main",
        severity=Severity.CRITICAL,
        source=REPO,
        description="2 tests failed",
        details={
            "webhook": "check_run",
            "conclusion": "failure",
            "branch": "main",
            "id": 128620228,
            "head_sha": "acb5820ced9479c074f688cc328bf03f341a511d",
            "app": "GitHub Actions",
        },
        links=[
            {"href": "https://github.com/octo-org/octo-repo/runs/128620228", "text": "Check run"},
            {
                "href": "https://github.com/octo-org/octo-repo/actions/runs/30433642/job/128620228",
                "text": "Details",
            },
        ],
        occurred_at=datetime(2026, 11, 20, 9, 13, 58, tzinfo=UTC),
    )


def _deployment_details(state):
    return {
        "webhook": "deployment_status",
        "state": state,
        "environment": "production",
        "ref": "main",
        "sha": "b3a9f4f1d1c0e2a7a1f6e5d4c3b2a19080706050",
        "deployment_id": 145988746,
    }


DEPLOYMENT_LINKS = [
    {
        "href": "https://github.com/octo-org/octo-repo/actions/runs/30435001/job/128633907",
        "text": "Deployment log",
    },
    {"href": "https://shop.example.com", "text": "Environment"},
]


def test_a_failed_deployment_triggers_one_incident_per_environment():
    (event,) = parse(load("github", "deployment_status_failure"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="github-octo-org/octo-repo-deployment-production",
        summary="octo-org/octo-repo: deployment to production failed (main)",
        severity=Severity.CRITICAL,
        source=REPO,
        description="Health check failed after rollout",
        details=_deployment_details("failure"),
        links=DEPLOYMENT_LINKS,
        occurred_at=datetime(2026, 11, 20, 10, 6, 40, tzinfo=UTC),
    )


def test_a_successful_deployment_resolves_its_environment():
    (event,) = parse(load("github", "deployment_status_success"), {})
    assert (event.action, event.dedup_key) == (
        AlertAction.RESOLVE,
        "github-octo-org/octo-repo-deployment-production",
    )
    assert event.details == _deployment_details("success")


@pytest.mark.parametrize("state", ["pending", "queued", "in_progress", "inactive"])
def test_deployments_under_way_change_nothing(state):
    body = load("github", "deployment_status_failure")
    body["deployment_status"]["state"] = state
    assert parse(body, {}) == []


def test_the_ping_is_accepted_without_events():
    assert parse(load("github", "ping"), {}) == []


def test_other_github_events_are_accepted_without_events():
    push = {
        "ref": "refs/heads/main",
        "repository": {"full_name": REPO},
        "sender": {"login": "octocat"},
    }
    assert parse(push, {}) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"zen": "x"}, "'workflow_run' is missing."),
        ({"workflow_run": {"status": "completed"}}, "'repository.full_name' is missing."),
        (
            {"workflow_run": {"name": "Build"}, "repository": {"full_name": REPO}},
            "'workflow_run.status' is missing.",
        ),
        (
            {"workflow_run": {"status": "completed"}, "repository": {"full_name": REPO}},
            "'workflow_run.name' is missing.",
        ),
        ({"check_run": [], "repository": {"full_name": REPO}}, "'check_run' must be an object."),
        (
            {"deployment_status": {"state": "failure"}, "repository": {"full_name": REPO}},
            "'deployment_status.environment' is missing.",
        ),
    ],
)
def test_payloads_that_are_not_github_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert error in refused.value.errors


def _signed(name: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(load("github", name)).encode()
    return raw, {
        "X-GitHub-Event": "workflow_run",
        "X-Hub-Signature-256": "sha256=" + hmac_hex(SECRET, raw),
    }


def test_a_red_run_then_a_green_run_through_http(client, service):
    github = integration_create(
        service=service, kind="github", name="GitHub", signing_secret=SECRET
    )
    raw, headers = _signed("workflow_run_failure")
    red = post(client, "github", github.key, None, raw=raw, headers=headers)
    assert red.status_code == 202, red.content
    assert red.json()["results"] == [
        {"dedup_key": "github-octo-org/octo-repo-Build-main", "outcome": "triggered"}
    ]
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == (
        "octo-org/octo-repo: workflow Build failed on main",
        Severity.CRITICAL,
    )
    raw, headers = _signed("workflow_run_success")
    green = post(client, "github", github.key, None, raw=raw, headers=headers)
    assert green.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_the_ping_through_http_is_accepted_with_no_events(client, service):
    github = connect(service, "github")
    response = post(client, "github", github.key, load("github", "ping"))
    assert response.status_code == 202
    assert response.json()["events"] == 0


@pytest.mark.parametrize(
    "signature",
    ["sha256=" + "0" * 64, "", "sha1=0123456789abcdef0123456789abcdef01234567"],
    ids=["bad", "missing", "sha1"],
)
def test_a_bad_or_missing_signature_is_a_401_and_writes_nothing(client, service, signature):
    github = integration_create(
        service=service, kind="github", name="GitHub", signing_secret=SECRET
    )
    headers = {"X-Hub-Signature-256": signature} if signature else {}
    before = written()
    response = post(
        client, "github", github.key, load("github", "workflow_run_failure"), headers=headers
    )
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert written() == before
