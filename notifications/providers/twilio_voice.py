"""Voice calls through Twilio's Calls API with the official client.

The call's TwiML travels inline with the request (`twiml=`), so answering a call needs no
second fetch from us: text-to-speech reads the page, and a `<Gather>` takes one key (1
acknowledge, 2 escalate, 3 resolve), which Twilio posts, signed, to the page's gather URL.
"""

from __future__ import annotations

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.twiml.voice_response import Gather, VoiceResponse

from notifications.accounts import twilio_account
from notifications.providers.base import ProviderError, SendResult, VoiceMessage
from notifications.providers.twilio_sms import RETRYABLE_STATUS, twilio_client

MENU = "Press 1 to acknowledge. Press 2 to escalate. Press 3 to resolve."
VOICE = "Polly.Joanna"  # Twilio's neural text-to-speech; clearer than the basic voices


def call_twiml(message: VoiceMessage) -> str:
    """What the callee hears: the page, then the menu (said twice) when there is one."""
    response = VoiceResponse()
    if not message.gather_url:
        response.say(message.speech, voice=VOICE)
        response.pause(length=1)
        response.say(message.speech, voice=VOICE)
        return str(response)
    first = Gather(num_digits=1, action=message.gather_url, method="POST", timeout=8)
    first.say(f"{message.speech} {MENU}", voice=VOICE)
    response.append(first)
    again = Gather(num_digits=1, action=message.gather_url, method="POST", timeout=8)
    again.say(MENU, voice=VOICE)
    response.append(again)
    response.say("No key was pressed. The incident is not acknowledged. Goodbye.", voice=VOICE)
    return str(response)


class TwilioVoiceProvider:
    @classmethod
    def is_configured(cls, organization_id: int | None = None) -> bool:
        return bool(twilio_account(organization_id).account_sid)

    def send_call(self, message: VoiceMessage) -> SendResult:
        account = twilio_account(message.organization_id)
        fields = {
            "to": message.to,
            "from_": account.from_number,
            "twiml": call_twiml(message),
            "timeout": 30,  # ring for 30 s before giving up (no answer)
        }
        if message.status_callback:
            fields["status_callback"] = message.status_callback
        try:
            call = twilio_client(account).calls.create(**fields)
        except TwilioRestException as exc:
            permanent = 400 <= exc.status < 500 and exc.status not in RETRYABLE_STATUS
            raise ProviderError(
                f"Twilio refused the call ({exc.status}, code {exc.code}): {exc.msg}",
                permanent=permanent,
            ) from exc
        except (TwilioException, OSError) as exc:
            raise ProviderError(f"Twilio unavailable: {exc}") from exc
        return SendResult(provider_message_id=call.sid or "")
