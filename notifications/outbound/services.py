"""Writes of outbound destinations: creating one, and recording what an incident event owes
each destination (one delivery row and one job per matching destination)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from incidents.models import Incident, IncidentEvent, Service
from notifications.models import OutboundDelivery, OutboundDestination, OutboundStatus
from notifications.services import QUEUE, SENDING_STUCK, lost_jobs_requeue
from opsknight import jobqueue
from opsknight.models import Organization

logger = logging.getLogger(__name__)

POST_OUTBOUND = "notifications.post_outbound"


def defer_post(delivery: OutboundDelivery) -> int:
    """Queue the post job at the row's due time, in the caller's transaction."""
    return jobqueue.defer(
        POST_OUTBOUND, queue=QUEUE, schedule_at=delivery.due_at, delivery_id=delivery.pk
    )


@transaction.atomic
def outbound_destination_create(
    *,
    organization: Organization,
    name: str,
    kind: str,
    url: str = "",
    channel_id: str = "",
    secret: str = "",
    services: Sequence[Service] = (),
    events: Sequence[str] | None = None,
    enabled: bool = True,
) -> OutboundDestination:
    """Add a destination; its URLs are checked against the SSRF guard before it is saved."""
    if any(service.organization_id != organization.pk for service in services):
        raise ValidationError({"services": "Choose services of the same organization."})
    destination = OutboundDestination(
        organization=organization,
        name=name,
        kind=kind,
        url=url,
        channel_id=channel_id,
        enabled=enabled,
    )
    if events is not None:
        destination.events = list(events)
    destination.set_secret(secret)
    destination.full_clean()
    destination.save()
    destination.services.set(services)
    return destination


def _snapshot(incident: Incident) -> dict[str, object]:
    return {
        "id": incident.pk,
        "number": incident.number,
        "title": incident.title,
        "status": incident.status,
        "urgency": incident.urgency,
        "service": incident.service.name,
        "url": f"{settings.BASE_URL}/incidents/{incident.pk}/",
    }


def outbound_deliveries_record(
    *, event: str, incident_id: int, organization_id: int
) -> list[OutboundDelivery]:
    """One delivery row per enabled destination of the organization that wants this event for
    this incident's service. Defers: one notifications.post_outbound job per row.

    Runs inside the transaction that changed the incident (a lifecycle subscriber), so rows
    and jobs commit or roll back with the change. Costs one query when the organization has
    no destination for the event, the usual case on the trigger hot path.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbound_deliveries_record must run inside the caller's transaction")
    destinations = list(
        OutboundDestination.objects.filter(
            organization_id=organization_id, enabled=True, events__contains=[event]
        ).prefetch_related(Prefetch("services", queryset=Service.objects.only("pk")))
    )
    if not destinations:
        return []
    incident = Incident.objects.select_related("service").get(pk=incident_id)
    wanted = [
        destination
        for destination in destinations
        if not destination.services.all()
        or any(service.pk == incident.service_id for service in destination.services.all())
    ]
    if not wanted:
        return []
    # The timeline row the incidents service wrote just before publishing (the incident row
    # is locked, so the newest of its kind is this event's).
    timeline = (
        IncidentEvent.objects.filter(incident_id=incident_id, kind=event).order_by("-id").first()
    )
    if timeline is None:
        # Never expected; a missing chat post must not undo the lifecycle change itself.
        logger.error("no %s timeline row for incident %s: not posted", event, incident_id)
        return []
    done = set(
        OutboundDelivery.objects.filter(timeline_event=timeline).values_list(
            "destination_id", flat=True
        )
    )
    now = timezone.now()
    snapshot = _snapshot(incident)
    rows = OutboundDelivery.objects.bulk_create(
        [
            OutboundDelivery(
                destination=destination,
                incident_id=incident_id,
                timeline_event=timeline,
                event=event,
                occurred_at=timeline.created_at,
                incident_snapshot=snapshot,
                due_at=now,
                created_at=now,
                updated_at=now,
            )
            for destination in wanted
            if destination.pk not in done
        ]
    )
    for row in rows:
        defer_post(row)
    return rows


def outbound_overdue_requeue(*, due_before: datetime, limit: int = 500) -> list[OutboundDelivery]:
    """Posts still PENDING well past their time whose job is gone, or stuck SENDING (their
    worker died): queue a new job for each, as overdue_deliveries_requeue does for pages.
    The job run again fails a SENDING row as "outcome unknown" rather than posting twice."""
    overdue = OutboundDelivery.objects.filter(
        Q(status=OutboundStatus.PENDING, due_at__lt=due_before)
        | Q(status=OutboundStatus.SENDING, updated_at__lt=due_before - SENDING_STUCK)
    )
    return lost_jobs_requeue(
        overdue, task=POST_OUTBOUND, key="delivery_id", defer=defer_post, limit=limit
    )
