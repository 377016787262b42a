"""AWS CloudWatch alarms delivered by an Amazon SNS HTTP(S) subscription.

Reads the SNS developer guide's "HTTP/HTTPS notification / subscription confirmation /
unsubscribe confirmation JSON format"; a Notification's `Message` is the CloudWatch alarm as
JSON (AlarmName, NewStateValue, NewStateReason, Region, AlarmArn, Trigger…, as in the CloudWatch
alarm notification examples). SNS posts `Content-Type: text/plain`; the body is JSON all the same.

Every SNS message is authenticated, with or without a signing secret on the integration:
`intercept`, which the endpoint runs on every request before `parse`, verifies `Signature`
(SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) over AWS's string to sign for the message
type with the certificate at `SigningCertURL`, fetched only from
https://sns.<region>.amazonaws.com[.cn] and kept per process; then confirms a
SubscriptionConfirmation by a GET of its SubscribeURL (same host rule) and answers an
UnsubscribeConfirmation without doing anything. `parse` stays pure (no network) so the test
console and the fuzz test can run it; through the endpoint it only sees authenticated messages.
Raw message delivery (no envelope, so no signature) is refused.

Mapping: one incident per alarm, dedup key `cloudwatch-<account>-<region>-<AlarmName>` (region
code from AlarmArn, else `Region`). ALARM triggers, critical unless AlarmDescription declares a
severity ("severity: warning", "[P3]", "Sev2"); INSUFFICIENT_DATA triggers a warning (option
`insufficient_data: "ignore"` drops it instead); OK resolves.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import re
import urllib.request
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from incidents.ingestion import NormalizedEvent
from incidents.models import AlertAction, Severity
from integrations.sources.common import (
    InvalidPayload,
    done,
    get_path,
    items,
    links,
    mapping,
    require_object,
    severity_from,
    text,
    timestamp,
)
from integrations.sources.registry import Provider

# The only hosts SNS certificates and subscription URLs are fetched from.
SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
FETCH_TIMEOUT = 5.0
MAX_FETCH_BYTES = 64 * 1024
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ),
}  # fmt: skip
# SignatureVersion 1 is SHA1withRSA: AWS's choice for topics that were not switched to 2.
DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
ALARM_ARN = re.compile(r"arn:(aws[a-z-]*):cloudwatch:([a-z0-9-]+):(\d+):alarm:.+")
DECLARED = re.compile(
    r"\b(?:severity|priority)\s*[:=]\s*([a-z0-9]+)|\[([a-z0-9]+)\]|\b(sev\s?[0-4]|p[1-5])\b",
    re.IGNORECASE,
)
_certificates: dict[str, x509.Certificate] = {}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """SNS serves these URLs itself: a redirect (to anywhere) is an error, not followed."""

    def redirect_request(self, *args: Any) -> None:  # type: ignore[override]
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _download(url: str) -> bytes:
    """GET a URL already checked by `sns_url`: at most MAX_FETCH_BYTES, within FETCH_TIMEOUT."""
    request = urllib.request.Request(url, headers={"User-Agent": "OpsKnight"})  # noqa: S310
    with _OPENER.open(request, timeout=FETCH_TIMEOUT) as response:
        body = response.read(MAX_FETCH_BYTES + 1)
    if len(body) > MAX_FETCH_BYTES:
        raise ValueError(f"over {MAX_FETCH_BYTES} bytes")
    return body


def sns_url(envelope: dict[str, Any], field: str) -> str:
    """`envelope[field]` if it is an https URL on an SNS host; InvalidPayload otherwise."""
    url = envelope.get(field)
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        genuine = (
            parts is not None
            and parts.scheme == "https"
            and parts.username is None
            and parts.port is None
            and SNS_HOST.fullmatch(parts.hostname or "") is not None
        )
    except ValueError:  # a malformed port or IPv6 host
        genuine = False
    if not genuine:
        raise InvalidPayload([f"'{field}' must be an https://sns.<region>.amazonaws.com URL."])
    return str(url)


def _certificate(url: str) -> x509.Certificate:
    certificate = _certificates.get(url)
    if certificate is None:
        try:
            certificate = x509.load_pem_x509_certificate(_download(url))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise InvalidPayload([f"'SigningCertURL' could not be loaded: {exc}."]) from exc
        if len(_certificates) >= 64:  # SNS rotates certificates rarely; keep the cache bounded
            _certificates.clear()
        _certificates[url] = certificate
    return certificate


def string_to_sign(envelope: dict[str, Any]) -> bytes:
    """`Name\\nvalue\\n` for each signed field of the message type, in AWS's order."""
    lines: list[str] = []
    errors: list[str] = []
    for name in SIGNED_FIELDS[envelope["Type"]]:
        value = envelope.get(name)
        if name == "Subject" and value is None:
            continue  # signed only when the publisher gave one
        if not isinstance(value, str):
            errors.append(
                f"'{name}' must be a string." if name in envelope else f"'{name}' is missing."
            )
            continue
        lines += [name, value]
    done(errors)
    return "".join(f"{line}\n" for line in lines).encode()


def authenticate(envelope: dict[str, Any]) -> None:
    """Return only if Amazon SNS signed this message; InvalidPayload naming the problem if not."""
    digest = DIGESTS.get(str(envelope.get("SignatureVersion")))
    if digest is None:
        raise InvalidPayload(['\'SignatureVersion\' must be "1" or "2".'])
    signed = string_to_sign(envelope)
    encoded = envelope.get("Signature")
    try:
        signature = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
    except (binascii.Error, ValueError):
        signature = b""
    if not signature:
        raise InvalidPayload(["'Signature' must be a base64 RSA signature."])
    certificate = _certificate(sns_url(envelope, "SigningCertURL"))
    key = certificate.public_key()
    now = datetime.now(UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise InvalidPayload(["'SigningCertURL' holds a certificate that is not valid now."])
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidPayload(["'SigningCertURL' does not hold an RSA certificate."])
    try:
        key.verify(signature, signed, padding.PKCS1v15(), digest())
    except InvalidSignature:
        raise InvalidPayload(
            ["'Signature' does not verify with the certificate at 'SigningCertURL'."]
        ) from None


def intercept(body: Any) -> dict[str, Any] | None:
    """Authenticate every SNS message; answer the ones that are not alarms, None for alarms."""
    envelope = require_object(body)
    kind = envelope.get("Type")
    if not isinstance(kind, str) or kind not in SIGNED_FIELDS:
        raise InvalidPayload([_TYPE_ERROR])
    authenticate(envelope)
    if kind == "UnsubscribeConfirmation":
        return {"status": "unsubscribed"}  # nothing to do: resubscribing is the owner's call
    if kind == "SubscriptionConfirmation":
        url = sns_url(envelope, "SubscribeURL")
        try:
            _download(url)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise InvalidPayload(
                [f"'SubscribeURL' could not be fetched to confirm the subscription: {exc}."]
            ) from exc
        return {"status": "subscribed"}
    return None


_TYPE_ERROR = (
    "'Type' must be Notification, SubscriptionConfirmation or UnsubscribeConfirmation "
    "(subscribe with raw message delivery off: raw messages carry no signature)."
)


def _declared_severity(description: str) -> Severity:
    for match in DECLARED.finditer(description):
        word = next(group for group in match.groups() if group)
        found = severity_from(word, Severity.CRITICAL)
        if found == severity_from(word, Severity.INFO):  # a word severity_from knows
            return found
    return Severity.CRITICAL


def parse(body: Any, options: dict[str, Any]) -> list[NormalizedEvent]:
    envelope = require_object(body)
    kind = envelope.get("Type")
    if kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        return []  # answered by `intercept` on the endpoint: not an alarm
    if kind != "Notification":
        raise InvalidPayload([_TYPE_ERROR])
    message = envelope.get("Message")
    if not isinstance(message, str) or not message:
        raise InvalidPayload(["'Message' must be the CloudWatch alarm as a JSON string."])
    try:
        alarm = json.loads(message)
    except (ValueError, RecursionError):
        alarm = None
    if not isinstance(alarm, dict):
        raise InvalidPayload(["'Message' is not a CloudWatch alarm (a JSON object)."])
    wrapped = {"Message": alarm}  # so that errors name 'Message.<field>'
    errors: list[str] = []
    name = text(wrapped, "Message.AlarmName", errors, required=True, limit=255)
    state = alarm.get("NewStateValue")
    if state not in STATES:
        errors.append("'Message.NewStateValue' must be ALARM, OK or INSUFFICIENT_DATA.")
    region_name = text(wrapped, "Message.Region", errors, limit=100)
    arn = text(wrapped, "Message.AlarmArn", errors, limit=2048)
    description = text(wrapped, "Message.AlarmDescription", errors, limit=4000)
    reason = text(wrapped, "Message.NewStateReason", errors, limit=4000)
    trigger = mapping(wrapped, "Message.Trigger", errors)
    dimensions = items(trigger, "Dimensions", errors)
    namespace = text(trigger, "Namespace", errors, limit=255)
    account = text(wrapped, "Message.AWSAccountId", errors, limit=20)
    done(errors)
    if state == "INSUFFICIENT_DATA" and options.get("insufficient_data") == "ignore":
        return []
    partition = region = ""
    if arn_parts := ALARM_ARN.fullmatch(arn):
        partition, region, arn_account = arn_parts.groups()
        account = account or arn_account
    region = region or region_name
    severity = {
        "OK": Severity.INFO,
        "INSUFFICIENT_DATA": Severity.WARNING,
    }.get(state) or _declared_severity(description)
    pairs = [(d.get("name"), d.get("value")) for d in dimensions if isinstance(d, dict)]
    where = ", ".join(f"{k}={v}" for k, v in pairs if isinstance(k, str) and isinstance(v, str))
    console = (
        f"https://console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#alarmsV2:alarm/{quote(name, safe='')}"
        if partition == "aws"
        else None
    )
    return [
        NormalizedEvent(
            action=AlertAction.RESOLVE if state == "OK" else AlertAction.TRIGGER,
            dedup_key=f"cloudwatch-{account}-{region}-{name}",
            summary=f'{state}: "{name}" in {region_name}' if region_name else f'{state}: "{name}"',
            severity=severity,
            source=where or namespace or arn or "cloudwatch",
            description="\n\n".join(part for part in (description, reason) if part),
            details={
                "alarm": alarm,
                "sns": {
                    k: envelope[k] for k in ("MessageId", "TopicArn", "Subject") if k in envelope
                },
            },
            links=links([("CloudWatch alarm", console)]),
            occurred_at=timestamp(alarm.get("StateChangeTime"))
            or timestamp(get_path(envelope, "Timestamp")),
        )
    ]


SAMPLE = {
    "Type": "Notification",
    "MessageId": "5b0f4f8e-2c1a-5a43-9a57-2f3c9b1d7e11",
    "TopicArn": "arn:aws:sns:us-east-1:123456789012:opsknight-alarms",
    "Subject": 'ALARM: "checkout-5xx-rate" in US East (N. Virginia)',
    "Message": json.dumps(
        {
            "AlarmName": "checkout-5xx-rate",
            "AlarmDescription": "5xx responses from the checkout load balancer.",
            "AWSAccountId": "123456789012",
            "NewStateValue": "ALARM",
            "NewStateReason": "Threshold Crossed: 1 datapoint [42.0 (20/11/26 09:13:00)] was "
            "greater than the threshold (10.0).",
            "StateChangeTime": "2026-11-20T09:14:03.512+0000",
            "Region": "US East (N. Virginia)",
            "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-5xx-rate",
            "OldStateValue": "OK",
            "Trigger": {
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Namespace": "AWS/ApplicationELB",
                "Statistic": "SUM",
                "Dimensions": [{"value": "app/checkout/50dc6c495c0c9188", "name": "LoadBalancer"}],
                "Threshold": 10.0,
            },
        }
    ),
    "Timestamp": "2026-11-20T09:14:03.561Z",
    "SignatureVersion": "1",
    "Signature": (
        "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858f"
        "iTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q="
    ),
    "SigningCertURL": (
        "https://sns.us-east-1.amazonaws.com/"
        "SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
    ),
    "UnsubscribeURL": (
        "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
        "arn:aws:sns:us-east-1:123456789012:opsknight-alarms:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"
    ),
}

PROVIDER = Provider(kind="cloudwatch", parse=parse, intercept=intercept, sample=SAMPLE)
