"""PagerDuty Events API v2, wire-compatible: point a PagerDuty client at our base URL."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from integrations.http import BadRequest, inbound, read_json
from integrations.models import Integration, IntegrationKind
from integrations.services import receive
from integrations.sources.pagerduty import InvalidEvent, parse_change, parse_event, routing_key_of
from integrations.views.gate import Refusal, admit

KINDS = (IntegrationKind.PAGERDUTY, IntegrationKind.EVENTS)


def _invalid(errors: list[str], status: int = 400) -> JsonResponse:
    return JsonResponse(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
        status=status,
    )


def _refuse(refusal: Refusal) -> JsonResponse:
    if refusal.reason == "rate_limited":
        return JsonResponse({"status": "throttle event", "message": refusal.message}, status=429)
    if refusal.reason == "bad_signature":
        return _invalid([refusal.message], status=401)
    return _invalid([refusal.message])


def _unavailable() -> JsonResponse:
    return JsonResponse(
        {"status": "unavailable", "message": "Temporarily unable to accept events; retry."},
        status=503,
    )


def _admitted(request: HttpRequest, url_key: str | None, parse) -> tuple:  # type: ignore[no-untyped-def]
    body = read_json(request)
    if url_key and isinstance(body, dict):
        body.setdefault("routing_key", url_key)
    event = parse(body)
    key = url_key or routing_key_of(body)
    return body, event, admit(key, KINDS, _refuse, request)


@inbound(("POST",), _unavailable)
def enqueue(request: HttpRequest, key: str | None = None) -> HttpResponse:
    """Trigger, acknowledge or resolve. 202 means committed, with the incident's dedup key."""
    try:
        body, event, integration = _admitted(request, key, parse_event)
    except BadRequest as exc:
        return _invalid(exc.errors, exc.status)
    except InvalidEvent as exc:
        return _invalid(exc.errors)
    if not isinstance(integration, Integration):
        return integration
    [result] = receive(integration=integration, events=[event], payload=body)
    return JsonResponse(
        {"status": "success", "message": "Event processed", "dedup_key": result.dedup_key},
        status=202,
    )


@inbound(("POST",), _unavailable)
def change_enqueue(request: HttpRequest) -> HttpResponse:
    """Change events are recorded on the service's alert log and never page."""
    try:
        body, event, integration = _admitted(request, None, parse_change)
    except BadRequest as exc:
        return _invalid(exc.errors, exc.status)
    except InvalidEvent as exc:
        return _invalid(exc.errors)
    if not isinstance(integration, Integration):
        return integration
    receive(integration=integration, events=[event], payload=body)
    return JsonResponse({"status": "success", "message": "Change event processed"}, status=202)
