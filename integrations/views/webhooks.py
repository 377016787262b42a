"""One endpoint for every provider in `sources/registry.py`: `POST /api/v1/integrations/<kind>/`.

The integration key travels where the provider can put it: in the URL
(`/api/v1/integrations/<kind>/<key>/`), `Authorization: Bearer|Token <key>`, basic auth's
password, `X-Integration-Key`, or `?key=` / `?integration_key=`. A 202 means every event of the
body is committed (one transaction); a 4xx means none is, with a JSON body naming the problem.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from integrations.http import BadRequest, inbound, key_from_headers, read_json
from integrations.models import Integration
from integrations.services import receive
from integrations.sources.common import InvalidPayload
from integrations.sources.registry import Provider, UnknownProvider, provider
from integrations.views.gate import Refusal, admit

REFUSAL_STATUS = {
    "unknown_key": 401,
    "disabled": 403,
    "wrong_kind": 403,
    "rate_limited": 429,
    "bad_signature": 401,
}
KEY_HEADERS = ("X-Integration-Key", "X-Routing-Key")
KEY_PARAMETERS = ("key", "integration_key", "integrationKey")


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


def _key(request: HttpRequest, source: Provider, key: str | None) -> str:
    if key:
        return key.strip()
    found = key_from_headers(request, "Bearer", "Token")
    for header in (*KEY_HEADERS, *source.key_headers):
        found = found or request.headers.get(header, "")
    for name in KEY_PARAMETERS:
        found = found or request.GET.get(name, "")
    return found.strip()


def read_body(request: HttpRequest, source: Provider) -> Any:
    """The body as the provider sends it: JSON, or a form (a dict of its fields)."""
    content_type = request.content_type or ""
    is_form = content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
    if source.body == "form" or (source.body == "json-or-form" and is_form):
        if not is_form:
            raise BadRequest("Send the fields as application/x-www-form-urlencoded.", status=415)
        return {name: request.POST.get(name) for name in request.POST}
    return read_json(request)


@inbound(("POST",), _unavailable)
def webhook(request: HttpRequest, kind: str, key: str | None = None) -> HttpResponse:
    """Turn one provider notification into events and apply them all, or none."""
    try:
        source = provider(kind)
    except UnknownProvider:
        return _error(404, "unknown_provider", f"There is no integration kind {kind!r}.")
    routing_key = _key(request, source, key)
    if not routing_key:
        return _error(
            401,
            "missing_key",
            "Send the integration key in the URL (/api/v1/integrations/<kind>/<key>/), as a "
            "bearer token, in X-Integration-Key or as ?key=.",
        )
    integration = admit(
        routing_key,
        (kind,),
        _refuse,
        request,
        verify=source.verify,
        signature_help=source.signature_help,
    )
    if not isinstance(integration, Integration):
        return integration
    try:
        body = read_body(request, source)
        if source.intercept is not None and (answer := source.intercept(body)) is not None:
            return JsonResponse(answer, status=200)
        events = source.parse(body, dict(integration.options or {}))
    except BadRequest as exc:
        code = "request_too_large" if exc.status == 413 else "invalid_body"
        return _error(exc.status, code, exc.message)
    except InvalidPayload as exc:
        return _error(
            400,
            "invalid_payload",
            f"The body is not a valid {integration.get_kind_display()} notification.",
            {"errors": exc.errors},
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
