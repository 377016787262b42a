"""Core API: authentication, error shapes, and the tenant-isolation matrix."""

from __future__ import annotations

import pytest
from django.test import Client

from opsknight.models import APIKey, Role
from opsknight.permissions import Scope
from opsknight.services import api_key_create
from tests.opsknight.factories import UserFactory, issue_key, member

pytestmark = pytest.mark.django_db


def _bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_whoami_requires_authentication(api_client):
    response = api_client.get("/api/v1/whoami")
    assert response.status_code == 401
    assert response.json() == {
        "error": "not_authenticated",
        "message": "Authentication credentials were not provided.",
    }


def test_whoami_with_api_key(api_client, org):
    token = issue_key(org, "incidents:read")
    response = api_client.get("/api/v1/whoami", **_bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "api_key"
    assert body["scopes"] == ["incidents:read"]
    assert body["organization"] == {"id": org.pk, "slug": org.slug}


@pytest.mark.parametrize("header", ["Bearer", "Token", "Api-Key"])
def test_api_key_header_spellings(api_client, org, header):
    token = issue_key(org, "incidents:read")
    response = api_client.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"{header} {token}")
    assert response.status_code == 200
    assert api_client.get("/api/v1/whoami", HTTP_X_API_KEY=token).status_code == 200


def test_revoked_or_wrong_key_is_401_with_a_reason(api_client, org):
    issued = api_key_create(organization=org, name="x", scopes=["incidents:read"])
    issued.api_key.revoked_at = issued.api_key.created_at
    issued.api_key.save()
    for token in (issued.token, "ok_deadbeef_wrong"):
        response = api_client.get("/api/v1/whoami", **_bearer(token))
        assert response.status_code == 401
        assert response.json()["message"] == "Invalid, revoked or expired API key."


def test_whoami_with_session_lists_memberships(org):
    user = member(org, Role.MANAGER)
    client = Client()
    client.force_login(user)
    body = client.get("/api/v1/whoami").json()
    assert body["type"] == "user"
    assert body["organizations"] == [{"id": org.pk, "slug": org.slug, "role": "manager"}]


def test_admin_creates_a_key_and_sees_the_token_once(org, api_client):
    admin = member(org, Role.ADMIN)
    api_client.force_authenticate(admin)
    url = f"/api/v1/organizations/{org.slug}/api-keys"
    created = api_client.post(url, {"name": "grafana", "scopes": ["events:write"]}, format="json")
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("ok_")
    listed = api_client.get(url).json()
    assert [k["name"] for k in listed] == ["grafana"]
    assert "token" not in listed[0]
    assert token not in str(listed)
    assert APIKey.objects.get().created_by == admin


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        ('{"name": "x", "scopes": ["events:write"]', "application/json", 400, None),  # bad JSON
        ('{"name": "x", "scopes": "events:write"}', "application/json", 400, "scopes"),
        ('{"name": "x", "scopes": ["root"]}', "application/json", 400, "scopes"),
        ('{"name": "x", "scopes": []}', "application/json", 400, "scopes"),
        ('{"scopes": ["events:write"]}', "application/json", 400, "name"),
        (
            '{"name": "x", "scopes": ["events:write"], "admin": true}',
            "application/json",
            400,
            "admin",
        ),
        ('["not", "an", "object"]', "application/json", 400, "non_field_errors"),
        ("name=x", "application/x-www-form-urlencoded", 415, None),
    ],
)
def test_bad_key_requests_get_a_precise_4xx_and_write_nothing(
    org, api_client, body, content_type, status, field
):
    api_client.force_authenticate(member(org, Role.ADMIN))
    response = api_client.generic(
        "POST", f"/api/v1/organizations/{org.slug}/api-keys", body, content_type=content_type
    )
    assert response.status_code == status
    payload = response.json()
    assert set(payload) >= {"error", "message"}
    if field:
        assert field in payload["details"]
    assert not APIKey.objects.exists()


def test_oversize_body_is_rejected_without_a_500(org, api_client, settings):
    api_client.force_authenticate(member(org, Role.ADMIN))
    body = '{"name": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + '"}'
    response = api_client.generic(
        "POST",
        f"/api/v1/organizations/{org.slug}/api-keys",
        body,
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.json()["limit_bytes"] == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert not APIKey.objects.exists()


def test_a_key_of_another_organization_cannot_be_revoked_through_your_own(
    api_client, org, other_org
):
    api_client.force_authenticate(member(org, Role.OWNER))
    theirs = api_key_create(organization=other_org, name="theirs", scopes=["events:write"])
    response = api_client.delete(f"/api/v1/organizations/{org.slug}/api-keys/{theirs.api_key.pk}")
    assert response.status_code == 404
    theirs.api_key.refresh_from_db()
    assert theirs.api_key.revoked_at is None


def test_session_writes_need_a_csrf_token(org):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member(org, Role.ADMIN))
    response = client.post(
        f"/api/v1/organizations/{org.slug}/api-keys",
        '{"name": "x", "scopes": ["events:write"]}',
        content_type="application/json",
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]
    assert not APIKey.objects.exists()


# --- Tenant isolation matrix -----------------------------------------------------------------
# Each principal in org A tries list / create / revoke on org A and on org B.
# Expected status per (principal, target): "A" = own organization, "B" = the other one.
MATRIX = {
    "owner": {"A": (200, 201, 204), "B": (404, 404, 404)},
    "admin": {"A": (200, 201, 204), "B": (404, 404, 404)},
    "manager": {"A": (403, 403, 403), "B": (404, 404, 404)},
    "responder": {"A": (403, 403, 403), "B": (404, 404, 404)},
    "viewer": {"A": (403, 403, 403), "B": (404, 404, 404)},
    "key:all-scopes": {"A": (403, 403, 403), "B": (404, 404, 404)},
    "anonymous": {"A": (401, 401, 401), "B": (401, 401, 401)},
    "superuser": {"A": (200, 201, 204), "B": (200, 201, 204)},
}


@pytest.mark.parametrize("principal", list(MATRIX))
@pytest.mark.parametrize("target", ["A", "B"])
def test_tenant_isolation_matrix(api_client, org, other_org, principal, target):
    orgs = {"A": org, "B": other_org}
    victims = {
        name: api_key_create(organization=o, name="victim", scopes=["events:write"]).api_key
        for name, o in orgs.items()
    }
    if principal == "key:all-scopes":
        api_client.credentials(HTTP_AUTHORIZATION="Bearer " + issue_key(org, *Scope))
    elif principal == "superuser":
        api_client.force_authenticate(UserFactory(is_superuser=True, is_staff=True))
    elif principal != "anonymous":
        api_client.force_authenticate(member(org, Role(principal)))

    target_org, victim = orgs[target], victims[target]
    base = f"/api/v1/organizations/{target_org.slug}/api-keys"
    got = (
        api_client.get(base).status_code,
        api_client.post(
            base, {"name": "new", "scopes": ["events:write"]}, format="json"
        ).status_code,
        api_client.delete(f"{base}/{victim.pk}").status_code,
    )
    assert got == MATRIX[principal][target]
    victim.refresh_from_db()
    assert (victim.revoked_at is not None) is (got[2] == 204)
    created = APIKey.objects.filter(organization=target_org, name="new").exists()
    assert created is (got[1] == 201)
