"""The installable web app: its manifest, its service worker (served from the site root so its
scope is the whole site), and the page it shows when the network is gone."""

from __future__ import annotations

from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

THEME = "#1f3a5f"


@require_GET
@cache_control(max_age=3600, public=True)
def manifest(request: HttpRequest) -> JsonResponse:
    icons = [
        {
            "src": static(f"opsknight/icons/icon-{size}.png"),
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": "any maskable",
        }
        for size in (192, 512)
    ]
    response = JsonResponse(
        {
            "name": "OpsKnight",
            "short_name": "OpsKnight",
            "description": "Incidents, on-call and paging.",
            "id": "/",
            "start_url": "/incidents/",
            "scope": "/",
            "display": "standalone",
            "background_color": "#ffffff",
            "theme_color": THEME,
            "icons": icons,
        }
    )
    response["Content-Type"] = "application/manifest+json"
    return response


@require_GET
@cache_control(no_cache=True)  # a new release must reach browsers at once
def service_worker(request: HttpRequest) -> HttpResponse:
    path = finders.find("opsknight/sw.js")
    if path is None:  # pragma: no cover - the file ships with the code
        raise Http404("service worker missing")
    with open(path, encoding="utf-8") as source:
        response = HttpResponse(source.read(), content_type="application/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    """Cached by the service worker at install; anonymous, so it can be."""
    return render(request, "opsknight/offline.html")
