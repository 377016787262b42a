"""Calendar subscription feeds: the secret token in the URL is the only credential.

Calendar apps fetch these without a session, so there is no login here; an unknown or revoked
token is a plain 404 that says nothing about whether a feed ever existed.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from oncall.calendars import calendar_feed_ics
from oncall.services import calendar_feed_authenticate

NOT_FOUND = "No calendar at this address: the link is wrong or has been revoked."


@require_safe
@never_cache  # a revoked link must stop at once, not live on in a cache
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    feed = calendar_feed_authenticate(token)
    if feed is None:
        return JsonResponse({"error": "not_found", "message": NOT_FOUND}, status=404)
    return HttpResponse(calendar_feed_ics(feed), content_type="text/calendar; charset=utf-8")
