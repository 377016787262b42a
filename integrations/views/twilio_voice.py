"""Twilio's callbacks for voice pages: the keypress menu and how each call ended.

Both are signed by Twilio (`X-Twilio-Signature` over the URL and form fields, checked as for
SMS). The gather URL names the delivery record, and the signature covers the URL, so a
keypress can only act on the page that call carried, as the person it was placed to.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.twiml.voice_response import Gather, VoiceResponse

from integrations.views.twilio import incident_act, twilio_refusal
from notifications.models import Channel
from notifications.providers.twilio_voice import MENU, VOICE
from notifications.services import delivery_status_update
from notifications.sms_replies import voice_page

KEYS = {"1": "acknowledge", "2": "escalate", "3": "resolve"}
# How a call can end, and whether that counts as the page reaching the person.
CALL_ENDINGS = {"completed": True, "busy": False, "no-answer": False, "failed": False}


def _voice(*sayings: str, gather_url: str = "") -> HttpResponse:
    response = VoiceResponse()
    if gather_url:
        gather = Gather(num_digits=1, action=gather_url, method="POST", timeout=8)
        for text in sayings:
            gather.say(text, voice=VOICE)
        response.append(gather)
        response.say("Goodbye.", voice=VOICE)
    else:
        for text in sayings:
            response.say(text, voice=VOICE)
        response.hangup()
    return HttpResponse(str(response), content_type="text/xml")


@csrf_exempt
@require_POST
def gather(request: HttpRequest, notification_id: int) -> HttpResponse:
    if refused := twilio_refusal(request):
        return refused
    page = voice_page(
        notification_id=notification_id,
        call_sid=request.POST.get("CallSid", ""),
        called=request.POST.get("To", ""),
    )
    if page is None:
        return _voice("This call is not about a page we can find. Goodbye.")
    action = KEYS.get(request.POST.get("Digits", "").strip())
    if action is None:
        again = settings.BASE_URL + request.get_full_path()
        return _voice("That key does nothing.", MENU, gather_url=again)
    answer = incident_act(page.incident, page.user, action)
    return _voice(answer.replace("#", "incident "), "Goodbye.")


@csrf_exempt
@require_POST
def call_status(request: HttpRequest) -> HttpResponse:
    """Twilio's word on how a page call ended: answered (delivered) or not (failed)."""
    if refused := twilio_refusal(request):
        return refused
    status = request.POST.get("CallStatus", "")
    if status in CALL_ENDINGS:
        delivery_status_update(
            channels=(Channel.VOICE,),
            provider_message_id=request.POST.get("CallSid", ""),
            delivered=CALL_ENDINGS[status],
            error=f"call ended: {status}",
        )
    return HttpResponse(status=204)
