"""`GET|POST /api/v1/heartbeats/<key>/ping`: the monitored job says it is alive."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from integrations.heartbeats import heartbeat_ping
from integrations.http import inbound


def _json(status: int, body: dict[str, str]) -> JsonResponse:
    response = JsonResponse(body, status=status)
    # A cached GET would be a ping that never arrived.
    response["Cache-Control"] = "no-store"
    return response


def _unavailable() -> JsonResponse:
    return _json(
        503,
        {
            "status": "error",
            "error": "unavailable",
            "message": "Temporarily unable to record pings; retry.",
        },
    )


@inbound(("GET", "POST"), _unavailable)
def ping(request: HttpRequest, key: str) -> HttpResponse:
    """200 with when the next ping is expected; 404 unknown key; 403 disabled. The body of a
    POST is ignored (jobs often send their output)."""
    result = heartbeat_ping(key=key)
    if result.status == "unknown_key":
        return _json(
            404,
            {"status": "error", "error": "unknown_key", "message": "No heartbeat has this key."},
        )
    if result.status == "disabled":
        return _json(
            403, {"status": "error", "error": "disabled", "message": "This heartbeat is disabled."}
        )
    assert result.next_expected_by is not None  # "ok" always carries it
    return _json(200, {"status": "ok", "next_expected_by": result.next_expected_by.isoformat()})
