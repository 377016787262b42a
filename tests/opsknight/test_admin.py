from __future__ import annotations

import pytest
from django.test import Client

from opsknight.models import APIKey, AuditEvent, Membership, Role
from opsknight.services import api_key_authenticate
from tests.opsknight.factories import UserFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_api_key_secret_is_shown_once_on_creation(operator_client, org):
    response = operator_client.post(
        "/admin/opsknight/apikey/add/",
        {"organization": org.pk, "name": "alertmanager", "scopes": ["events:write"]},
        follow=True,
    )
    assert response.status_code == 200
    key = APIKey.objects.get()
    notice = next(str(m) for m in response.context["messages"] if "will not be shown" in str(m))
    token = notice.rsplit(" ", 1)[-1]
    assert token.startswith(key.prefix)
    assert api_key_authenticate(token) == key
    change_page = operator_client.get(f"/admin/opsknight/apikey/{key.pk}/change/")
    assert change_page.status_code == 200
    assert token not in change_page.content.decode()
    assert key.secret_hash not in change_page.content.decode()


def test_revoke_action_revokes_and_audits(operator_client, org):
    operator_client.post(
        "/admin/opsknight/apikey/add/",
        {"organization": org.pk, "name": "ci", "scopes": ["incidents:read"]},
    )
    key = APIKey.objects.get()
    operator_client.post(
        "/admin/opsknight/apikey/",
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert AuditEvent.objects.filter(action="apikey.revoked", target_id=str(key.pk)).exists()


def test_admin_refuses_to_remove_or_demote_the_last_owner(operator_client, org):
    owner = member(org, Role.OWNER)
    membership = Membership.objects.get(user=owner)
    url = f"/admin/opsknight/membership/{membership.pk}"
    assert operator_client.post(f"{url}/delete/", {"post": "yes"}).status_code == 403
    response = operator_client.post(f"{url}/change/", {"role": "admin"})
    assert response.status_code == 200  # the form again, with the error
    assert "at least one owner" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.OWNER
    # With a second owner both become possible.
    member(org, Role.OWNER)
    assert operator_client.post(f"{url}/change/", {"role": "admin"}).status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    assert AuditEvent.objects.filter(action="member.role_changed").count() == 1


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/opsknight/organization/",
        "/admin/opsknight/user/",
        "/admin/opsknight/membership/",
        "/admin/opsknight/apikey/",
        "/admin/opsknight/auditevent/",
        "/admin/oncall/team/",
        "/admin/incidents/service/",
        "/admin/opsknight/apikey/add/",
        "/admin/opsknight/user/add/",
    ],
)
def test_admin_pages_render(operator_client, org, path):
    assert operator_client.get(path).status_code == 200


def test_audit_log_is_read_only_in_the_admin(operator_client):
    assert operator_client.get("/admin/opsknight/auditevent/add/").status_code == 403
