"""Prometheus Alertmanager webhook receiver: point a `webhook_config` at our URL.

Alertmanager retries a group on any non-2xx until its next interval, so a 202 here means every
alert of the payload is committed (one transaction), and a 4xx means none is.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from integrations.http import BadRequest, inbound, key_from_headers, read_json
from integrations.models import Integration, IntegrationKind
from integrations.services import receive
from integrations.sources.alertmanager import InvalidPayload, parse_webhook
from integrations.views.gate import Refusal, admit

KINDS = (IntegrationKind.ALERTMANAGER,)
REFUSAL_STATUS = {
    "unknown_key": 401,
    "disabled": 403,
    "wrong_kind": 403,
    "rate_limited": 429,
    "bad_signature": 401,
}
BAD_REQUEST_CODES = {413: "request_too_large"}


def _error(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JsonResponse:
    return JsonResponse(
        {"error": code, "message": message, "details": details or {}}, status=status
    )


def _refuse(refusal: Refusal) -> HttpResponse:
    details = {"retry_after": refusal.retry_after} if refusal.retry_after else {}
    return _error(REFUSAL_STATUS[refusal.reason], refusal.reason, refusal.message, details)


def _unavailable() -> JsonResponse:
    return _error(503, "unavailable", "Temporarily unable to accept alerts; retry.")


@inbound(("POST",), _unavailable)
def webhook(request: HttpRequest, key: str | None = None) -> HttpResponse:
    """Apply every alert of one notification; 202 lists each alert's dedup key and outcome."""
    key = key or key_from_headers(request, "Bearer") or request.GET.get("key", "")
    if not key.strip():
        return _error(
            401,
            "missing_key",
            "Send the integration key as a bearer token, a basic-auth password, "
            "?key= or in the URL.",
        )
    integration = admit(key.strip(), KINDS, _refuse, request)
    if not isinstance(integration, Integration):
        return integration
    try:
        body = read_json(request)
        events = parse_webhook(body, group_by=str(integration.options.get("group_by", "")))
    except BadRequest as exc:
        code = BAD_REQUEST_CODES.get(exc.status, "invalid_json")
        return _error(exc.status, code, exc.message)
    except InvalidPayload as exc:
        return _error(
            400, "invalid_payload", "The payload is not a valid webhook.", {"errors": exc.errors}
        )
    results = receive(integration=integration, events=events, payload=body)
    return JsonResponse(
        {
            "status": "success",
            "events": len(results),
            "results": [{"dedup_key": r.dedup_key, "outcome": r.outcome} for r in results],
        },
        status=202,
    )
