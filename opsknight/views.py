"""Core pages: the signed-in home page, and the probes operators and load balancers call."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from opsknight.selectors import live_worker_count, user_organizations

logger = logging.getLogger(__name__)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request, "opsknight/home.html", {"organizations": user_organizations(user=request.user)}
    )


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing else, so a slow database never kills us."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: database reachable, migrations applied, a worker alive within the last minute."""
    checks: dict[str, dict[str, object]] = {}
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except DatabaseError:
        # The driver's message names hosts and addresses: the log gets it, callers do not.
        logger.exception("readiness: database unreachable")
        checks["database"] = {"ok": False, "error": "unreachable"}
        return _readiness(checks)
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        checks["migrations"] = {"ok": not pending, "pending": len(pending)}
    except DatabaseError:
        logger.exception("readiness: cannot read the migration state")
        checks["migrations"] = {"ok": False, "error": "unreadable"}
    try:
        workers = live_worker_count()
        checks["worker"] = {
            "ok": workers > 0,
            "alive": workers,
            "max_heartbeat_age_seconds": settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS,
        }
    except DatabaseError:
        logger.exception("readiness: cannot read worker heartbeats")
        checks["worker"] = {"ok": False, "error": "unreadable"}
    return _readiness(checks)


def _readiness(checks: dict[str, dict[str, object]]) -> JsonResponse:
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status=200 if ready else 503,
    )


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. With METRICS_TOKEN set, a matching bearer token is required."""
    if not settings.METRICS_TOKEN and not settings.METRICS_PUBLIC:
        return JsonResponse(
            {
                "error": "not_configured",
                "message": "Set METRICS_TOKEN (or METRICS_PUBLIC=true) to expose metrics.",
            },
            status=403,
        )
    if settings.METRICS_TOKEN:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), settings.METRICS_TOKEN.encode()):
            return JsonResponse(
                {
                    "error": "not_authenticated",
                    "message": "A valid metrics bearer token is required.",
                },
                status=401,
            )
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
