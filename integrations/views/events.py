"""`POST /api/v1/events`: by integration key (`Authorization: Token token=<key>`), or by an API
key with scope events:write naming a `service_id` of its own organization."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from incidents.ingestion import IngestResult
from incidents.selectors import active_service
from integrations import ratelimit
from integrations.http import BadRequest, inbound, key_from_headers, read_json
from integrations.models import Integration, IntegrationKind
from integrations.services import receive, receive_for_service
from integrations.sources.events import InvalidEvent, parse
from integrations.views.gate import Refusal, admit
from opsknight.actors import Actor
from opsknight.models import APIKey
from opsknight.permissions import Action, can
from opsknight.services import API_KEY_PREFIX, api_key_authenticate

KINDS = (IntegrationKind.EVENTS, IntegrationKind.PAGERDUTY)


def _error(status: int, code: str, message: str, details: dict | None = None) -> JsonResponse:
    body = {"status": "error", "error": code, "message": message}
    if details:
        body["details"] = details
    return JsonResponse(body, status=status)


def _refuse(refusal: Refusal) -> JsonResponse:
    status = {
        "unknown_key": 401,
        "disabled": 403,
        "wrong_kind": 403,
        "bad_signature": 401,
        "rate_limited": 429,
    }
    return _error(status[refusal.reason], refusal.reason, refusal.message)


def _unavailable() -> JsonResponse:
    return _error(503, "unavailable", "Temporarily unable to accept events; retry.")


def _accepted(result: IngestResult) -> JsonResponse:
    incident = result.incident
    return JsonResponse(
        {
            "status": "success",
            "result": {
                "action": result.outcome,
                "dedup_key": result.dedup_key,
                "incident": None
                if incident is None
                else {
                    "id": incident.pk,
                    "number": incident.number,
                    "url": f"{settings.BASE_URL}/incidents/{incident.pk}/",
                },
            },
        },
        status=202,
    )


@inbound(("POST",), _unavailable)
def events(request: HttpRequest) -> HttpResponse:
    token = key_from_headers(request, "Token", "Bearer", "Api-Key") or request.headers.get(
        "X-API-Key", ""
    )
    if not token:
        return _error(
            401,
            "not_authenticated",
            "Send 'Authorization: Token token=<integration key>' or an API key.",
        )
    try:
        body = read_json(request)
        if token.startswith(API_KEY_PREFIX):
            return _by_api_key(token, body)
        event, _ = parse(body, needs_service=False)
    except BadRequest as exc:
        return _error(exc.status, "invalid", exc.message)
    except InvalidEvent as exc:
        return _error(400, "invalid", "The event is invalid; see details.", exc.errors)
    integration = admit(token, KINDS, _refuse, request)
    if not isinstance(integration, Integration):
        return integration
    [result] = receive(integration=integration, events=[event], payload=body)
    return _accepted(result)


def _by_api_key(token: str, body: object) -> HttpResponse:
    api_key: APIKey | None = api_key_authenticate(token)
    if api_key is None:
        return _error(401, "not_authenticated", "Invalid, revoked or expired API key.")
    if not can(api_key, api_key.organization_id, Action.EVENTS_SEND):
        return _error(403, "permission_denied", "This API key lacks the events:write scope.")
    event, service_id = parse(body, needs_service=True)
    service = active_service(organization_id=api_key.organization_id, service_id=service_id)
    if service is None:
        return _error(404, "not_found", f"No active service {service_id} in this organization.")
    # API keys share the rate-limit table with integrations under negative ids.
    decision = ratelimit.hit(-api_key.pk, settings.API_KEY_EVENTS_PER_MINUTE)
    if not decision.allowed:
        response = _error(429, "rate_limited", "Too many events for this API key; retry later.")
        response["Retry-After"] = str(decision.retry_after_seconds)
        return response
    [result] = receive_for_service(
        service=service, events=[event], payload=body, actor=Actor.for_api_key(api_key)
    )
    return _accepted(result)
