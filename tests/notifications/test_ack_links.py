"""One-click acknowledge links in page emails: the link in the email works once, for its
person and incident, within a day; GET changes nothing; tampering, expiry and reuse refuse."""

from __future__ import annotations

import re

import pytest
from django.core import signing
from django.test import Client

from incidents import services as lifecycle
from incidents.models import Status
from notifications.ack_links import MAX_AGE, SALT, ack_token, read_ack_token
from notifications.models import Notification
from opsknight.actors import Actor
from opsknight.models import Membership, Role
from tests.escalation.factories import policy, run_next_step, step
from tests.incidents.factories import make_service, trigger
from tests.notifications.conftest import deliver_all
from tests.oncall.factories import people

pytestmark = pytest.mark.django_db


@pytest.fixture
def emailed(inbox, org):
    person = people(org, 1)[0]
    service = make_service(org)
    policy(org, [step(person)], service=service)
    incident = trigger(service, summary="Checkout down")
    run_next_step()
    deliver_all()
    [message] = inbox.messages
    text = message.get_body(("plain",)).get_content()
    url = re.search(r"Acknowledge \(one click[^:]*\): (\S+)", text).group(1)
    assert url.startswith("https://oncall.example.com/notifications/ack/")
    html = message.get_body(("html",)).get_content()
    assert f'href="{url}"' in html
    return incident, person, url.removeprefix("https://oncall.example.com")


def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def post_with_csrf(path: str):
    client = csrf_client()
    page = client.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    return client.post(path, {"csrfmiddlewaretoken": token.group(1)})


def test_the_emailed_link_acknowledges_once_as_its_person(emailed):
    incident, person, path = emailed
    page = Client().get(path)
    assert page.status_code == 200
    assert f"Acknowledge incident #{incident.number}?" in page.content.decode()
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED  # opening the link changes nothing

    done = post_with_csrf(path)
    assert done.status_code == 200
    assert f"Acknowledged: #{incident.number}" in done.content.decode()
    incident.refresh_from_db()
    assert (incident.status, incident.acknowledged_by) == (Status.ACKNOWLEDGED, person)
    assert Notification.objects.get().ack_link_used_at is not None

    again = Client().get(path)
    assert again.status_code == 410
    assert "already used" in again.content.decode()


def test_a_service_worker_posts_the_link_without_a_form_and_is_answered_in_json(emailed):
    """A push notification's "Acknowledge" action: no CSRF token, no session; the signed
    single-use token is the credential."""
    incident, person, path = emailed
    done = csrf_client().post(path, HTTP_ACCEPT="application/json")
    assert done.status_code == 200
    assert done.json() == {
        "ok": True,
        "incident": incident.number,
        "result": "Acknowledged",
        "error": "",
    }
    incident.refresh_from_db()
    assert (incident.status, incident.acknowledged_by) == (Status.ACKNOWLEDGED, person)
    again = csrf_client().post(path, HTTP_ACCEPT="application/json")
    assert again.status_code == 410
    assert again.json()["ok"] is False
    assert "already used" in again.json()["error"]


def test_a_tampered_or_foreign_token_is_not_found(emailed):
    incident, _, path = emailed
    tampered = path.rstrip("/")[:-2] + "xx/"
    assert Client().get(tampered).status_code == 404
    other_salt = signing.TimestampSigner(salt="else").sign_object(
        {"n": Notification.objects.get().pk, "u": 1, "i": incident.pk}
    )
    assert Client().get(f"/notifications/ack/{other_salt}/").status_code == 404


def test_an_expired_link_is_gone(emailed, monkeypatch):
    _, _, path = emailed
    real = signing.TimestampSigner.unsign

    def later(self, value, max_age=None):
        # As if the link were opened a day and a minute after it was made.
        return real(self, value, max_age=max_age - MAX_AGE.total_seconds() - 60)

    monkeypatch.setattr(signing.TimestampSigner, "unsign", later)
    response = Client().get(path)
    assert response.status_code == 410
    assert "expired" in response.content.decode()


def test_a_person_no_longer_allowed_to_respond_cannot_use_it(emailed, org):
    incident, person, path = emailed
    Membership.objects.filter(user=person, organization=org).update(role=Role.VIEWER)
    response = post_with_csrf(path)
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    assert Notification.objects.get().ack_link_used_at is None  # rolled back with the refusal


def test_a_link_to_a_resolved_incident_says_so(emailed):
    incident, person, path = emailed
    lifecycle.resolve(incident_id=incident.pk, actor=Actor.for_user(person))
    response = post_with_csrf(path)
    assert response.status_code == 409
    assert "resolved" in response.content.decode()


def test_tokens_are_bound_to_their_delivery(emailed):
    _, _, path = emailed
    notification = Notification.objects.get()
    token = path.removeprefix("/notifications/ack/").rstrip("/")
    assert read_ack_token(token) == notification  # (a new token differs: it is timestamped)
    assert read_ack_token(ack_token(notification)) == notification
    forged = signing.TimestampSigner(salt=SALT).sign_object(
        {"n": notification.pk, "u": notification.user_id + 1000, "i": notification.incident_id}
    )
    assert Client().get(f"/notifications/ack/{forged}/").status_code == 404
