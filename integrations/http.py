"""Request plumbing shared by every inbound endpoint: strict JSON, size cap, key extraction."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)


class BadRequest(Exception):
    def __init__(self, message: str, *, status: int = 400, errors: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors or [message]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_json(request: HttpRequest) -> Any:
    """The body as JSON, or BadRequest naming what is wrong (413 when too large)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = request.body
    if limit is not None and len(body) > limit:
        raise BadRequest(f"The body is over the limit of {limit} bytes.", status=413)
    if not body.strip():
        raise BadRequest("The body is empty; send a JSON object.")
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise BadRequest("The body is not UTF-8.") from None
    except ValueError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}.") from None


def key_from_headers(request: HttpRequest, *schemes: str) -> str:
    """A key from `Authorization: <scheme> <key>` (basic auth: the password), else ''."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return ""
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    if scheme.lower() == "token" and value.startswith("token="):
        value = value.removeprefix("token=")
    return value if scheme.lower() in {s.lower() for s in schemes} else ""


Handler = Callable[..., HttpResponse]


def inbound(
    methods: tuple[str, ...], unavailable: Callable[[], HttpResponse]
) -> Callable[[Handler], Handler]:
    """Decorate an inbound endpoint: CSRF-exempt (authenticated by key), JSON 405, and a
    retryable 503 instead of a 500 when the database is unreachable, so senders retry."""

    def decorate(view: Handler) -> Handler:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = JsonResponse(
                    {"error": "method_not_allowed", "message": f"Use {' or '.join(methods)}."},
                    status=405,
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, *args, **kwargs)
            except DatabaseError:
                logger.exception("database error while receiving an event")
                response = unavailable()
                response["Retry-After"] = "5"
                return response

        return wrapper

    return decorate
