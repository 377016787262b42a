"""SMS through Amazon SNS (Publish to a phone number) with boto3: the second SMS provider.

Chosen with NOTIFICATION_SMS_PROVIDER=notifications.providers.sns_sms.SnsSmsProvider and
AWS_SNS_REGION; credentials come the usual AWS ways (environment, instance role).
AWS_SNS_ENDPOINT_URL points it elsewhere (a VPC endpoint, or the tests' loopback server).
SNS has no delivery receipts by callback and no replies, so SMS acknowledgement by text
needs Twilio; pages and links work the same.
"""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from notifications.providers.base import ProviderError, SendResult, SmsMessage

# The caller's mistakes (a bad number, an opted-out one): sending again will not help.
_PERMANENT = {"InvalidParameter", "InvalidParameterValue", "OptedOut", "AuthorizationError"}


def sns_client():
    return boto3.client(
        "sns",
        region_name=settings.AWS_SNS_REGION,
        endpoint_url=settings.AWS_SNS_ENDPOINT_URL or None,
        # One try per attempt: our own backoff retries, and records every attempt.
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10),
    )


class SnsSmsProvider:
    @classmethod
    def is_configured(cls, organization_id: int | None = None) -> bool:
        return bool(settings.AWS_SNS_REGION)

    def send_sms(self, message: SmsMessage) -> SendResult:
        attributes = {
            # Transactional: the highest delivery reliability, sent even to DND numbers.
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
        }
        if settings.AWS_SNS_SENDER_ID:
            attributes["AWS.SNS.SMS.SenderID"] = {
                "DataType": "String",
                "StringValue": settings.AWS_SNS_SENDER_ID,
            }
        try:
            answer = sns_client().publish(
                PhoneNumber=message.to, Message=message.body, MessageAttributes=attributes
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            raise ProviderError(
                f"Amazon SNS refused ({code}): {error.get('Message', '')}",
                permanent=code in _PERMANENT,
            ) from exc
        except BotoCoreError as exc:
            raise ProviderError(f"Amazon SNS unavailable: {exc}") from exc
        return SendResult(provider_message_id=answer.get("MessageId", ""))
