"""Vercel webhooks: failed deployments, resolved by the next successful one.

Reads the payloads of vercel.com/docs "Webhooks API Reference": `{id, type, createdAt, region,
payload: {team, user, deployment: {id, name, url, meta}, links: {deployment, project}, target,
project: {id}, plan, regions}}` for `deployment.error`, `deployment.succeeded` (and the older
`deployment.ready`), `deployment.canceled` and `deployment.created`. Other event types (domains,
projects, integration configuration, …) are accepted without events.

- `deployment.error` triggers: critical for a production deployment, warning for any other
  target (previews page nobody at night). `deployment.succeeded`/`ready` resolves.
- `deployment.created`, `canceled` and `promoted` change nothing. (The OpsKnight seed
  acknowledged created and canceled deployments; but Vercel deploys every push by itself, and an
  acknowledgement would stop escalation of a broken production deploy as soon as anyone pushed.)
- Keys: production is one incident per project, `vercel-<project id>-production`, so the next
  good production deployment resolves it. Other targets key on the git branch the deployment
  was built from, `vercel-<project id>-<target>-<branch>`, so a branch's next good preview
  resolves its failed one; a deployment without git metadata keys on its own id,
  `vercel-<project id>-<deployment id>` (as the seed did for every non-production deployment,
  which left failed previews open for ever).

Signature: `x-vercel-signature`, the hex HMAC-SHA1 of the body keyed with the webhook's secret
(the integration's client secret for integration webhooks).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.http import HttpRequest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import (
    done,
    get_path,
    links,
    mapping,
    require_object,
    text,
    timestamp,
)
from integrations.sources.registry import Provider

TYPES = {
    "deployment.error": AlertAction.TRIGGER,
    "deployment-error": AlertAction.TRIGGER,  # the legacy webhook names
    "deployment.succeeded": AlertAction.RESOLVE,
    "deployment.ready": AlertAction.RESOLVE,
    "deployment-ready": AlertAction.RESOLVE,
}
BRANCH_META = ("githubCommitRef", "gitlabCommitRef", "bitbucketCommitRef", "branch")
MESSAGE_META = ("githubCommitMessage", "gitlabCommitMessage", "bitbucketCommitMessage")


def _first(meta: dict[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        value = meta.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    kind = text(body, "type", errors, required=True)
    payload = mapping(body, "payload", errors, required=True)
    done(errors)
    action = TYPES.get(kind)
    if action is None:
        return []  # created, canceled, promoted, domain.*, project.*: nothing to page about
    deployment_id = text(body, "payload.deployment.id", errors, required=True)
    name = text(body, "payload.deployment.name", errors, limit=200)
    project = text(body, "payload.project.id", errors) or name
    if not project and not errors:
        errors.append("'payload.project.id' is missing.")
    target = text(body, "payload.target", errors) or "preview"
    url = text(body, "payload.deployment.url", errors)
    meta = mapping(body, "payload.deployment.meta", errors)
    done(errors)
    branch = _first(meta, BRANCH_META)
    if target == "production":
        key = f"vercel-{project}-production"
    elif branch:
        key = f"vercel-{project}-{target}-{branch}"
    else:
        key = f"vercel-{project}-{deployment_id}"
    failed = action == AlertAction.TRIGGER
    on_branch = f" ({branch})" if branch and target != "production" else ""
    verb = "failed" if failed else "succeeded"
    message = _first(meta, MESSAGE_META).strip().partition("\n")[0]
    return [
        NormalizedEvent(
            action=action,
            dedup_key=key,
            summary=f"{name or project}: {target} deployment{on_branch} {verb}",
            severity=(Severity.CRITICAL if target == "production" else Severity.WARNING)
            if failed
            else Severity.INFO,
            source=name or project,
            description=message[:1000],
            details={
                "type": kind,
                "target": target,
                "deployment_id": deployment_id,
                "project_id": get_path(payload, "project.id"),
                "branch": branch,
                "commit": _first(
                    meta, ("githubCommitSha", "gitlabCommitSha", "bitbucketCommitSha")
                ),
                "team_id": get_path(payload, "team.id"),
                "region": body.get("region"),
            },
            links=links(
                [
                    ("Inspect deployment", get_path(payload, "links.deployment")),
                    ("Project", get_path(payload, "links.project")),
                    ("Deployment URL", f"https://{url}" if url else None),
                ]
            ),
            occurred_at=timestamp(body.get("createdAt")),
        )
    ]


def verify(request: HttpRequest, secret: str) -> bool:
    """`x-vercel-signature`: hex HMAC-SHA1 of the raw body, keyed by the webhook secret."""
    supplied = request.headers.get("x-vercel-signature", "").strip().lower()
    expected = hmac.new(secret.encode(), request.body, hashlib.sha1).hexdigest()
    return bool(supplied) and hmac.compare_digest(supplied.encode(), expected.encode())


SAMPLE = {
    "id": "uEKkmpR3vFBhGzWKcQfkk8ns",
    "type": "deployment.error",
    "createdAt": 1795166043512,
    "region": "iad1",
    "payload": {
        "team": {"id": "team_a1b2c3d4e5f6g7h8i9j0k1l2"},
        "user": {"id": "usr_9z8y7x6w5v4u3t2s1r0q"},
        "deployment": {
            "id": "dpl_6sZfZ1Hk2a4bK9Qp3xGmN7wR",
            "name": "storefront",
            "url": "storefront-9fk2m1x7q-acme.vercel.app",
            "meta": {"githubCommitRef": "main", "githubCommitMessage": "Bump next to 15.1"},
        },
        "links": {
            "deployment": "https://vercel.com/acme/storefront/6sZfZ1Hk2a4bK9Qp3xGmN7wR",
            "project": "https://vercel.com/acme/storefront",
        },
        "target": "production",
        "project": {"id": "prj_Qm4yX1n8Bv7Kc2Hd9Lr5Tf3W"},
        "plan": "pro",
        "regions": ["iad1"],
    },
}

PROVIDER = Provider(kind="vercel", parse=parse, verify=verify, sample=SAMPLE)
