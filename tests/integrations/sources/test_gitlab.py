"""GitLab: each recorded hook gives exactly these events; a red then green pipeline via HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.services import integration_create
from integrations.sources.common import InvalidPayload
from integrations.sources.gitlab import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db

PROJECT = "gitlab-org/gitlab-test"
TOKEN = "glwt-7f3c1a9e5d2b4c6a8e0f"
PLUS_TWO = timezone(timedelta(hours=2))


def test_a_failed_pipeline_triggers_one_incident_per_project_and_ref():
    (event,) = parse(load("gitlab", "pipeline_failed"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="gitlab-gitlab-org/gitlab-test-pipeline-master",
        summary="gitlab-org/gitlab-test: pipeline #31 failed on master",
        severity=Severity.ERROR,
        source=PROJECT,
        # rubocop failed too but is allowed to: not named
        description="Bump rack to 3.1\nFailed jobs: rspec",
        details={
            "hook": "pipeline",
            "ref": "master",
            "id": 31,
            "iid": 3,
            "status": "failed",
            "detailed_status": "failed",
            "source": "push",
            "sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
            "failed_jobs": ["rspec"],
            "user": "root",
        },
        links=[
            {
                "href": "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/pipelines/31",
                "text": "Pipeline",
            }
        ],
        occurred_at=datetime(2016, 8, 12, 15, 26, 29, tzinfo=UTC),
    )


def test_the_next_green_pipeline_on_the_ref_resolves_it():
    (event,) = parse(load("gitlab", "pipeline_success"), {})
    assert event == NormalizedEvent(
        action=AlertAction.RESOLVE,
        dedup_key="gitlab-gitlab-org/gitlab-test-pipeline-master",
        summary="gitlab-org/gitlab-test: pipeline #32 passed on master",
        severity=Severity.INFO,
        source=PROJECT,
        description="Fix rack upgrade",
        details={
            "hook": "pipeline",
            "ref": "master",
            "id": 32,
            "iid": 4,
            "status": "success",
            "detailed_status": "passed",
            "source": "push",
            "sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            "failed_jobs": [],
            "user": "root",
        },
        links=[
            {
                "href": "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/pipelines/32",
                "text": "Pipeline",
            }
        ],
        occurred_at=datetime(2016, 8, 12, 15, 43, 2, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("manual", AlertAction.RESOLVE),
        ("canceled", None),
        ("skipped", None),
        ("running", None),
        ("pending", None),
        ("created", None),
    ],
)
def test_other_pipeline_statuses(status, action):
    body = load("gitlab", "pipeline_failed")
    body["object_attributes"]["status"] = status
    assert [e.action for e in parse(body, {})] == ([action] if action else [])


def test_the_branches_option_keeps_other_refs_quiet():
    body = load("gitlab", "pipeline_failed")
    assert parse(body, {"branches": ["main"]}) == []
    assert len(parse(body, {"branches": ["master"]})) == 1


def test_a_failed_job_triggers_per_job_and_ref():
    (event,) = parse(load("gitlab", "job_failed"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="gitlab-gitlab-org/gitlab-test-job-test-master",
        summary="gitlab-org/gitlab-test: job test failed on master",
        severity=Severity.ERROR,
        source=PROJECT,
        description="Failure reason: script_failure",
        details={
            "hook": "job",
            "ref": "master",
            "id": 1977,
            "stage": "test",
            "status": "failed",
            "failure_reason": "script_failure",
            "pipeline_id": 2366,
            "sha": "2293ada6b400935a1378653304eaf6221e0fdb8f",
        },
        links=[
            {"href": "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/jobs/1977", "text": "Job"}
        ],
        occurred_at=datetime(2021, 2, 23, 2, 44, 12, 512000, tzinfo=UTC),
    )


def test_a_job_allowed_to_fail_pages_nobody():
    body = load("gitlab", "job_failed") | {"build_allow_failure": True}
    assert parse(body, {}) == []


def test_a_successful_job_resolves_its_key():
    body = load("gitlab", "job_failed") | {"build_status": "success"}
    (event,) = parse(body, {})
    assert (event.action, event.dedup_key, event.description) == (
        AlertAction.RESOLVE,
        "gitlab-gitlab-org/gitlab-test-job-test-master",
        "",
    )


def test_a_failed_deployment_triggers_per_environment():
    (event,) = parse(load("gitlab", "deployment_failed"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key="gitlab-root/test-deployment-webhooks-deployment-staging",
        summary="root/test-deployment-webhooks: deployment to staging failed",
        severity=Severity.ERROR,
        source="root/test-deployment-webhooks",
        description="Add new file",
        details={
            "hook": "deployment",
            "deployment_id": 15,
            "status": "failed",
            "environment": "staging",
            "environment_tier": "staging",
            "short_sha": "279484c0",
            "user": "root",
        },
        links=[
            {
                "href": "http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796",
                "text": "Deployment job",
            },
            {"href": "https://staging.example.com", "text": "Environment"},
        ],
        occurred_at=datetime(2021, 4, 28, 21, 50, tzinfo=PLUS_TWO),
    )


def test_a_successful_deployment_resolves_its_environment():
    (event,) = parse(load("gitlab", "deployment_success"), {})
    assert (event.action, event.dedup_key, event.occurred_at) == (
        AlertAction.RESOLVE,
        "gitlab-root/test-deployment-webhooks-deployment-staging",
        datetime(2021, 4, 28, 22, 12, 41, tzinfo=PLUS_TWO),
    )


def test_other_hooks_are_accepted_without_events():
    assert parse(load("gitlab", "push"), {}) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"object_attributes": {"status": "failed"}}, "'object_kind' is missing."),
        ({"object_kind": ["pipeline"]}, "'object_kind' must be a string."),
        (
            {"object_kind": "pipeline", "object_attributes": {"id": 1, "ref": "main"}},
            "'object_attributes.status' is missing.",
        ),
        (
            {"object_kind": "pipeline", "object_attributes": {"id": 1, "status": "failed"}},
            "'object_attributes.ref' is missing.",
        ),
        (
            {
                "object_kind": "pipeline",
                "project": {"path_with_namespace": "a/b"},
                "object_attributes": {"id": 1, "status": "failed", "ref": "main"},
                "builds": {},
            },
            "'builds' must be a list.",
        ),
        ({"object_kind": "build", "project_name": "a/b"}, "'build_id' is missing."),
        (
            {"object_kind": "deployment", "status": "failed", "environment": "prod"},
            "'project.path_with_namespace' is missing.",
        ),
    ],
)
def test_payloads_that_are_not_gitlab_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert error in refused.value.errors


def test_a_red_then_green_pipeline_through_http_with_the_token(client, service):
    gitlab = integration_create(service=service, kind="gitlab", name="GitLab", signing_secret=TOKEN)
    headers = {"X-Gitlab-Event": "Pipeline Hook", "X-Gitlab-Token": TOKEN}
    red = post(client, "gitlab", gitlab.key, load("gitlab", "pipeline_failed"), headers=headers)
    assert red.status_code == 202, red.content
    assert red.json()["results"] == [
        {"dedup_key": "gitlab-gitlab-org/gitlab-test-pipeline-master", "outcome": "triggered"}
    ]
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == (
        "gitlab-org/gitlab-test: pipeline #31 failed on master",
        Severity.ERROR,
    )
    green = post(client, "gitlab", gitlab.key, load("gitlab", "pipeline_success"), headers=headers)
    assert green.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_without_a_secret_the_key_alone_admits(client, service):
    gitlab = connect(service, "gitlab")
    response = post(client, "gitlab", gitlab.key, load("gitlab", "pipeline_failed"))
    assert response.status_code == 202


@pytest.mark.parametrize("token", ["wrong-token", "", TOKEN + " "], ids=["bad", "missing", "near"])
def test_a_bad_or_missing_token_is_a_401_and_writes_nothing(client, service, token):
    gitlab = integration_create(service=service, kind="gitlab", name="GitLab", signing_secret=TOKEN)
    headers = {"X-Gitlab-Token": token} if token else {}
    before = written()
    response = post(
        client, "gitlab", gitlab.key, load("gitlab", "pipeline_failed"), headers=headers
    )
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert "X-Gitlab-Token" in response.json()["message"]
    assert written() == before
