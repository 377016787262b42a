"""Fixed one-minute windows of events per integration, counted in PostgreSQL.

Counting in the database makes the limit hold across every web process and host. The counter
is spread over SHARDS rows per window, picked at random, so an alert storm does not queue on
one row lock (PERFORMANCE.md: one hot row collapses beyond ~4 writers). The statement runs in
autocommit, outside the ingest transaction, so its lock lasts one statement.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

SHARDS = 8
WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    count: int
    limit: int
    retry_after_seconds: int


def _window_start(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def hit(integration_id: int, limit: int, *, now: datetime | None = None) -> RateDecision:
    """Count one event; say whether it is within `limit` per minute (0: unlimited, uncounted)."""
    if limit <= 0:
        return RateDecision(True, 0, 0, 0)
    now = now or timezone.now()
    start = _window_start(now)
    shard = random.randrange(SHARDS)  # noqa: S311 - load spreading, not security
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH bumped AS ("
            "  INSERT INTO integrations_rate_window AS w"
            "    (integration_id, window_start, shard, hits)"
            "  VALUES (%s, %s, %s, 1)"
            "  ON CONFLICT (integration_id, window_start, shard)"
            "  DO UPDATE SET hits = w.hits + 1 RETURNING hits)"
            " SELECT (SELECT hits FROM bumped) + coalesce(("
            "  SELECT sum(hits) FROM integrations_rate_window"
            "  WHERE integration_id = %s AND window_start = %s AND shard <> %s), 0)",
            [integration_id, start, shard, integration_id, start, shard],
        )
        count = int(cursor.fetchone()[0])
    retry_after = max(1, WINDOW_SECONDS - int((now - start).total_seconds()))
    return RateDecision(count <= limit, count, limit, retry_after)


def prune(*, now: datetime | None = None) -> int:
    """Forget windows that ended more than a minute ago."""
    start = _window_start(now or timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM integrations_rate_window WHERE window_start < %s - interval '1 minute'",
            [start],
        )
        return cursor.rowcount
