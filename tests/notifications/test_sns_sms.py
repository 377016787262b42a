"""SMS pages through Amazon SNS with boto3, against a loopback server answering as SNS's
Query API does: the exact form fields, the message id, refusals and outages."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from notifications.delivery import delivery_run
from notifications.models import (
    Channel,
    ContactMethod,
    DeliveryStatus,
    Notification,
    NotificationRule,
)
from tests.escalation.factories import policy, queued, run_next_step, step, take
from tests.incidents.factories import make_service, trigger
from tests.notifications.conftest import Receiver
from tests.oncall.factories import people
from tests.processes import serving

pytestmark = pytest.mark.django_db

PHONE = "+14155550100"
OK = (
    '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
    "<MessageId>5e2c6a1c-0000-4000-8000-000000000001</MessageId></PublishResult>"
    "<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>"
)


def refusal(status: int, kind: str, code: str, message: str) -> tuple[int, bytes]:
    return status, (
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error>'
        f"<Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>r-2</RequestId></ErrorResponse>"
    ).encode()


@pytest.fixture
def sns(settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    with serving(Receiver()) as server:
        server.default, server.content_type = (200, OK.encode()), "text/xml"
        settings.NOTIFICATION_SMS_PROVIDER = "notifications.providers.sns_sms.SnsSmsProvider"
        settings.AWS_SNS_REGION, settings.AWS_SNS_ENDPOINT_URL = "eu-west-1", server.url("/")
        settings.AWS_SNS_SENDER_ID = "OpsKnight"
        settings.BASE_URL = "https://oncall.example.com"
        yield server


@pytest.fixture
def sms_page(org):
    person = people(org, 1)[0]
    phone = ContactMethod.objects.create(
        user=person, channel=Channel.SMS, address=PHONE, verified_at=timezone.now()
    )
    NotificationRule.objects.create(user=person, urgency="high", contact_method=phone)
    service = make_service(org, name="Checkout API")
    policy(org, [step(person)], service=service)
    incident = trigger(service, summary="Checkout down")
    run_next_step()
    [job] = queued("notifications.deliver")
    return incident, lambda: delivery_run(**take(job).args)


def test_an_sms_page_is_published_to_the_number(sns, sms_page):
    incident, run = sms_page
    run()
    [request] = sns.posts
    assert "Credential=AKIDEXAMPLE/" in request.headers["Authorization"]
    assert "/eu-west-1/sns/aws4_request" in request.headers["Authorization"]
    form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
    assert form["Action"] == "Publish"
    assert form["PhoneNumber"] == PHONE
    assert form["Message"].startswith(f"OpsKnight #{incident.number} [Checkout API] Checkout down")
    attributes = {
        form[f"MessageAttributes.entry.{i}.Name"]: form[
            f"MessageAttributes.entry.{i}.Value.StringValue"
        ]
        for i in (1, 2)
    }
    assert attributes == {
        "AWS.SNS.SMS.SMSType": "Transactional",
        "AWS.SNS.SMS.SenderID": "OpsKnight",
    }
    delivery = Notification.objects.get()
    assert (delivery.status, delivery.provider_message_id) == (
        DeliveryStatus.SENT,
        "5e2c6a1c-0000-4000-8000-000000000001",
    )


def test_an_invalid_number_fails_at_once_and_an_outage_is_retried(sns, sms_page):
    _, run = sms_page
    sns.default = refusal(400, "Sender", "InvalidParameter", "Invalid parameter: PhoneNumber")
    run()
    delivery = Notification.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error == "Amazon SNS refused (InvalidParameter): Invalid parameter: PhoneNumber"
    assert len(sns.posts) == 1  # boto3 did not retry behind our back


def test_an_sns_outage_is_retried_on_our_backoff(sns, sms_page):
    _, run = sms_page
    sns.default = refusal(500, "Receiver", "InternalError", "try again")
    run()
    delivery = Notification.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert delivery.error.startswith("Amazon SNS refused (InternalError)")
    assert len(sns.posts) == 1
    [retry] = queued("notifications.deliver")
    assert retry.args == {"notification_id": delivery.pk}


def test_without_a_region_sns_is_not_configured(settings, sms_page):
    settings.NOTIFICATION_SMS_PROVIDER = "notifications.providers.sns_sms.SnsSmsProvider"
    settings.AWS_SNS_REGION = ""
    _, run = sms_page
    run()
    delivery = Notification.objects.get()
    assert (delivery.status, delivery.error) == ("failed", "no SMS provider is configured")
