"""A person's notification settings page, their history, and the incident page's notification
section: through the Django test client against the real database."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from incidents.models import Incident
from notifications import contacts
from notifications.models import Channel, ContactMethod, Notification, NotificationRule, Reason
from opsknight.models import Organization, Role, User
from tests.escalation.factories import policy, queued, run_next_step, step
from tests.incidents.factories import make_service, trigger
from tests.opsknight.factories import member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _providers(settings):
    """SMS, voice and Slack configured (nothing is sent: the jobs are only queued here)."""
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "1" * 32, "token"
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.SLACK_BOT_TOKEN = "xoxb-test"


PROFILE = "/notifications/profile/"


@pytest.fixture
def person(org: Organization) -> User:
    return member(org)


@pytest.fixture
def client(person: User) -> Client:
    return logged_in(person)


def logged_in(user: User, **options: object) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def verified(user: User, channel: str, address: str) -> ContactMethod:
    method = contacts.contact_method_add(user=user, channel=channel, address=address)
    ContactMethod.objects.filter(pk=method.pk).update(verified_at=timezone.now())
    method.refresh_from_db()
    return method


def said(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def statuses(text: str) -> dict[int, str]:
    return {int(pk): s for pk, s in re.findall(r'data-method="(\d+)" data-status="([^"]+)"', text)}


# --- The page -------------------------------------------------------------------------


def test_anonymous_is_sent_to_log_in():
    response = Client().get(PROFILE)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_page_lists_methods_with_their_status(client, person):
    unverified = contacts.contact_method_add(user=person, channel="sms", address="+14155550123")
    good = verified(person, "slack", "U012ABCDEF")
    stopped = verified(person, "whatsapp", "+14155550124")
    ContactMethod.objects.filter(pk=stopped.pk).update(opted_out_at=timezone.now())

    text = client.get(PROFILE).content.decode()

    assert statuses(text) == {
        unverified.pk: "unverified",
        good.pk: "verified",
        stopped.pk: "opted-out",
    }
    assert "Send code" in text
    assert "Send me a test" in text


def test_without_rules_the_organization_defaults_are_shown(client, person):
    verified(person, "sms", "+14155550123")

    text = client.get(PROFILE).content.decode()

    assert (
        '<p class="muted" data-defaults="medium">Organization defaults apply: '
        "Email, Web push, Slack.</p>"
    ) in text
    assert f"A page now goes to: Email {person.email} after 0 min; SMS +14155550123" in text
    low = re.search(r'data-plan="low">A page now goes to: ([^<]*)<', text).group(1)
    assert low == f"Email {person.email} after 0 min."


def test_channels_without_a_provider_are_named(client, settings):
    settings.TWILIO_ACCOUNT_SID = ""
    settings.SLACK_BOT_TOKEN = ""

    text = client.get(PROFILE).content.decode()

    assert "SMS: no SMS provider is configured" in text
    assert "Slack: no Slack provider is configured" in text
    assert "Email: " not in text.split('id="unavailable-channels"')[1].split("</section>")[0]


# --- Adding and removing methods ------------------------------------------------------


def test_a_phone_number_is_stored_in_e164_unverified(client, person):
    response = client.post(
        "/notifications/profile/methods/",
        {"channel": "sms", "address": " +1 (415) 555-0123 ", "label": "mobile"},
        follow=True,
    )

    assert said(response) == ["Added SMS +14155550123; send a code to verify it."]
    method = ContactMethod.objects.get(user=person)
    assert (method.channel, method.address, method.label) == ("sms", "+14155550123", "mobile")
    assert method.verified_at is None


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("4155550123", "Enter the number in international format"),
        ("+1 415 555 012", "This phone number is too short."),
        ("+1 415 555 0123 4567", "This phone number is too long."),
        ("+999 1234567", "This phone number&#x27;s country code does not exist."),
        ("+1 123 456 7890", "This is not a valid phone number for +1 (US)."),
        ("+call me", "This is not a phone number."),
    ],
)
def test_an_invalid_phone_number_is_refused_with_the_reason(client, person, address, problem):
    response = client.post(
        "/notifications/profile/methods/", {"channel": "voice", "address": address}
    )

    assert response.status_code == 400
    assert problem in response.content.decode()
    assert not ContactMethod.objects.exists()


@pytest.mark.parametrize(
    ("channel", "address", "problem"),
    [
        ("email", "not-an-email", "Enter a valid email address."),
        ("slack", "@alice", "Enter a Slack member id"),
        ("push", "https://push.example/abc", "Select a valid choice."),
    ],
)
def test_other_invalid_addresses_are_refused(client, channel, address, problem):
    response = client.post(
        "/notifications/profile/methods/", {"channel": channel, "address": address}
    )

    assert response.status_code == 400
    assert problem in response.content.decode()
    assert not ContactMethod.objects.exists()


def test_a_duplicate_is_refused_clearly(client, person):
    contacts.contact_method_add(user=person, channel="sms", address="+14155550123")

    response = client.post(
        "/notifications/profile/methods/", {"channel": "sms", "address": "+1 415 555 0123"}
    )

    assert response.status_code == 400
    assert "You already have SMS +14155550123." in response.content.decode()
    assert ContactMethod.objects.count() == 1


def test_push_is_not_added_by_hand():
    with pytest.raises(ValidationError, match="added by your browser"):
        contacts.normalize_address(Channel.PUSH, "https://push.example/abc")


def test_the_login_email_is_verified_at_once(person):
    method = contacts.contact_method_add(user=person, channel="email", address=person.email.upper())
    other = contacts.contact_method_add(user=person, channel="email", address="me@elsewhere.org")

    assert method.verified_at is not None
    assert other.verified_at is None


def test_deleting_a_method_removes_its_rules_and_keeps_its_history(client, person):
    method = verified(person, "sms", "+14155550123")
    contacts.rules_replace(user=person, urgency="high", rules=[(0, method.pk)])
    contacts.test_send(method=method)

    response = client.post(f"/notifications/profile/methods/{method.pk}/delete/", follow=True)

    assert said(response) == ["Removed SMS +14155550123."]
    assert not ContactMethod.objects.exists()
    assert not NotificationRule.objects.exists()
    assert Notification.objects.get().address == "+14155550123"


def test_the_add_form_needs_csrf(person):
    client = logged_in(person, enforce_csrf_checks=True)

    response = client.post(
        "/notifications/profile/methods/", {"channel": "sms", "address": "+14155550123"}
    )

    assert response.status_code == 403
    assert not ContactMethod.objects.exists()


def test_another_persons_method_is_404_for_every_action(client, org):
    stranger = member(org)
    theirs = verified(stranger, "sms", "+14155550123")
    unverified = contacts.contact_method_add(user=stranger, channel="sms", address="+14155550199")

    for action, method in (
        ("send-code", unverified),
        ("verify", unverified),
        ("test", theirs),
        ("delete", theirs),
    ):
        url = f"/notifications/profile/methods/{method.pk}/{action}/"
        assert client.post(url, {"code": "123456"}).status_code == 404
    assert ContactMethod.objects.filter(user=stranger).count() == 2
    assert not Notification.objects.exists()
    unverified.refresh_from_db()
    assert unverified.verification_failures == 0


# --- Test messages --------------------------------------------------------------------


def test_a_test_message_is_a_test_delivery_and_a_job(client, person):
    method = verified(person, "slack", "U012ABCDEF")

    response = client.post(f"/notifications/profile/methods/{method.pk}/test/", follow=True)

    assert said(response) == ["A test message is on its way to Slack U012ABCDEF."]
    delivery = Notification.objects.get()
    assert (delivery.reason, delivery.request, delivery.incident) == (Reason.TEST, None, None)
    assert (delivery.user, delivery.channel, delivery.address) == (person, "slack", "U012ABCDEF")
    assert delivery.contact_method == method
    [job] = queued("notifications.deliver")
    assert job.args == {"notification_id": delivery.pk}


def test_tests_wait_thirty_seconds_per_method(client, person):
    method = verified(person, "slack", "U012ABCDEF")
    other = verified(person, "sms", "+14155550123")
    contacts.test_send(method=method)

    response = client.post(f"/notifications/profile/methods/{method.pk}/test/", follow=True)
    assert re.fullmatch(r"A test was just sent; try again in \d+ s\.", said(response)[0])
    contacts.test_send(method=other)  # another method has its own clock
    Notification.objects.filter(contact_method=method).update(
        created_at=timezone.now() - timedelta(seconds=31)
    )
    contacts.test_send(method=method)

    assert Notification.objects.filter(reason=Reason.TEST, contact_method=method).count() == 2
    assert len(queued("notifications.deliver")) == 3


def test_no_test_on_a_channel_without_a_provider(client, settings, person):
    method = verified(person, "slack", "U012ABCDEF")
    settings.SLACK_BOT_TOKEN = ""

    response = client.post(f"/notifications/profile/methods/{method.pk}/test/", follow=True)

    assert said(response) == [
        "Cannot send: no Slack provider is configured here; ask an administrator."
    ]
    assert not Notification.objects.exists()


def test_only_verified_methods_get_tests(client, person):
    method = contacts.contact_method_add(user=person, channel="sms", address="+14155550123")

    response = client.post(f"/notifications/profile/methods/{method.pk}/test/", follow=True)

    assert said(response) == ["Verify this method before sending a test."]
    assert not Notification.objects.exists()
    assert queued("notifications.deliver") == []


# --- Rules ----------------------------------------------------------------------------


def test_rules_are_saved_per_urgency_through_the_form(client, person):
    sms = verified(person, "sms", "+14155550123")
    voice = verified(person, "voice", "+14155550123")

    response = client.post(
        "/notifications/profile/rules/high/",
        {"delay_0": "5", "method_0": str(voice.pk), "delay_1": "", "method_1": str(sms.pk)},
        follow=True,
    )

    assert said(response) == ["High urgency pages now use 2 rules."]
    rules = NotificationRule.objects.filter(user=person).order_by("delay_minutes")
    assert [(r.urgency, r.delay_minutes, r.contact_method_id) for r in rules] == [
        ("high", 0, sms.pk),
        ("high", 5, voice.pk),
    ]
    text = response.content.decode()
    assert 'data-defaults="high"' not in text
    assert 'data-defaults="low"' in text

    cleared = client.post("/notifications/profile/rules/high/", {}, follow=True)
    assert said(cleared) == ["High urgency pages now use the defaults."]
    assert not NotificationRule.objects.exists()


def test_the_rule_forms_show_the_rules_and_three_empty_rows(client, person):
    sms = verified(person, "sms", "+14155550123")
    contacts.rules_replace(user=person, urgency="high", rules=[(0, sms.pk), (10, sms.pk)])

    text = client.get(PROFILE).content.decode()

    def rows(urgency: str) -> int:
        section = text.split(f'id="rules-{urgency}"')[1].split("</form>")[0]
        return section.count('name="delay_')

    assert (rows("high"), rows("medium"), rows("low")) == (5, 3, 3)
    assert 'name="delay_1" value="10"' in text


def test_a_delay_past_a_day_is_a_form_error(client, person):
    sms = verified(person, "sms", "+14155550123")

    response = client.post(
        "/notifications/profile/rules/low/", {"delay_0": "1441", "method_0": str(sms.pk)}
    )

    assert response.status_code == 400
    assert "less than or equal to 1440" in response.content.decode()
    assert not NotificationRule.objects.exists()


def test_an_unverified_method_cannot_be_chosen(client, person):
    method = contacts.contact_method_add(user=person, channel="sms", address="+14155550123")

    response = client.post(
        "/notifications/profile/rules/medium/", {"delay_0": "0", "method_0": str(method.pk)}
    )

    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()
    with pytest.raises(ValidationError, match=r"SMS \+14155550123 is not verified yet"):
        contacts.rules_replace(user=person, urgency="medium", rules=[(0, method.pk)])
    assert not NotificationRule.objects.exists()


def test_an_unknown_urgency_is_404(client):
    assert client.post("/notifications/profile/rules/urgent/", {}).status_code == 404


def test_rules_are_checked_by_the_service_too(org, person):
    mine = verified(person, "sms", "+14155550123")
    theirs = verified(member(org), "sms", "+14155550199")
    cases = [
        ([(0, theirs.pk)], f"No such contact method: {theirs.pk}."),
        ([(-1, mine.pk)], "Delays are 0 to 1440 minutes, not -1."),
        ([(1441, mine.pk)], "Delays are 0 to 1440 minutes, not 1441."),
        ([(n, mine.pk) for n in range(11)], "At most 10 rules per urgency."),
        ([(0, mine.pk), (0, mine.pk)], "The same method is listed twice with the same delay."),
    ]
    for rules, problem in cases:
        with pytest.raises(ValidationError) as caught:
            contacts.rules_replace(user=person, urgency="high", rules=rules)
        assert caught.value.messages == [problem]
    with pytest.raises(ValidationError, match="Unknown urgency"):
        contacts.rules_replace(user=person, urgency="urgent", rules=[])

    saved = contacts.rules_replace(
        user=person, urgency="high", rules=[(n * 10, mine.pk) for n in range(10)]
    )
    assert len(saved) == 10
    assert not NotificationRule.objects.filter(user=theirs.user).exists()


# --- History --------------------------------------------------------------------------


def test_the_history_shows_the_persons_own_latest_deliveries(client, org, person):
    method = verified(person, "sms", "+14155550123")
    contacts.test_send(method=method)
    Notification.objects.filter(pk=Notification.objects.get().pk).update(
        status="failed", attempts=5, error="Twilio refused (400, code 21211): invalid To"
    )
    contacts.test_send(method=verified(member(org), "sms", "+14155550199"))

    text = client.get(PROFILE).content.decode()

    rows = re.findall(r'data-notification="\d+" data-reason="(\w+)" data-status="(\w+)"', text)
    assert rows == [("test", "failed")]
    assert "Twilio refused (400, code 21211): invalid To" in text
    assert "+14155550199" not in text


def test_the_history_stops_at_one_hundred(client, person):
    now = timezone.now()
    Notification.objects.bulk_create(
        Notification(
            reason=Reason.TEST,
            user=person,
            channel="email",
            address=f"n{n}@example.com",
            created_at=now - timedelta(minutes=n),
        )
        for n in range(105)
    )

    text = client.get(PROFILE).content.decode()

    assert len(re.findall(r"data-notification=", text)) == 100
    assert "n0@example.com" in text
    assert "n100@example.com" not in text


# --- The incident page's notification section -----------------------------------------


@pytest.fixture
def paged(org: Organization, person: User) -> Incident:
    service = make_service(org, name="Checkout API")
    policy(org, [step(person)], service=service)
    incident = trigger(service)
    run_next_step()
    return incident


def test_the_incident_section_lists_its_deliveries(org, person, paged):
    response = logged_in(member(org, Role.VIEWER)).get(f"/incidents/{paged.pk}/notifications/")

    assert response.status_code == 200
    rows = re.findall(
        r'data-user="([^"]+)" data-channel="(\w+)" data-status="(\w+)"', response.content.decode()
    )
    assert rows == [(person.email, "email", "pending")]


def test_another_organizations_incident_section_is_404(paged, other_org):
    client = logged_in(member(other_org, Role.OWNER))

    assert client.get(f"/incidents/{paged.pk}/notifications/").status_code == 404
    assert client.get(f"/incidents/{paged.pk + 1000}/notifications/").status_code == 404


def test_the_incident_section_needs_a_login(paged):
    response = Client().get(f"/incidents/{paged.pk}/notifications/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_incident_page_loads_the_section_with_htmx(client, paged):
    text = client.get(f"/incidents/{paged.pk}/").content.decode()

    assert f'hx-get="/incidents/{paged.pk}/notifications/"' in text
