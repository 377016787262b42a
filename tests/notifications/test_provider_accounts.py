"""Organizations' own provider accounts: pages of an organization with its own Twilio
account or Slack workspace go through it, others through the deployment's settings; Twilio's
callbacks are checked with the token of the account that sent them; secrets are write-only
in the admin and encrypted at rest."""

from __future__ import annotations

import base64

import pytest
from django.db import connection
from django.utils import timezone
from twilio.request_validator import RequestValidator

from incidents.models import Status
from notifications.delivery import delivery_run
from notifications.models import (
    Channel,
    ContactMethod,
    Notification,
    NotificationRule,
    ProviderAccount,
    ProviderKind,
    Reason,
)
from notifications.services import defer_delivery
from opsknight.crypto import encrypted_fields
from tests.escalation.factories import policy, queued, run_next_step, step, take
from tests.incidents.factories import make_service, trigger
from tests.notifications.test_slack_delivery import slack  # noqa: F401 (fixture)
from tests.notifications.test_sms_delivery import FROM, SID, TOKEN, twilio  # noqa: F401
from tests.oncall.factories import people
from tests.opsknight.factories import UserFactory

pytestmark = pytest.mark.django_db

OWN_SID, OWN_TOKEN, OWN_FROM = "AC" + "2" * 32, "own-auth-token", "+15005550009"
PHONE = "+14155550100"


def own_twilio(org) -> ProviderAccount:
    account = ProviderAccount(
        organization=org, kind=ProviderKind.TWILIO, account_id=OWN_SID, sender=OWN_FROM
    )
    account.set_secret(OWN_TOKEN)
    account.save()
    return account


def page_by(org, channel: str, address: str) -> Notification:
    person = people(org, 1)[0]
    method = ContactMethod.objects.create(
        user=person, channel=channel, address=address, verified_at=timezone.now()
    )
    NotificationRule.objects.create(user=person, urgency="high", contact_method=method)
    service = make_service(org)
    policy(org, [step(person)], service=service)
    trigger(service, summary="Checkout down")
    run_next_step()
    [job] = queued("notifications.deliver")
    delivery_run(**take(job).args)
    return Notification.objects.get(user=person)


def basic(sid: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()


def test_an_organizations_own_twilio_account_carries_its_pages_and_only_its(
    twilio,  # noqa: F811
    org,
    other_org,
):
    own_twilio(org)
    page_by(org, Channel.SMS, PHONE)
    page_by(other_org, Channel.SMS, "+14155550101")
    own, deployment = twilio.requests
    assert own["path"] == f"/2010-04-01/Accounts/{OWN_SID}/Messages.json"
    assert own["auth"] == basic(OWN_SID, OWN_TOKEN)
    assert own["form"]["From"] == OWN_FROM
    assert deployment["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert deployment["auth"] == basic(SID, TOKEN)
    assert deployment["form"]["From"] == FROM


def test_a_disabled_account_falls_back_to_the_settings(twilio, org):  # noqa: F811
    own_twilio(org)
    ProviderAccount.objects.update(enabled=False)
    page_by(org, Channel.VOICE, PHONE)
    [call] = twilio.requests
    assert call["path"] == f"/2010-04-01/Accounts/{SID}/Calls.json"


def test_with_only_an_own_account_the_channel_works_there_and_nowhere_else(
    twilio,  # noqa: F811
    settings,
    org,
    other_org,
):
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    own_twilio(org)
    assert page_by(org, Channel.SMS, PHONE).status == "sent"
    elsewhere = page_by(other_org, Channel.SMS, "+14155550101")
    assert (elsewhere.status, elsewhere.error) == ("failed", "no SMS provider is configured")


def test_a_test_message_uses_the_persons_organization_account(twilio, org):  # noqa: F811
    own_twilio(org)
    person = people(org, 1)[0]
    method = ContactMethod.objects.create(
        user=person, channel=Channel.SMS, address=PHONE, verified_at=timezone.now()
    )
    row = Notification.objects.create(
        reason=Reason.TEST, user=person, channel=Channel.SMS, contact_method=method, address=PHONE
    )
    defer_delivery(row)
    [job] = queued("notifications.deliver")
    delivery_run(**take(job).args)
    [request] = twilio.requests
    assert request["auth"] == basic(OWN_SID, OWN_TOKEN)


def reply(client, body: str, *, account_sid: str, token: str):
    url, base = "/api/v1/twilio/sms", "https://oncall.example.com"
    form = {"From": PHONE, "To": OWN_FROM, "Body": body, "AccountSid": account_sid}
    signature = RequestValidator(token).compute_signature(base + url, form)
    return client.post(url, form, HTTP_X_TWILIO_SIGNATURE=signature)


def test_replies_are_checked_with_the_token_of_the_account_that_sent_them(
    client,
    twilio,  # noqa: F811
    org,
):
    own_twilio(org)
    page = page_by(org, Channel.SMS, PHONE)
    forged = reply(client, "a", account_sid=OWN_SID, token=TOKEN)  # the deployment's token
    assert forged.status_code == 403
    page.incident.refresh_from_db()
    assert page.incident.status == Status.TRIGGERED
    answered = reply(client, "a", account_sid=OWN_SID, token=OWN_TOKEN)
    assert answered.status_code == 200
    page.incident.refresh_from_db()
    assert page.incident.status == Status.ACKNOWLEDGED


def test_an_organizations_slack_workspace_token_carries_its_slack_pages(
    slack,  # noqa: F811
    org,
):
    account = ProviderAccount(organization=org, kind=ProviderKind.SLACK)
    account.set_secret("xoxb-own-workspace")
    account.save()
    page_by(org, Channel.SLACK, "U0PERSON")
    [call] = slack.calls
    assert call["auth"] == "Bearer xoxb-own-workspace"


@pytest.fixture
def operator(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


ADMIN = "/admin/notifications/provideraccount/"


def test_the_admin_takes_a_secret_encrypted_and_never_shows_it(operator, org):
    form = {
        "organization": org.pk,
        "kind": ProviderKind.TWILIO,
        "account_id": OWN_SID,
        "sender": "+1 500 555 0009",
        "whatsapp_sender": "",
        "new_secret": OWN_TOKEN,
        "enabled": "on",
    }
    response = operator.post(f"{ADMIN}add/", form)
    assert response.status_code == 302, response.content
    account = ProviderAccount.objects.get()
    assert account.sender == OWN_FROM  # normalized to E.164
    assert account.secret() == OWN_TOKEN
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_encrypted FROM notifications_provideraccount")
        [(stored,)] = cursor.fetchall()
    assert OWN_TOKEN not in stored
    page = operator.get(f"{ADMIN}{account.pk}/change/")
    assert OWN_TOKEN.encode() not in page.content
    # Saved again without a new secret: the stored one stays.
    form["new_secret"] = ""
    operator.post(f"{ADMIN}{account.pk}/change/", form)
    account.refresh_from_db()
    assert account.secret() == OWN_TOKEN
    assert (ProviderAccount, ["secret_encrypted"]) in encrypted_fields()  # rotation covers it


def test_the_admin_refuses_a_bad_sid_number_and_missing_secret(operator, org):
    response = operator.post(
        f"{ADMIN}add/",
        {
            "organization": org.pk,
            "kind": ProviderKind.TWILIO,
            "account_id": "nope",
            "sender": "12",
            "new_secret": "",
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) >= {"account_id", "new_secret"}
    assert ProviderAccount.objects.count() == 0
