"""SMS and WhatsApp through Twilio's Messages API with the official client.

`TWILIO_API_BASE_URL` points the client elsewhere (a regional edge, a proxy, or the tests'
loopback server); unset, it talks to api.twilio.com as usual.
"""

from __future__ import annotations

from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from notifications.accounts import TwilioAccount, twilio_account
from notifications.providers.base import ProviderError, SendResult, SmsMessage

# Twilio answers 4xx for a message that can never go (bad number, unsubscribed recipient, a
# number we may not send from); 429 and 5xx are worth another try.
RETRYABLE_STATUS = {408, 429}


def twilio_client(account: TwilioAccount) -> Client:
    client = Client(account.account_sid, account.auth_token)
    if settings.TWILIO_API_BASE_URL:
        client.api.base_url = settings.TWILIO_API_BASE_URL
    return client


class TwilioSmsProvider:
    @classmethod
    def is_configured(cls, organization_id: int | None = None) -> bool:
        return bool(twilio_account(organization_id).account_sid)

    def send_sms(self, message: SmsMessage) -> SendResult:
        account = twilio_account(message.organization_id)
        return self._send(message, account, to=message.to, sender=account.from_number)

    def _send(
        self, message: SmsMessage, account: TwilioAccount, *, to: str, sender: str
    ) -> SendResult:
        fields = {"to": to, "from_": sender, "body": message.body}
        if message.status_callback:
            fields["status_callback"] = message.status_callback
        try:
            sent = twilio_client(account).messages.create(**fields)
        except TwilioRestException as exc:
            permanent = 400 <= exc.status < 500 and exc.status not in RETRYABLE_STATUS
            raise ProviderError(
                f"Twilio refused ({exc.status}, code {exc.code}): {exc.msg}", permanent=permanent
            ) from exc
        except (TwilioException, OSError) as exc:
            raise ProviderError(f"Twilio unavailable: {exc}") from exc
        return SendResult(provider_message_id=sent.sid or "")


class TwilioWhatsAppProvider(TwilioSmsProvider):
    """WhatsApp through the same Messages API: addresses carry the `whatsapp:` prefix."""

    @classmethod
    def is_configured(cls, organization_id: int | None = None) -> bool:
        account = twilio_account(organization_id)
        return bool(account.account_sid and account.whatsapp_from)

    def send_sms(self, message: SmsMessage) -> SendResult:
        account = twilio_account(message.organization_id)
        return self._send(
            message,
            account,
            to=f"whatsapp:{message.to}",
            sender=f"whatsapp:{account.whatsapp_from}",
        )
