"""Prometheus gauges of the escalation engine's health, read from the database at scrape time
(the auditor runs in workers, /metrics is served by web processes)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from escalation.auditor import DELIVERY_OVERDUE_AFTER, OVERDUE_AFTER, UNDELIVERED_AFTER
from escalation.models import AuditFinding, EscalationState, EscalationStatus
from notifications.selectors import overdue_deliveries, undelivered_requests

logger = logging.getLogger(__name__)


class EscalationCollector(Collector):
    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "opsknight_escalation_steps_overdue",
                f"Escalation pages due more than {OVERDUE_AFTER.seconds} s ago that have not run.",
            ),
            GaugeMetricFamily(
                "opsknight_notification_requests_undelivered",
                f"Notification requests older than {UNDELIVERED_AFTER.seconds} s "
                "that no delivery took up.",
            ),
            GaugeMetricFamily(
                "opsknight_notification_deliveries_overdue",
                f"Deliveries due more than {DELIVERY_OVERDUE_AFTER.seconds} s ago, not yet sent.",
            ),
            GaugeMetricFamily(
                "opsknight_escalation_auditor_findings",
                "Findings the escalation auditor recorded, by kind and whether it repaired them.",
                labels=["kind", "repaired"],
            ),
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        overdue, undelivered, late_deliveries, findings = self._families()
        now = timezone.now()
        try:
            overdue.add_metric(
                [],
                EscalationState.objects.filter(
                    status=EscalationStatus.ESCALATING, due_at__lt=now - OVERDUE_AFTER
                ).count(),
            )
            undelivered.add_metric(
                [], undelivered_requests(older_than=now - UNDELIVERED_AFTER).count()
            )
            late_deliveries.add_metric(
                [], overdue_deliveries(due_before=now - DELIVERY_OVERDUE_AFTER).count()
            )
            rows = AuditFinding.objects.values("kind", "repaired").annotate(n=Count("id"))
            for row in rows.order_by("kind", "repaired"):
                findings.add_metric([row["kind"], str(row["repaired"]).lower()], row["n"])
        except DatabaseError:
            logger.warning("metrics: database unavailable", exc_info=True)
            return
        yield from (overdue, undelivered, late_deliveries, findings)


_registered = False


def register_collectors() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(EscalationCollector())
        _registered = True
