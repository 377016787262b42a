"""Vercel: each recorded webhook gives exactly these events; a failed then good deploy by HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.services import integration_create
from integrations.sources.common import InvalidPayload
from integrations.sources.vercel import parse
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import hmac_hex, post

pytestmark = pytest.mark.django_db

PROJECT = "prj_Qm4yX1n8Bv7Kc2Hd9Lr5Tf3W"
SECRET = "vercel-webhook-secret-5e1d9c3b"


def _links(inspect_id: str, url: str) -> list[dict[str, str]]:
    return [
        {"href": f"https://vercel.com/acme/storefront/{inspect_id}", "text": "Inspect deployment"},
        {"href": "https://vercel.com/acme/storefront", "text": "Project"},
        {"href": f"https://{url}", "text": "Deployment URL"},
    ]


def _details(kind, target, deployment_id, branch, commit):
    return {
        "type": kind,
        "target": target,
        "deployment_id": deployment_id,
        "project_id": PROJECT,
        "branch": branch,
        "commit": commit,
        "team_id": "team_a1b2c3d4e5f6g7h8i9j0k1l2",
        "region": "iad1",
    }


def test_a_failed_production_deployment_triggers_critical_once_per_project():
    (event,) = parse(load("vercel", "deployment_error_production"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=f"vercel-{PROJECT}-production",
        summary="storefront: production deployment failed",
        severity=Severity.CRITICAL,
        source="storefront",
        description="Bump next to 15.1",
        details=_details(
            "deployment.error",
            "production",
            "dpl_6sZfZ1Hk2a4bK9Qp3xGmN7wR",
            "main",
            "5a7c1e9b3d2f4a6c8e0b1d3f5a7c9e1b3d5f7a9c",
        ),
        links=_links("6sZfZ1Hk2a4bK9Qp3xGmN7wR", "storefront-9fk2m1x7q-acme.vercel.app"),
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, 512000, tzinfo=UTC),
    )


def test_the_next_good_production_deployment_resolves_it():
    (event,) = parse(load("vercel", "deployment_succeeded_production"), {})
    assert event == NormalizedEvent(
        action=AlertAction.RESOLVE,
        dedup_key=f"vercel-{PROJECT}-production",
        summary="storefront: production deployment succeeded",
        severity=Severity.INFO,
        source="storefront",
        description="Pin image loader version",
        details=_details(
            "deployment.succeeded",
            "production",
            "dpl_Bv7Kc2Hd9Lr5Tf3WQm4yX1n8",
            "main",
            "8c0e2a4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c",
        ),
        links=_links("Bv7Kc2Hd9Lr5Tf3WQm4yX1n8", "storefront-k2d8c0p4z-acme.vercel.app"),
        occurred_at=datetime(2026, 11, 20, 9, 36, 52, 918000, tzinfo=UTC),
    )


def test_a_failed_preview_is_a_warning_keyed_by_its_branch():
    (event,) = parse(load("vercel", "deployment_error_preview"), {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=f"vercel-{PROJECT}-preview-checkout-redesign",
        summary="storefront: preview deployment (checkout-redesign) failed",
        severity=Severity.WARNING,
        source="storefront",
        description="WIP: new checkout layout",
        details=_details(
            "deployment.error",
            "preview",
            "dpl_Tf3WQm4yX1n8Bv7Kc2Hd9Lr5",
            "checkout-redesign",
            "0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d",
        ),
        links=_links(
            "Tf3WQm4yX1n8Bv7Kc2Hd9Lr5", "storefront-git-checkout-redesign-acme.vercel.app"
        ),
        occurred_at=datetime(2026, 11, 20, 8, 26, 41, 4000, tzinfo=UTC),
    )


def test_the_branch_s_next_good_preview_resolves_it():
    body = load("vercel", "deployment_error_preview") | {"type": "deployment.succeeded"}
    (event,) = parse(body, {})
    assert (event.action, event.dedup_key) == (
        AlertAction.RESOLVE,
        f"vercel-{PROJECT}-preview-checkout-redesign",
    )


def test_a_deployment_without_git_metadata_keys_on_its_own_id():
    body = load("vercel", "deployment_error_preview")
    body["payload"]["deployment"]["meta"] = {}
    body["payload"]["target"] = "staging"
    (event,) = parse(body, {})
    assert event.dedup_key == f"vercel-{PROJECT}-dpl_Tf3WQm4yX1n8Bv7Kc2Hd9Lr5"
    assert event.summary == "storefront: staging deployment failed"


def test_the_older_ready_event_resolves_too():
    body = load("vercel", "deployment_succeeded_production") | {"type": "deployment.ready"}
    assert parse(body, {})[0].action == AlertAction.RESOLVE


def test_a_created_deployment_changes_nothing():
    assert parse(load("vercel", "deployment_created"), {}) == []


@pytest.mark.parametrize("kind", ["deployment.canceled", "deployment.promoted", "domain.created"])
def test_other_event_types_change_nothing(kind):
    body = load("vercel", "deployment_created") | {"type": kind}
    assert parse(body, {}) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"payload": {}}, "'type' is missing."),
        ({"type": "deployment.error"}, "'payload' is missing."),
        ({"type": "deployment.error", "payload": []}, "'payload' must be an object."),
        (
            {"type": "deployment.error", "payload": {"project": {"id": "prj_1"}}},
            "'payload.deployment.id' is missing.",
        ),
        (
            {"type": "deployment.error", "payload": {"deployment": {"id": "dpl_1"}}},
            "'payload.project.id' is missing.",
        ),
        (
            {
                "type": "deployment.error",
                "payload": {"deployment": {"id": "dpl_1", "name": "x", "meta": "main"}},
            },
            "'payload.deployment.meta' must be an object.",
        ),
    ],
)
def test_payloads_that_are_not_vercel_are_refused_by_field(body, error):
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert error in refused.value.errors


def _signed(name: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(load("vercel", name)).encode()
    return raw, {"x-vercel-signature": hmac_hex(SECRET, raw, "sha1")}


def test_a_failed_then_good_production_deployment_through_http(client, service):
    vercel = integration_create(
        service=service, kind="vercel", name="Vercel", signing_secret=SECRET
    )
    raw, headers = _signed("deployment_error_production")
    failed = post(client, "vercel", vercel.key, None, raw=raw, headers=headers)
    assert failed.status_code == 202, failed.content
    assert failed.json()["results"] == [
        {"dedup_key": f"vercel-{PROJECT}-production", "outcome": "triggered"}
    ]
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == (
        "storefront: production deployment failed",
        Severity.CRITICAL,
    )
    raw, headers = _signed("deployment_succeeded_production")
    good = post(client, "vercel", vercel.key, None, raw=raw, headers=headers)
    assert good.json()["results"][0]["outcome"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


@pytest.mark.parametrize(
    "signature",
    ["0" * 40, "", "sha256-instead-of-sha1"],
    ids=["bad", "missing", "wrong-digest"],
)
def test_a_bad_or_missing_signature_is_a_401_and_writes_nothing(client, service, signature):
    vercel = integration_create(
        service=service, kind="vercel", name="Vercel", signing_secret=SECRET
    )
    raw = json.dumps(load("vercel", "deployment_error_production")).encode()
    if signature == "sha256-instead-of-sha1":
        signature = hmac_hex(SECRET, raw)
    headers = {"x-vercel-signature": signature} if signature else {}
    before = written()
    response = post(client, "vercel", vercel.key, None, raw=raw, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert written() == before
