"""Content-Security-Policy on every response: every asset is ours, nothing loads from elsewhere."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

# 'unsafe-inline' for styles only: the Django admin sets style attributes in its templates.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",  # CSP 3: 'self' covers ws(s) to our own host
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


class RequestBodyLimitMiddleware:
    """Refuse a declared oversize body with 413, as JSON naming the limit.

    It refuses before Django parses the body; under ASGI the server has already received it by
    then. Only a reverse proxy can cap a body before it arrives (deploy/README.md).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            declared = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            return JsonResponse(
                {"error": "invalid", "message": "Content-Length is not a number."}, status=400
            )
        if limit is not None and declared > limit:
            return body_too_large_response()
        return self.get_response(request)


def body_too_large_response() -> JsonResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return JsonResponse(
        {
            "error": "request_too_large",
            "message": f"The request body is over the limit of {limit} bytes.",
            "limit_bytes": limit,
        },
        status=413,
    )
