"""Bitbucket Cloud webhooks: build statuses (commit statuses) that fail and recover.

Reads the payloads of Bitbucket Cloud "Event payloads → Repository events": Build status
created and Build status updated (`X-Event-Key: repo:commit_status_created|updated`), a
`repository` and a `commit_status` {name, description, state, key, url, refname, commit}.
Bitbucket Pipelines and any CI tool posting build statuses (Jenkins, Bamboo, …) send these.
Bodies without `commit_status` (a push, a pull request) are accepted without events.

- State `FAILED` triggers (error), `SUCCESSFUL` resolves; `INPROGRESS` and `STOPPED` (someone
  stopped the build: nothing learned about the code) change nothing. The OpsKnight seed
  triggered on everything but success, so each started build opened an incident.
- One incident per build and branch: `bitbucket-<workspace/repo>-<status key>-<refname>`. The
  key names the build (Bitbucket documents it as "unique to the vendor", e.g. `BB-DEPLOY`), so
  the next green build of that key on that branch resolves the red one. Tools that send no
  `refname` get `bitbucket-<workspace/repo>-<status key>`.
- Option `branches` (list of names): only statuses on those branches page.

Signature: with a secret on the webhook Bitbucket Cloud sends `X-Hub-Signature: sha256=<hex>`,
the HMAC-SHA256 of the body keyed with the secret.
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

STATES = {"FAILED": AlertAction.TRIGGER, "SUCCESSFUL": AlertAction.RESOLVE}
KNOWN = {"FAILED", "SUCCESSFUL", "INPROGRESS", "STOPPED"}


def _branches(options: dict[str, Any]) -> set[str] | None:
    value = options.get("branches")
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return None
    return {str(name).strip() for name in value if str(name).strip()} or None


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    body = require_object(body)
    errors: list[str] = []
    status = mapping(body, "commit_status", errors)
    done(errors)
    if not status:
        if isinstance(body.get("repository"), dict) and isinstance(body.get("actor"), dict):
            return []  # another repository event: nothing to page about
        raise InvalidPayload(["'commit_status' is missing."])
    repo = text(body, "repository.full_name", errors, required=True)
    state = text(body, "commit_status.state", errors, required=True).upper()
    if state and state not in KNOWN:
        errors.append("'commit_status.state' must be SUCCESSFUL, FAILED, INPROGRESS or STOPPED.")
    key = text(body, "commit_status.key", errors, required=True)
    name = text(body, "commit_status.name", errors, limit=300) or key
    ref = text(body, "commit_status.refname", errors)
    sha = text(body, "commit_status.commit.hash", errors)
    description = text(body, "commit_status.description", errors, limit=2000)
    done(errors)
    action = STATES.get(state)
    wanted = _branches(options)
    if action is None or (wanted is not None and ref not in wanted):
        return []
    verb = "failed" if action == AlertAction.TRIGGER else "passed"
    where = f" on {ref}" if ref else (f" at {sha[:12]}" if sha else "")
    if ref and name.endswith(f" {ref}"):
        where = ""  # Pipelines names its statuses "Pipeline #412 for main"
    return [
        NormalizedEvent(
            action=action,
            dedup_key=f"bitbucket-{repo}-{key}-{ref}" if ref else f"bitbucket-{repo}-{key}",
            summary=f"{repo}: {name} {verb}{where}",
            severity=Severity.ERROR if action == AlertAction.TRIGGER else Severity.INFO,
            source=repo,
            description=description,
            details={
                "state": state,
                "key": key,
                "name": name,
                "refname": ref,
                "commit": sha,
                "actor": get_path(body, "actor.display_name"),
            },
            links=links(
                [
                    ("Build", status.get("url")),
                    ("Repository", get_path(body, "repository.links.html.href")),
                ]
            ),
            occurred_at=timestamp(status.get("updated_on")),
        )
    ]


def verify(request: HttpRequest, secret: str) -> bool:
    """`X-Hub-Signature: sha256=<hex>`: HMAC-SHA256 of the raw body, keyed by the secret."""
    supplied = request.headers.get("X-Hub-Signature", "").strip().lower()
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return bool(supplied) and hmac.compare_digest(supplied.encode(), expected.encode())


SAMPLE = {
    "actor": {"display_name": "Emma Lindqvist", "type": "user", "nickname": "emma"},
    "repository": {
        "type": "repository",
        "full_name": "acme/checkout",
        "name": "checkout",
        "links": {"html": {"href": "https://bitbucket.org/acme/checkout"}},
    },
    "commit_status": {
        "type": "build",
        "key": "BB-PIPELINE-DEFAULT",
        "name": "Pipeline #412 for main",
        "description": "Tests failed in step 'Test'",
        "state": "FAILED",
        "refname": "main",
        "url": "https://bitbucket.org/acme/checkout/addon/pipelines/home#!/results/412",
        "commit": {"type": "commit", "hash": "9fec847784abb10b2fa567ee63b85bd238955d0e"},
        "created_on": "2026-11-20T09:08:14.112233+00:00",
        "updated_on": "2026-11-20T09:14:03.547563+00:00",
    },
}

PROVIDER = Provider(kind="bitbucket", parse=parse, verify=verify, sample=SAMPLE)
