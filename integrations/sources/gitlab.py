"""GitLab webhooks: failed pipelines, jobs and deployments.

Reads the payloads of docs.gitlab.com "Webhook events": Pipeline events (`X-Gitlab-Event:
Pipeline Hook`, `object_kind: pipeline`), Job events (`Job Hook`, `object_kind: build`) and
Deployment events (`Deployment Hook`, `object_kind: deployment`). Other hooks (push, merge
request, the "Test" button's push sample, …) are accepted without events.

- A `failed` pipeline triggers (error); `success` resolves, and so does `manual` (every automatic
  job passed; the pipeline waits on a person). A failed job triggers unless it is allowed to fail;
  a job's `success` resolves. A `failed` deployment triggers, `success` resolves.
- `canceled` and `skipped` change nothing. (The OpsKnight seed acknowledged them; but GitLab
  cancels redundant pipelines by itself when a new commit lands, and a pipeline nobody finished
  says nothing about whether the ref is healthy; acknowledging would stop escalation of a red
  main branch.) Created, pending and running: no event either.
- One incident per project and ref: `gitlab-<project path>-pipeline-<ref>` (jobs:
  `-job-<job name>-<ref>`, deployments: `-deployment-<environment>`). Keyed by pipeline id
  instead, every red pipeline would be a new page and the next green pipeline, having another
  id, would never resolve the red one; keyed by ref, red pipelines on main gather on one incident
  and the first green one closes it.
- Option `branches` (list of refs): only pipelines and jobs on those refs page.

Authentication: GitLab sends the webhook's secret token as is, in `X-Gitlab-Token`; it must equal
the integration's signing secret (compared in constant time).
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from django.http import HttpRequest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import (
    done,
    get_path,
    items,
    links,
    require_object,
    text,
    timestamp,
)
from integrations.sources.registry import Provider

PIPELINE = {"failed": AlertAction.TRIGGER, "success": AlertAction.RESOLVE}
PIPELINE |= {"manual": AlertAction.RESOLVE}
JOB_OR_DEPLOYMENT = {"failed": AlertAction.TRIGGER, "success": AlertAction.RESOLVE}
VERBS = {AlertAction.TRIGGER: "failed", AlertAction.RESOLVE: "passed"}


def _time(value: Any) -> datetime | None:
    """GitLab writes `2016-08-12 15:23:28 UTC` in older hooks, ISO 8601 in newer ones."""
    if isinstance(value, str) and value.endswith(" UTC"):
        value = value.removesuffix(" UTC") + "Z"
    return timestamp(value)


def _branches(options: dict[str, Any]) -> set[str] | None:
    value = options.get("branches")
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return None
    return {str(name).strip() for name in value if str(name).strip()} or None


def _event(action: AlertAction, key: str, summary: str, project: str, **fields: Any):
    return NormalizedEvent(
        action=action,
        dedup_key=key,
        summary=summary,
        severity=Severity.ERROR if action == AlertAction.TRIGGER else Severity.INFO,
        source=project,
        **fields,
    )


def _commit_title(body: dict[str, Any], errors: list[str]) -> str:
    return text(body, "commit.message", errors, limit=2000).strip().partition("\n")[0]


def _pipeline(body: dict[str, Any], project: str, errors: list[str]) -> list[NormalizedEvent]:
    pipeline_id = text(body, "object_attributes.id", errors, required=True)
    status = text(body, "object_attributes.status", errors, required=True)
    ref = text(body, "object_attributes.ref", errors, required=True)
    builds = items(body, "builds", errors)
    title = _commit_title(body, errors)
    done(errors)
    action = PIPELINE.get(status)
    if action is None:
        return []
    failed = [
        name
        for build in builds
        if get_path(build, "status") == "failed"
        and not get_path(build, "allow_failure")
        and isinstance(name := get_path(build, "name"), str)
    ]
    lines = [title, f"Failed jobs: {', '.join(failed)}" if failed else ""]
    description = "\n".join(line for line in lines if line)
    return [
        _event(
            action,
            f"gitlab-{project}-pipeline-{ref}",
            f"{project}: pipeline #{pipeline_id} {VERBS[action]} on {ref}",
            project,
            description=description,
            details={
                "hook": "pipeline",
                "ref": ref,
                **{
                    name: get_path(body, f"object_attributes.{name}")
                    for name in ("id", "iid", "status", "detailed_status", "source", "sha")
                },
                "failed_jobs": failed,
                "user": get_path(body, "user.username"),
            },
            links=links([("Pipeline", get_path(body, "object_attributes.url"))]),
            occurred_at=_time(get_path(body, "object_attributes.finished_at")),
        )
    ]


def _job(body: dict[str, Any], project: str, errors: list[str]) -> list[NormalizedEvent]:
    job_id = text(body, "build_id", errors, required=True)
    name = text(body, "build_name", errors, required=True)
    status = text(body, "build_status", errors, required=True)
    ref = text(body, "ref", errors, required=True)
    reason = text(body, "build_failure_reason", errors, limit=200)
    done(errors)
    action = JOB_OR_DEPLOYMENT.get(status)
    if action is None or (action == AlertAction.TRIGGER and body.get("build_allow_failure")):
        return []
    web_url = text(body, "project.web_url", errors) or text(body, "repository.homepage", errors)
    return [
        _event(
            action,
            f"gitlab-{project}-job-{name}-{ref}",
            f"{project}: job {name} {VERBS[action]} on {ref}",
            project,
            description=f"Failure reason: {reason}"
            if action == AlertAction.TRIGGER and reason
            else "",
            details={
                "hook": "job",
                "ref": ref,
                "id": body.get("build_id"),
                "stage": body.get("build_stage"),
                "status": status,
                "failure_reason": reason,
                "pipeline_id": body.get("pipeline_id"),
                "sha": body.get("sha"),
            },
            links=links([("Job", f"{web_url}/-/jobs/{job_id}" if web_url else None)]),
            occurred_at=_time(body.get("build_finished_at")),
        )
    ]


def _deployment(body: dict[str, Any], project: str, errors: list[str]) -> list[NormalizedEvent]:
    status = text(body, "status", errors, required=True)
    environment = text(body, "environment", errors, required=True)
    done(errors)
    action = JOB_OR_DEPLOYMENT.get(status)
    if action is None:
        return []
    verb = "failed" if action == AlertAction.TRIGGER else "succeeded"
    return [
        _event(
            action,
            f"gitlab-{project}-deployment-{environment}",
            f"{project}: deployment to {environment} {verb}",
            project,
            description=text(body, "commit_title", errors, limit=1000),
            details={
                "hook": "deployment",
                **{
                    name: body.get(name)
                    for name in ("deployment_id", "status", "environment", "environment_tier")
                },
                "short_sha": body.get("short_sha"),
                "user": get_path(body, "user.username"),
            },
            links=links(
                [
                    ("Deployment job", body.get("deployable_url")),
                    ("Environment", body.get("environment_external_url")),
                ]
            ),
            occurred_at=_time(body.get("status_changed_at")),
        )
    ]


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    kind = text(body, "object_kind", errors, required=True)
    done(errors)
    handler = {"pipeline": _pipeline, "build": _job, "deployment": _deployment}.get(kind)
    if handler is None:
        return []  # push, merge_request, note, …: nothing to page about
    project = (
        text(body, "project.path_with_namespace", errors)
        or text(body, "project_name", errors)
        or text(body, "project.id", errors)
    )
    if not project and not errors:
        errors.append("'project.path_with_namespace' is missing.")
    events = handler(body, project, errors)
    wanted = _branches(options)
    if wanted is None or kind == "deployment":
        return events
    return [e for e in events if e.details["ref"] in wanted]


def verify(request: HttpRequest, secret: str) -> bool:
    """`X-Gitlab-Token` carries the webhook's secret token itself: equal, in constant time."""
    supplied = request.headers.get("X-Gitlab-Token", "")
    return bool(supplied) and hmac.compare_digest(supplied.encode(), secret.encode())


SAMPLE = {
    "object_kind": "pipeline",
    "object_attributes": {
        "id": 31,
        "iid": 3,
        "ref": "main",
        "tag": False,
        "sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
        "source": "push",
        "status": "failed",
        "detailed_status": "failed",
        "stages": ["build", "test", "deploy"],
        "created_at": "2026-11-20 09:08:14 UTC",
        "finished_at": "2026-11-20 09:14:03 UTC",
        "url": "https://gitlab.example.com/gitlab-org/gitlab-test/-/pipelines/31",
    },
    "user": {"id": 1, "name": "Administrator", "username": "root"},
    "project": {
        "id": 1,
        "name": "Gitlab Test",
        "web_url": "https://gitlab.example.com/gitlab-org/gitlab-test",
        "path_with_namespace": "gitlab-org/gitlab-test",
        "default_branch": "main",
    },
    "commit": {"id": "bcbb5ec396a2c0f828686f14fac9b80b780504f2", "message": "Bump rack\n"},
    "builds": [{"id": 380, "stage": "test", "name": "rspec", "status": "failed"}],
}

PROVIDER = Provider(
    kind="gitlab",
    parse=parse,
    verify=verify,
    sample=SAMPLE,
    signature_help="This integration requires the webhook's secret token in X-Gitlab-Token.",
)
