"""Opsgenie Alert API v2, wire-compatible: teams leaving Opsgenie change only the base URL.

Opsgenie answers 202 at once and processes later; we process before answering (a 2xx means
durable, DESIGN.md §3) but keep its contract: every request gets a `requestId` whose outcome
`GET /v2/alerts/requests/{requestId}` reports, including acknowledge or close requests whose
alert does not exist, which Opsgenie also accepts with 202 and reports as failed.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from incidents.models import Alert, AlertAction
from integrations.http import BadRequest, inbound, key_from_headers, read_json
from integrations.models import Integration, IntegrationKind
from integrations.services import (
    OPSGENIE_NOT_FOUND,
    apply_alert_action,
    opsgenie_actor,
    receive,
)
from integrations.sources.opsgenie import (
    InvalidAlert,
    parse_action,
    parse_create,
    parse_identifier_type,
)
from integrations.views.gate import Refusal, admit

KINDS = (IntegrationKind.OPSGENIE,)
ACTION_NAMES = {
    AlertAction.TRIGGER: "Create",
    AlertAction.ACKNOWLEDGE: "Acknowledge",
    AlertAction.RESOLVE: "Close",
}
# (action, outcome) → the `status` text of a successful request; any other pair failed.
SUCCESS_STATUS = {
    (AlertAction.TRIGGER, "triggered"): "Created alert",
    (AlertAction.TRIGGER, "deduplicated"): "Alert already exists; its count was increased",
    (AlertAction.TRIGGER, "resolved"): "Created alert; it was already closed",
    (AlertAction.TRIGGER, "suppressed"): "Created alert (during maintenance: it pages nobody)",
    (AlertAction.ACKNOWLEDGE, "acknowledged"): "Acknowledged alert",
    (AlertAction.RESOLVE, "resolved"): "Closed alert",
}
REFUSAL_STATUS = {
    "unknown_key": 401,
    "disabled": 401,
    "wrong_kind": 403,
    "bad_signature": 401,
    "rate_limited": 429,
}


def _respond(start: float, status: int, body: dict[str, Any], request_id: str) -> JsonResponse:
    took = round(time.monotonic() - start, 3)
    response = JsonResponse({**body, "took": took, "requestId": request_id}, status=status)
    response["X-Request-ID"] = request_id
    response["X-Response-Time"] = str(took)
    return response


def _error(
    start: float, status: int, message: str, errors: dict[str, str] | None = None
) -> JsonResponse:
    body: dict[str, Any] = {"message": message}
    if errors:
        body["errors"] = errors
    return _respond(start, status, body, str(uuid.uuid4()))


def _invalid(start: float, errors: dict[str, str]) -> JsonResponse:
    return _error(start, 422, "Request body is not processable. Please check the errors.", errors)


def _accepted(start: float, request_id: uuid.UUID) -> JsonResponse:
    return _respond(start, 202, {"result": "Request will be processed"}, str(request_id))


def _unavailable() -> JsonResponse:
    return _error(time.monotonic(), 503, "Temporarily unable to process requests; retry.")


def _admitted(request: HttpRequest, start: float) -> Integration | HttpResponse:
    key = key_from_headers(request, "GenieKey") or request.GET.get("apiKey", "")
    if not key.strip():
        return _error(start, 401, "Key format is not valid!")

    def refuse(refusal: Refusal) -> HttpResponse:
        message = "Could not authenticate" if refusal.reason == "unknown_key" else refusal.message
        return _error(start, REFUSAL_STATUS[refusal.reason], message)

    return admit(key.strip(), KINDS, refuse, request)


@inbound(("POST",), _unavailable)
def create_alert(request: HttpRequest) -> HttpResponse:
    """`POST /v2/alerts`: trigger, or attach to the open incident with the same alias."""
    start = time.monotonic()
    integration = _admitted(request, start)
    if not isinstance(integration, Integration):
        return integration
    try:
        body = read_json(request)
        event = parse_create(body, default_source=request.META.get("REMOTE_ADDR", ""))
    except BadRequest as exc:
        return _error(start, exc.status, exc.message)
    except InvalidAlert as exc:
        return _invalid(start, exc.errors)
    actor = opsgenie_actor(integration, event.details.get("user", ""))
    [result] = receive(integration=integration, events=[event], payload=body, actor=actor)
    return _accepted(start, result.alert.request_id)


def _act(request: HttpRequest, identifier: str, action: AlertAction) -> HttpResponse:
    start = time.monotonic()
    integration = _admitted(request, start)
    if not isinstance(integration, Integration):
        return integration
    try:
        body = read_json(request) if request.body.strip() else None
        identifier_type = parse_identifier_type(request.GET.get("identifierType"))
        parsed = parse_action(body)
    except BadRequest as exc:
        return _error(start, exc.status, exc.message)
    except InvalidAlert as exc:
        return _invalid(start, exc.errors)
    alert = apply_alert_action(
        integration=integration,
        action=action,
        identifier=identifier,
        identifier_type=identifier_type,
        request=parsed,
        payload=body,
    )
    return _accepted(start, alert.request_id)


@inbound(("POST",), _unavailable)
def acknowledge_alert(request: HttpRequest, identifier: str) -> HttpResponse:
    """`POST /v2/alerts/{identifier}/acknowledge?identifierType=id|alias|tiny`."""
    return _act(request, identifier, AlertAction.ACKNOWLEDGE)


@inbound(("POST",), _unavailable)
def close_alert(request: HttpRequest, identifier: str) -> HttpResponse:
    """`POST /v2/alerts/{identifier}/close?identifierType=id|alias|tiny`."""
    return _act(request, identifier, AlertAction.RESOLVE)


def _alias_asked(alert: Alert) -> str:
    details = alert.details
    return details.get("identifier", "") if details.get("identifierType") == "alias" else ""


def _recorded(integration: Integration, request_id: str) -> Alert | None:
    """An Opsgenie request of the key's organization; another organization's is not found."""
    try:
        wanted = uuid.UUID(request_id)
    except ValueError:
        return None
    return Alert.objects.filter(
        request_id=wanted,
        organization_id=integration.organization_id,
        integration_kind=IntegrationKind.OPSGENIE,
    ).first()


@inbound(("GET",), _unavailable)
def request_status(request: HttpRequest, request_id: str) -> HttpResponse:
    """`GET /v2/alerts/requests/{requestId}`: what became of an earlier request."""
    start = time.monotonic()
    integration = _admitted(request, start)
    if not isinstance(integration, Integration):
        return integration
    alert = _recorded(integration, request_id)
    if alert is None:
        return _error(start, 404, "Request not found. It might not be processed, yet.")
    action = AlertAction(alert.action)
    status = SUCCESS_STATUS.get((action, alert.outcome))
    success = status is not None
    processed_at = alert.received_at.astimezone(UTC).isoformat(timespec="milliseconds")
    data = {
        "success": success,
        "action": ACTION_NAMES.get(action, action.label),
        "processedAt": processed_at.replace("+00:00", "Z"),
        "integrationId": str(alert.integration_id or ""),
        "isSuccess": success,
        "status": status or alert.details.get("error", OPSGENIE_NOT_FOUND),
        "alertId": str(alert.incident_id or ""),
        "alias": alert.dedup_key or _alias_asked(alert),
    }
    return _respond(start, 200, {"data": data}, str(uuid.uuid4()))
