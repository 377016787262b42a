"""Twilio's inbound SMS webhook: replies to SMS pages acknowledge or resolve incidents.

Every request must carry a valid `X-Twilio-Signature` (HMAC-SHA1 of the public URL and the
form fields, keyed by our auth token), checked with Twilio's own validator; anything else is
a 403 that changes nothing. The URL signed is the one Twilio called: BASE_URL + path, since a
proxy in front may have changed the host and scheme we see. The answer is TwiML: a text back.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from incidents import services as lifecycle
from notifications.accounts import twilio_auth_token
from notifications.models import Channel
from notifications.services import delivery_status_update
from notifications.sms_replies import paged_incident, parse_reply, sms_methods, sms_opt_out
from opsknight.actors import Actor
from opsknight.models import User
from opsknight.permissions import Action, require

HELP = "Reply with the incident number and a letter: 12a acknowledges incident 12, 12r resolves it."


def _twiml(text: str = "") -> HttpResponse:
    body = f"<Message>{escape(text)}</Message>" if text else ""
    return HttpResponse(
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
        content_type="text/xml",
    )


def _signed(request: HttpRequest, token: str) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    url = settings.BASE_URL + request.get_full_path()
    params = {key: request.POST.get(key) for key in request.POST}
    return bool(signature) and RequestValidator(token).validate(url, params, signature)


def twilio_refusal(request: HttpRequest) -> HttpResponse | None:
    """A 404 if no Twilio account is known here, a 403 unless the request is signed with the
    auth token of the account that sent it (an organization's own, or the deployment's)."""
    token = twilio_auth_token(request.POST.get("AccountSid", ""))
    if not token:
        return JsonResponse(
            {"error": "not_configured", "message": "Twilio is not configured here."}, status=404
        )
    if not _signed(request, token):
        return JsonResponse(
            {"error": "bad_signature", "message": "Missing or invalid X-Twilio-Signature."},
            status=403,
        )
    return None


@csrf_exempt
@require_POST
def message_status(request: HttpRequest) -> HttpResponse:
    """Twilio's delivery receipts for our texts: delivered, or failed with the carrier's code."""
    if refused := twilio_refusal(request):
        return refused
    status = request.POST.get("MessageStatus", "")
    if status in ("delivered", "undelivered", "failed"):
        code = request.POST.get("ErrorCode", "")
        delivery_status_update(
            channels=(Channel.SMS, Channel.WHATSAPP),
            provider_message_id=request.POST.get("MessageSid", ""),
            delivered=status == "delivered",
            error=f"carrier says {status}" + (f" (Twilio error {code})" if code else ""),
        )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def sms_inbound(request: HttpRequest) -> HttpResponse:
    if refused := twilio_refusal(request):
        return refused
    phone, text = request.POST.get("From", ""), request.POST.get("Body", "")
    reply = parse_reply(text)
    if reply is not None and reply.action in ("stop", "start"):
        sms_opt_out(phone, stop=reply.action == "stop")
        return _twiml()  # the carrier confirms opt-outs itself
    if not sms_methods(phone).exists():
        return _twiml("This number is not on file with OpsKnight.")
    if reply is None:
        return _twiml(HELP)
    found = paged_incident(phone, reply.number)
    if found is None:
        which = f"incident {reply.number}" if reply.number else "any incident"
        return _twiml(f"No page about {which} was sent to this number. {HELP}")
    incident, user_id = found
    return _twiml(incident_act(incident, User.objects.get(pk=user_id), reply.action))


VERBS = {
    "acknowledge": (lifecycle.acknowledge, "Acknowledged"),
    "resolve": (lifecycle.resolve, "Resolved"),
    "escalate": (lifecycle.escalate_now, "Escalated"),
}


def incident_act(incident, user: User, action: str) -> str:
    """Act on an incident as the person who answered a page; the answer to read or text back."""
    try:
        require(user, incident.organization_id, Action.INCIDENT_RESPOND)
    except PermissionDenied:
        return f"You may not change incidents of this organization (#{incident.number})."
    verb, done = VERBS[action]
    try:
        result = verb(incident_id=incident.pk, actor=Actor.for_user(user))
    except ValidationError as exc:  # TransitionError: resolved already, say
        return f"#{incident.number}: {' '.join(exc.messages)}"
    if not result.changed:
        return f"#{incident.number} was already {result.incident.status}."
    return f"{done} #{incident.number}: {incident.title[:100]}"
