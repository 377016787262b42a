"""GitHub webhooks: failed Actions workflow runs, check runs and deployments.

Reads the payloads of docs.github.com "Webhook events and payloads": `workflow_run`,
`check_run` and `deployment_status` (the event name travels in `X-GitHub-Event`; each body says
what it is by its top-level object), and `ping`, sent when the webhook is created (accepted, no
event). Other events a "send me everything" webhook delivers are accepted without events.

- A completed run or check with conclusion `failure`, `timed_out` or `startup_failure` triggers
  (critical); `success` resolves. A deployment status `failure`/`error` triggers, `success`
  resolves.
- One incident per thing that can be red: `github-<owner/repo>-<workflow name>-<branch>`,
  `github-<owner/repo>-check-<check name>-<branch>`, `github-<owner/repo>-deployment-<env>`, so
  the next green run of that workflow on that branch resolves it, and repeated red runs add
  alerts to it instead of paging again.
- Runs being requested or in progress change nothing. (The OpsKnight seed acknowledged them; but
  a rerun starting, often pushed by a bot, is not a person taking the incident, and acknowledging
  would stop escalation while the branch is still red.) `cancelled`, `skipped`, `neutral`,
  `stale` and `action_required` say nothing about whether the code is healthy: no event.
- Option `branches` (list of names): only runs on those branches page, so failing pull requests
  stay the developers' business. Without it every branch counts.

Signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` with the webhook secret.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.http import HttpRequest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import (
    InvalidPayload,
    done,
    get_path,
    links,
    mapping,
    require_object,
    text,
    timestamp,
)
from integrations.sources.registry import Provider

FAILED = {"failure", "timed_out", "startup_failure"}
DEPLOY_FAILED = {"failure", "error"}
KINDS = ("workflow_run", "check_run", "deployment_status")


def _branches(options: dict[str, Any]) -> set[str] | None:
    """The `branches` option as a set (a list or comma-separated text); None: every branch."""
    value = options.get("branches")
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return None
    names = {str(name).strip() for name in value if str(name).strip()}
    return names or None


def _outcome(conclusion: str, failed: set[str]) -> AlertAction | None:
    if conclusion in failed:
        return AlertAction.TRIGGER
    if conclusion == "success":
        return AlertAction.RESOLVE
    return None


def _event(
    action: AlertAction, key: str, summary: str, repo: str, **fields: Any
) -> NormalizedEvent:
    return NormalizedEvent(
        action=action,
        dedup_key=key,
        summary=summary,
        severity=Severity.CRITICAL if action == AlertAction.TRIGGER else Severity.INFO,
        source=repo,
        **fields,
    )


def _workflow_run(body: dict[str, Any], repo: str, errors: list[str]) -> list[NormalizedEvent]:
    run = mapping(body, "workflow_run", errors)
    name = text(body, "workflow_run.name", errors) or text(body, "workflow.name", errors)
    if not name and not errors:
        errors.append("'workflow_run.name' is missing.")
    status = text(body, "workflow_run.status", errors, required=True)
    conclusion = text(body, "workflow_run.conclusion", errors)
    branch = (
        text(body, "workflow_run.head_branch", errors)
        or text(body, "workflow_run.head_sha", errors)[:12]
    )
    fork = text(body, "workflow_run.head_repository.full_name", errors)
    if fork and fork != repo:
        # A pull request from a fork: its "main" is not this repository's main.
        branch = f"{fork.partition('/')[0]}:{branch}"
    title = text(body, "workflow_run.display_title", errors, limit=300)
    done(errors)
    action = _outcome(conclusion, FAILED) if status == "completed" else None
    if action is None:
        return []
    verb = "failed" if action == AlertAction.TRIGGER else "passed"
    state = "timed out" if conclusion == "timed_out" else verb
    return [
        _event(
            action,
            f"github-{repo}-{name}-{branch}",
            f"{repo}: workflow {name} {state} on {branch}",
            repo,
            description=title,
            details={
                "webhook": "workflow_run",
                "conclusion": conclusion,
                "branch": branch,
                **{
                    field: run.get(field)
                    for field in ("id", "run_number", "run_attempt", "event", "head_sha", "path")
                },
                "actor": get_path(run, "actor.login"),
            },
            links=links([("Workflow run", run.get("html_url"))]),
            occurred_at=timestamp(run.get("updated_at")),
        )
    ]


def _check_run(body: dict[str, Any], repo: str, errors: list[str]) -> list[NormalizedEvent]:
    check = mapping(body, "check_run", errors)
    name = text(body, "check_run.name", errors, required=True)
    status = text(body, "check_run.status", errors, required=True)
    conclusion = text(body, "check_run.conclusion", errors)
    branch = (
        text(body, "check_run.check_suite.head_branch", errors)
        or text(body, "check_run.head_sha", errors)[:12]
    )
    output = text(body, "check_run.output.title", errors, limit=500)
    done(errors)
    action = _outcome(conclusion, FAILED) if status == "completed" else None
    if action is None:
        return []
    verb = "failed" if action == AlertAction.TRIGGER else "passed"
    return [
        _event(
            action,
            f"github-{repo}-check-{name}-{branch}",
            f"{repo}: check {name} {verb} on {branch}",
            repo,
            description=output,
            details={
                "webhook": "check_run",
                "conclusion": conclusion,
                "branch": branch,
                "id": check.get("id"),
                "head_sha": check.get("head_sha"),
                "app": get_path(check, "app.name"),
            },
            links=links(
                [("Check run", check.get("html_url")), ("Details", check.get("details_url"))]
            ),
            occurred_at=timestamp(check.get("completed_at")),
        )
    ]


def _deployment(body: dict[str, Any], repo: str, errors: list[str]) -> list[NormalizedEvent]:
    status = mapping(body, "deployment_status", errors)
    state = text(body, "deployment_status.state", errors, required=True)
    environment = text(body, "deployment_status.environment", errors) or text(
        body, "deployment.environment", errors
    )
    if not environment and not errors:
        errors.append("'deployment_status.environment' is missing.")
    ref = text(body, "deployment.ref", errors)
    done(errors)
    action = _outcome(state, DEPLOY_FAILED)
    if action is None:
        return []
    verb = "failed" if action == AlertAction.TRIGGER else "succeeded"
    target = f" ({ref})" if ref else ""
    return [
        _event(
            action,
            f"github-{repo}-deployment-{environment}",
            f"{repo}: deployment to {environment} {verb}{target}",
            repo,
            description=text(body, "deployment_status.description", errors, limit=1000),
            details={
                "webhook": "deployment_status",
                "state": state,
                "environment": environment,
                "ref": ref,
                "sha": get_path(body, "deployment.sha"),
                "deployment_id": get_path(body, "deployment.id"),
            },
            links=links(
                [
                    ("Deployment log", status.get("log_url") or status.get("target_url")),
                    ("Environment", status.get("environment_url")),
                ]
            ),
            occurred_at=timestamp(status.get("created_at")),
        )
    ]


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    if "hook_id" in body and "zen" in body:
        return []  # ping: the webhook was just created
    kind = next((name for name in KINDS if name in body), None)
    repo = text(body, "repository.full_name", errors)
    if kind is None:
        if repo and isinstance(body.get("sender"), dict):
            return []  # another GitHub event (push, issues, …): nothing to page about
        raise InvalidPayload(errors or ["'workflow_run' is missing."])
    if not repo and not errors:
        errors.append("'repository.full_name' is missing.")
    handler = {"workflow_run": _workflow_run, "check_run": _check_run}.get(kind, _deployment)
    events = handler(body, repo, errors)
    wanted = _branches(options)
    if wanted is None or kind == "deployment_status":
        return events
    return [e for e in events if e.details["branch"] in wanted]


def verify(request: HttpRequest, secret: str) -> bool:
    """`X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 of the raw body with the secret."""
    supplied = request.headers.get("X-Hub-Signature-256", "").strip().lower()
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return bool(supplied) and hmac.compare_digest(supplied.encode(), expected.encode())


SAMPLE = {
    "action": "completed",
    "workflow_run": {
        "id": 30433642,
        "name": "Build",
        "head_branch": "main",
        "head_sha": "acb5820ced9479c074f688cc328bf03f341a511d",
        "path": ".github/workflows/build.yml",
        "display_title": "Update README.md",
        "run_number": 562,
        "run_attempt": 1,
        "event": "push",
        "status": "completed",
        "conclusion": "failure",
        "html_url": "https://github.com/octo-org/octo-repo/actions/runs/30433642",
        "updated_at": "2026-11-20T09:14:03Z",
        "actor": {"login": "octocat"},
    },
    "workflow": {"id": 159038, "name": "Build", "path": ".github/workflows/build.yml"},
    "repository": {"id": 1296269, "full_name": "octo-org/octo-repo"},
    "sender": {"login": "octocat"},
}

PROVIDER = Provider(kind="github", parse=parse, verify=verify, sample=SAMPLE)
