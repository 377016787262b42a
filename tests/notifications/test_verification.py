"""Proving a contact method: codes by SMS (and voice, WhatsApp, Slack), links by email.

The code is not stored: it is derived from the method's nonce (notifications/verification.py),
so a test reads it with `verification_code(method)` exactly as the renderer does.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from notifications import contacts
from notifications.models import Channel, ContactMethod, Notification, Reason
from notifications.verification import CODE_TTL, MAX_FAILURES, RESEND_AFTER, verification_code
from opsknight.models import Organization, User
from tests.escalation.factories import queued
from tests.notifications.conftest import deliver_all
from tests.opsknight.factories import member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _providers(settings):
    """SMS, voice and Slack configured (nothing is sent: the jobs are only queued here)."""
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "1" * 32, "token"
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.SLACK_BOT_TOKEN = "xoxb-test"


@pytest.fixture
def person(org: Organization) -> User:
    return member(org)


@pytest.fixture
def client(person: User) -> Client:
    client = Client()
    client.force_login(person)
    return client


@pytest.fixture
def phone(person: User) -> ContactMethod:
    return contacts.contact_method_add(user=person, channel=Channel.SMS, address="+14155550123")


def send_code(client: Client, method: ContactMethod) -> str:
    """Ask for a code through the page; the code that went out."""
    response = client.post(f"/notifications/profile/methods/{method.pk}/send-code/")
    assert response.status_code == 302
    method.refresh_from_db()
    return verification_code(method)


def enter(client: Client, method: ContactMethod, code: str) -> list[str]:
    """Type a code into the page; the messages it answers with."""
    response = client.post(
        f"/notifications/profile/methods/{method.pk}/verify/", {"code": code}, follow=True
    )
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_code_is_sent_as_a_verification_delivery_and_queued(client, person, phone):
    code = send_code(client, phone)

    assert len(code) == 6
    assert code.isdigit()
    delivery = Notification.objects.get()
    assert (delivery.reason, delivery.request, delivery.incident) == (
        Reason.VERIFICATION,
        None,
        None,
    )
    assert (delivery.user, delivery.channel, delivery.address) == (person, "sms", "+14155550123")
    assert delivery.contact_method == phone
    assert delivery.status == "pending"
    [job] = queued("notifications.deliver")
    assert job.args == {"notification_id": delivery.pk}
    assert job.scheduled_at == delivery.due_at


def test_the_right_code_verifies_the_method(client, phone):
    code = send_code(client, phone)

    said = enter(client, phone, f" {code[:3]} {code[3:]} ")

    assert said == [
        "A code is on its way to +14155550123; it expires in 15 minutes.",
        "SMS +14155550123 is verified.",
    ]
    phone.refresh_from_db()
    assert phone.verified_at is not None
    assert (phone.verification_nonce, phone.verification_failures) == ("", 0)


def test_wrong_codes_are_counted_and_the_fifth_voids_the_code(client, phone):
    code = send_code(client, phone)

    assert enter(client, phone, wrong(code))[-1] == "That code is not right; 4 tries left."
    phone.refresh_from_db()
    assert phone.verification_failures == 1
    for _ in range(MAX_FAILURES - 2):
        enter(client, phone, wrong(code))
    last = enter(client, phone, wrong(code))[-1]
    assert last == "That code is not right, and that was the last try: send a new code."

    assert enter(client, phone, code)[-1] == "Too many wrong codes: send a new code."
    phone.refresh_from_db()
    assert (phone.verified_at, phone.verification_failures) == (None, MAX_FAILURES)


def test_an_expired_code_is_refused_and_not_counted(client, phone):
    code = send_code(client, phone)
    ContactMethod.objects.filter(pk=phone.pk).update(
        verification_sent_at=timezone.now() - CODE_TTL - timedelta(seconds=1)
    )

    assert enter(client, phone, code)[-1] == "This code has expired: send a new code."
    phone.refresh_from_db()
    assert (phone.verified_at, phone.verification_failures) == (None, 0)


def test_a_code_before_any_was_sent_is_refused(client, phone):
    assert enter(client, phone, "123456")[-1] == "No code was sent yet: send a code first."


def test_resending_waits_then_replaces_the_code(client, phone):
    first = send_code(client, phone)
    with pytest.raises(ValidationError, match=r"A code was just sent; try again in \d+ s\."):
        contacts.verification_send(method=phone)
    assert Notification.objects.count() == 1

    ContactMethod.objects.filter(pk=phone.pk).update(
        verification_sent_at=timezone.now() - RESEND_AFTER - timedelta(seconds=1),
        verification_failures=2,
    )
    second = send_code(client, phone)

    assert Notification.objects.filter(reason=Reason.VERIFICATION).count() == 2
    assert len(queued("notifications.deliver")) == 2
    assert phone.verification_failures == 0
    if second != first:  # one chance in a million that two nonces give the same code
        assert enter(client, phone, first)[-1] == "That code is not right; 4 tries left."
    assert enter(client, phone, second)[-1] == "SMS +14155550123 is verified."


def test_a_verified_method_sends_no_code(phone):
    ContactMethod.objects.filter(pk=phone.pk).update(verified_at=timezone.now())
    phone.refresh_from_db()

    with pytest.raises(ValidationError, match="already verified"):
        contacts.verification_send(method=phone)
    assert not Notification.objects.exists()


def test_a_number_that_texted_stop_gets_no_code(phone):
    ContactMethod.objects.filter(pk=phone.pk).update(opted_out_at=timezone.now())
    phone.refresh_from_db()

    with pytest.raises(ValidationError, match="texted STOP"):
        contacts.verification_send(method=phone)
    assert not Notification.objects.exists()


def test_no_code_is_sent_on_a_channel_without_a_provider(client, settings, phone):
    settings.TWILIO_ACCOUNT_SID = ""

    response = client.post(f"/notifications/profile/methods/{phone.pk}/send-code/", follow=True)

    assert [str(m) for m in response.context["messages"]] == [
        "Cannot send: no SMS provider is configured here; ask an administrator."
    ]
    phone.refresh_from_db()
    assert (phone.verification_nonce, phone.verification_sent_at) == ("", None)
    assert not Notification.objects.exists()
    assert queued("notifications.deliver") == []


def test_slack_and_voice_are_verified_by_code_too(client, person):
    for channel, address in ((Channel.SLACK, "u012abcdef"), (Channel.VOICE, "+442079460958")):
        method = contacts.contact_method_add(user=person, channel=channel, address=address)
        code = send_code(client, method)
        assert enter(client, method, code)[-1] == f"{method} is verified."
    methods = ContactMethod.objects.order_by("id")
    assert [(m.address, m.verified_at is not None) for m in methods] == [
        ("U012ABCDEF", True),
        ("+442079460958", True),
    ]


# --- Email: a link, not a code --------------------------------------------------------


@pytest.fixture
def mailbox(person: User) -> ContactMethod:
    return contacts.contact_method_add(
        user=person, channel=Channel.EMAIL, address="Pager@Example.COM", label="pager"
    )


def link_path(method: ContactMethod) -> str:
    method.refresh_from_db()
    url = contacts.email_verification_url(method)
    token = contacts.email_verification_token(method)
    assert url == f"{settings.BASE_URL}/notifications/verify-email/{token}/"
    return url.removeprefix(settings.BASE_URL)


def test_email_verification_end_to_end(inbox, client, person, mailbox):
    assert mailbox.address == "Pager@example.com"
    response = client.post(f"/notifications/profile/methods/{mailbox.pk}/send-code/", follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        "A verification link is on its way to Pager@example.com."
    ]

    assert deliver_all() == 1
    [message] = inbox.messages
    assert message["To"] == "Pager@example.com"
    assert message["Subject"] == "[OpsKnight] Confirm your email address"
    delivery = Notification.objects.get()
    assert (delivery.reason, delivery.status, delivery.attempts) == ("verification", "sent", 1)
    text = message.get_body(("plain",)).get_content()
    [url] = re.findall(r"https://\S+/notifications/verify-email/\S+/", text)
    assert "Pager@example.com" in text
    assert "expires in 24 hours" in text
    assert f'<a href="{url}"' in message.get_body(("html",)).get_content()
    assert not re.search(r"\b\d{6}\b", text)  # no code: email is verified by the link

    # Anyone holding the link may open it, signed in or not; opening it verifies nothing.
    path = link_path(mailbox)
    assert url == settings.BASE_URL + path
    page = Client().get(path)
    assert page.status_code == 200
    assert b"Verify Pager@example.com?" in page.content
    assert person.email.encode() in page.content
    mailbox.refresh_from_db()
    assert mailbox.verified_at is None

    done = Client().post(path)
    assert done.status_code == 200
    assert b"<h1>Verified</h1>" in done.content
    mailbox.refresh_from_db()
    assert mailbox.verified_at is not None

    again = Client().get(path)
    assert b"Already verified" in again.content


def test_a_link_replaced_by_a_newer_one_is_refused(person, mailbox):
    contacts.verification_send(method=mailbox)
    old = link_path(mailbox)
    ContactMethod.objects.filter(pk=mailbox.pk).update(
        verification_sent_at=timezone.now() - RESEND_AFTER - timedelta(seconds=1)
    )
    contacts.verification_send(method=mailbox)

    response = Client().post(old)

    assert response.status_code == 410
    assert b"A newer link was sent to this address: use that one." in response.content
    mailbox.refresh_from_db()
    assert mailbox.verified_at is None
    assert Client().post(link_path(mailbox)).status_code == 200


def test_an_expired_link_is_refused(monkeypatch, mailbox):
    contacts.verification_send(method=mailbox)
    mailbox.refresh_from_db()
    day_ago = int(time.time()) - 24 * 3600 - 60
    with monkeypatch.context() as patch:
        patch.setattr(
            signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(day_ago)
        )
        token = contacts.email_verification_token(mailbox)

    response = Client().post(f"/notifications/verify-email/{token}/")

    assert response.status_code == 410
    assert b"This link has expired" in response.content
    mailbox.refresh_from_db()
    assert mailbox.verified_at is None


def test_a_tampered_or_foreign_link_is_refused(person, mailbox):
    contacts.verification_send(method=mailbox)
    path = link_path(mailbox)

    assert b"This link is not valid." in Client().post(path[:-3] + "xx/").content
    mailbox.delete()
    response = Client().post(path)
    assert response.status_code == 410
    assert b"the address was removed or changed" in response.content


def test_email_is_not_verified_by_code(client, mailbox):
    contacts.verification_send(method=mailbox)
    mailbox.refresh_from_db()

    said = enter(client, mailbox, verification_code(mailbox))

    assert said[-1] == "Email addresses are verified with the link we email; open it."
    mailbox.refresh_from_db()
    assert mailbox.verified_at is None


def test_the_verification_link_page_needs_csrf(mailbox):
    contacts.verification_send(method=mailbox)
    path = link_path(mailbox)

    assert Client(enforce_csrf_checks=True).post(path).status_code == 403
    mailbox.refresh_from_db()
    assert mailbox.verified_at is None
