"""Prometheus metrics. Queue and worker gauges are read from the database at scrape time, so
every web process reports the same truth and nothing is lost when a process restarts."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from opsknight.selectors import job_counts, live_worker_count, oldest_due_job_age_seconds

logger = logging.getLogger(__name__)


class JobQueueCollector(Collector):
    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Without describe() the registry would call collect(), i.e. query the database,
        # at import time.
        yield from self._families()

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "opsknight_jobs",
                "Jobs in the queue by queue and status.",
                labels=["queue", "status"],
            ),
            GaugeMetricFamily("opsknight_workers_alive", "Workers with a recent heartbeat."),
            GaugeMetricFamily(
                "opsknight_job_queue_lateness_seconds",
                "How long the oldest runnable job has been waiting to start.",
            ),
            GaugeMetricFamily("opsknight_database_up", "1 if the database answered the scrape."),
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs, workers, lateness, up = self._families()
        try:
            for queue, status, count in job_counts():
                jobs.add_metric([queue, status], count)
            workers.add_metric([], live_worker_count())
            lateness.add_metric([], oldest_due_job_age_seconds())
            up.add_metric([], 1)
        except DatabaseError:
            logger.warning("metrics: database unavailable", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        yield from (jobs, workers, lateness, up)


_registered = False


def register_collectors() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(JobQueueCollector())
        _registered = True
