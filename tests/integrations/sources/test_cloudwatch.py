"""CloudWatch via SNS: messages signed for real with a throwaway certificate served on loopback.

AWS's own certificates and keys are out of reach, so each test signs the recorded SNS messages
the way SNS does (the string to sign is rebuilt here from the AWS documentation, independently
of the module) and the module's real downloader fetches the PEM from a loopback server: only the
https://sns.<region>.amazonaws.com URL it was given is rewritten to that server.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from django.core.exceptions import ValidationError

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Incident, Severity, Status
from integrations.services import integration_create, integration_set_signing_secret
from integrations.sources import cloudwatch
from integrations.sources.cloudwatch import intercept, parse, string_to_sign
from integrations.sources.common import InvalidPayload
from tests.integrations.conftest import load, written
from tests.integrations.sources.helpers import connect, post

pytestmark = pytest.mark.django_db

CERT_URL = (
    "https://sns.eu-west-1.amazonaws.com/"
    "SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem"
)
KEY = "cloudwatch-123456789012-eu-west-1-checkout-api-5xx"
SNS_CONTENT_TYPE = "text/plain; charset=UTF-8"
# The string to sign, as the SNS developer guide lists it for each message type.
SIGNED = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": [
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ],
}  # fmt: skip
SIGNED["UnsubscribeConfirmation"] = SIGNED["SubscriptionConfirmation"]


def _key_and_certificate() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, bytes]:
    return _key_and_certificate()


@dataclass
class FakeSns:
    key: rsa.RSAPrivateKey
    fetched: list[str] = field(default_factory=list)  # what the module asked to GET
    served: list[str] = field(default_factory=list)  # what reached the loopback server
    confirm_status: int = 200  # what SNS answers a GET of SubscribeURL

    def sign(self, message: dict[str, Any], version: str | None = None) -> dict[str, Any]:
        message = {**message, "SignatureVersion": version or message["SignatureVersion"]}
        blob = "".join(
            f"{name}\n{message[name]}\n" for name in SIGNED[message["Type"]] if name in message
        ).encode()
        # SignatureVersion 1 is SHA1withRSA, as SNS signs it.
        digest = hashes.SHA1() if message["SignatureVersion"] == "1" else hashes.SHA256()  # noqa: S303
        signature = self.key.sign(blob, padding.PKCS1v15(), digest)
        return {**message, "Signature": base64.b64encode(signature).decode()}


@pytest.fixture
def sns(monkeypatch, keys) -> Iterator[FakeSns]:
    """SNS's certificate (and subscription endpoint) on loopback, reached by the real downloader."""
    key, pem = keys
    fake = FakeSns(key)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.served.append(self.path)
            confirming = self.path.startswith("/?Action=ConfirmSubscription")
            self.send_response(fake.confirm_status if confirming else 200)
            self.send_header("Content-Type", "application/x-pem-file")
            self.end_headers()
            self.wfile.write(pem)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    real_download = cloudwatch._download

    def download(url: str) -> bytes:
        fake.fetched.append(url)
        loopback = f"127.0.0.1:{server.server_address[1]}"
        return real_download(urlunsplit(urlsplit(url)._replace(scheme="http", netloc=loopback)))

    monkeypatch.setattr(cloudwatch, "_download", download)
    monkeypatch.setattr(cloudwatch, "_certificates", {})
    yield fake
    server.shutdown()
    server.server_close()


def _alarm(body: dict[str, Any]) -> dict[str, Any]:
    return json.loads(body["Message"])


# --- parse: one test per recorded notification ----------------------------------------------


def test_alarm_triggers_a_critical_incident_per_alarm():
    body = load("cloudwatch", "alarm")
    (event,) = parse(body, {})
    assert event == NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=KEY,
        summary='ALARM: "checkout-api-5xx" in EU (Ireland)',
        severity=Severity.CRITICAL,
        source="LoadBalancer=app/checkout-api/50dc6c495c0c9188",
        description="5xx responses from the checkout load balancer. Runbook: "
        "https://wiki.example.com/runbooks/checkout-5xx\n\nThreshold Crossed: 2 out of the last "
        "3 datapoints [61.0 (20/11/26 09:13:00), 48.0 (20/11/26 09:12:00)] were greater than "
        "the threshold (25.0) (minimum 2 datapoints for OK -> ALARM transition).",
        details={
            "alarm": _alarm(body),
            "sns": {
                "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
                "TopicArn": "arn:aws:sns:eu-west-1:123456789012:opsknight-alarms",
                "Subject": 'ALARM: "checkout-api-5xx" in EU (Ireland)',
            },
        },
        links=[
            {
                "href": "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
                "#alarmsV2:alarm/checkout-api-5xx",
                "text": "CloudWatch alarm",
            }
        ],
        occurred_at=datetime(2026, 11, 20, 9, 14, 3, 512000, tzinfo=UTC),
    )


def test_ok_resolves_the_same_alarm():
    (event,) = parse(load("cloudwatch", "ok"), {})
    assert (event.action, event.dedup_key, event.summary, event.occurred_at) == (
        AlertAction.RESOLVE,
        KEY,
        'OK: "checkout-api-5xx" in EU (Ireland)',
        datetime(2026, 11, 20, 9, 32, 7, 104000, tzinfo=UTC),
    )


def test_insufficient_data_is_a_warning_unless_the_integration_ignores_it():
    body = load("cloudwatch", "insufficient_data")
    (event,) = parse(body, {})
    assert (event.action, event.dedup_key, event.severity) == (
        AlertAction.TRIGGER,
        KEY,
        Severity.WARNING,
    )
    assert event.description.endswith("\n\nInsufficient Data: 3 datapoints were unknown.")
    assert parse(body, {"insufficient_data": "ignore"}) == []


@pytest.mark.parametrize(
    ("description", "severity"),
    [
        ("Checkout 5xx. Severity: warning", Severity.WARNING),
        ("[P2] Checkout 5xx", Severity.ERROR),
        ("[runbook] Checkout 5xx, sev3", Severity.WARNING),
        ("Errors on checkout above 25 a minute", Severity.CRITICAL),  # no declared severity
        (None, Severity.CRITICAL),
    ],
)
def test_an_alarm_description_may_declare_its_severity(description, severity):
    body = load("cloudwatch", "alarm")
    body["Message"] = json.dumps({**_alarm(body), "AlarmDescription": description})
    assert parse(body, {})[0].severity == severity


def test_confirmations_are_not_alarms():
    assert parse(load("cloudwatch", "subscription_confirmation"), {}) == []
    assert parse(load("cloudwatch", "unsubscribe_confirmation"), {}) == []


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"Type": None}, "'Type' must be Notification, SubscriptionConfirmation or"),
        ({"Message": 7}, "'Message' must be the CloudWatch alarm as a JSON string."),
        ({"Message": "Hello world!"}, "'Message' is not a CloudWatch alarm (a JSON object)."),
        ({"Message": '{"NewStateValue": "ALARM"}'}, "'Message.AlarmName' is missing."),
        ({"Message": '{"AlarmName": "x", "NewStateValue": "ON"}'}, "'Message.NewStateValue' must"),
    ],
)
def test_bodies_that_are_not_cloudwatch_alarms_are_refused_by_field(change, error):
    body = {**load("cloudwatch", "alarm"), **change}
    with pytest.raises(InvalidPayload) as refused:
        parse(body, {})
    assert any(message.startswith(error) for message in refused.value.errors)


def test_raw_message_delivery_is_refused_it_carries_no_signature():
    with pytest.raises(InvalidPayload, match="raw message delivery off"):
        intercept(_alarm(load("cloudwatch", "alarm")))


# --- signatures ------------------------------------------------------------------------------


def test_the_string_to_sign_is_the_documented_one():
    body = load("cloudwatch", "subscription_confirmation")
    expected = "".join(f"{name}\n{body[name]}\n" for name in SIGNED["SubscriptionConfirmation"])
    assert string_to_sign(body) == expected.encode()
    assert string_to_sign(body).startswith(b"Message\nYou have chosen to subscribe to the topic ")
    notification = load("cloudwatch", "alarm")
    del notification["Subject"]  # signed only when present
    assert string_to_sign(notification).split(b"\n")[::2] == [
        b"Message", b"MessageId", b"Timestamp", b"TopicArn", b"Type", b""
    ]  # fmt: skip


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_genuine_notification_passes_with_either_signature_version(sns, version):
    body = sns.sign(load("cloudwatch", "alarm"), version)
    assert intercept(body) is None  # an alarm: parse takes it from here
    assert sns.fetched == [CERT_URL]
    assert sns.served == ["/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem"]


def test_the_certificate_is_fetched_once_per_process(sns):
    intercept(sns.sign(load("cloudwatch", "alarm")))
    intercept(sns.sign(load("cloudwatch", "ok")))
    assert sns.fetched == [CERT_URL]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body: {**body, "Message": body["Message"].replace('"ALARM"', '"OK"')},
        lambda body: {**body, "Subject": "OK"},
        lambda body: {k: v for k, v in body.items() if k != "Subject"},
        lambda body: {**body, "SignatureVersion": "2"},  # a SHA1 signature presented as SHA256
    ],
)
def test_a_tampered_notification_does_not_verify(sns, tamper):
    with pytest.raises(InvalidPayload) as refused:
        intercept(tamper(sns.sign(load("cloudwatch", "alarm"), "1")))
    assert refused.value.errors == [
        "'Signature' does not verify with the certificate at 'SigningCertURL'."
    ]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"Signature": None}, "'Signature' must be a base64 RSA signature."),
        ({"Signature": "not base64!"}, "'Signature' must be a base64 RSA signature."),
        ({"SignatureVersion": "3"}, '\'SignatureVersion\' must be "1" or "2".'),
        ({"MessageId": None}, "'MessageId' is missing."),
    ],
)
def test_unsigned_notifications_are_refused_without_fetching(sns, change, error):
    body = {**sns.sign(load("cloudwatch", "alarm")), **change}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(InvalidPayload) as refused:
        intercept(body)
    assert refused.value.errors == [error]
    assert sns.fetched == []


@pytest.mark.parametrize(
    "url",
    [
        "https://attacker.example/SimpleNotificationService-01d088a6.pem",
        "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-01d088a6.pem",
        "https://sns.eu-west-1.amazonaws.com.attacker.example/cert.pem",
        "https://attacker.example/sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com@attacker.example/cert.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/cert.pem",
        "https://s3.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com]/cert.pem",
    ],
)
def test_a_certificate_outside_sns_is_refused_without_fetching(sns, url):
    body = sns.sign({**load("cloudwatch", "alarm"), "SigningCertURL": url})
    with pytest.raises(InvalidPayload) as refused:
        intercept(body)
    assert refused.value.errors == [
        "'SigningCertURL' must be an https://sns.<region>.amazonaws.com URL."
    ]
    assert sns.fetched == []


def test_china_regions_are_sns_hosts_too(sns):
    url = "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-3250158c.pem"
    assert intercept(sns.sign({**load("cloudwatch", "alarm"), "SigningCertURL": url})) is None
    assert sns.fetched == [url]


def test_a_subscription_is_confirmed_by_fetching_its_subscribe_url(sns):
    body = sns.sign(load("cloudwatch", "subscription_confirmation"))
    assert intercept(body) == {"status": "subscribed"}
    assert sns.fetched == [CERT_URL, body["SubscribeURL"]]
    assert sns.served[1].startswith("/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:")


def test_a_confirmation_sns_refuses_is_reported(sns):
    sns.confirm_status = 403
    with pytest.raises(InvalidPayload) as refused:
        intercept(sns.sign(load("cloudwatch", "subscription_confirmation")))
    assert refused.value.errors == [
        "'SubscribeURL' could not be fetched to confirm the subscription: "
        "HTTP Error 403: Forbidden."
    ]


def test_a_forged_subscription_confirmation_fetches_nothing_but_the_certificate(sns):
    body = sns.sign(load("cloudwatch", "subscription_confirmation"))
    body["SubscribeURL"] = "https://attacker.example/?Action=ConfirmSubscription"
    with pytest.raises(InvalidPayload, match="'Signature' does not verify"):
        intercept(body)
    assert sns.fetched == [CERT_URL]


def test_a_subscribe_url_outside_sns_is_never_fetched_even_if_signed(sns):
    confirmation = load("cloudwatch", "subscription_confirmation")
    confirmation["SubscribeURL"] = "https://169.254.169.254/latest/meta-data/"
    with pytest.raises(InvalidPayload) as refused:
        intercept(sns.sign(confirmation))
    assert refused.value.errors == [
        "'SubscribeURL' must be an https://sns.<region>.amazonaws.com URL."
    ]
    assert sns.fetched == [CERT_URL]


def test_an_unsubscribe_confirmation_is_verified_and_left_alone(sns):
    body = sns.sign(load("cloudwatch", "unsubscribe_confirmation"))
    assert intercept(body) == {"status": "unsubscribed"}
    assert sns.fetched == [CERT_URL]


# --- through HTTP, as SNS posts (text/plain) ------------------------------------------------


def _post(client, key: str, body: dict[str, Any]):
    return post(
        client,
        "cloudwatch",
        key,
        body,
        content_type=SNS_CONTENT_TYPE,
        headers={"x-amz-sns-message-type": body["Type"], "x-amz-sns-message-id": "m"},
    )


def test_subscribe_then_alarm_then_ok_through_http(client, service, sns):
    cloudwatch_integration = connect(service, "cloudwatch")
    key = cloudwatch_integration.key
    confirmed = _post(client, key, sns.sign(load("cloudwatch", "subscription_confirmation")))
    assert (confirmed.status_code, confirmed.json()) == (200, {"status": "subscribed"})
    assert written() == (0, 0)
    alarm = _post(client, key, sns.sign(load("cloudwatch", "alarm")))
    assert alarm.status_code == 202, alarm.content
    assert alarm.json()["results"] == [{"dedup_key": KEY, "outcome": "triggered"}]
    incident = Incident.objects.get()
    assert incident.title == 'ALARM: "checkout-api-5xx" in EU (Ireland)'
    ok = _post(client, key, sns.sign(load("cloudwatch", "ok")))
    assert ok.json()["results"] == [{"dedup_key": KEY, "outcome": "resolved"}]
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_tampered_notification_is_a_400_and_writes_nothing(client, service, sns):
    key = connect(service, "cloudwatch").key
    body = sns.sign(load("cloudwatch", "alarm"))
    body["Message"] = body["Message"].replace("checkout-api-5xx", "something-else")
    before = written()
    response = _post(client, key, body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_payload"
    assert response.json()["details"]["errors"] == [
        "'Signature' does not verify with the certificate at 'SigningCertURL'."
    ]
    assert written() == before


def test_an_unsigned_alarm_is_a_400_and_fetches_nothing(client, service, sns):
    key = connect(service, "cloudwatch").key
    body = {**load("cloudwatch", "alarm"), "SigningCertURL": "https://attacker.example/c.pem"}
    response = _post(client, key, body)
    assert response.status_code == 400
    assert response.json()["details"]["errors"] == [
        "'SigningCertURL' must be an https://sns.<region>.amazonaws.com URL."
    ]
    assert (sns.fetched, written()) == ([], (0, 0))


def test_a_signing_secret_cannot_lock_out_sns(service):
    with pytest.raises(ValidationError, match="cannot sign"):
        integration_create(service=service, kind="cloudwatch", name="AWS", signing_secret="s" * 20)
    issued = integration_create(service=service, kind="cloudwatch", name="AWS")
    with pytest.raises(ValidationError, match="cannot sign"):
        integration_set_signing_secret(integration=issued.integration, secret="s" * 20)
