"""Closing delivery records, and whether a page is still wanted: shared by the delivery
steps and by digests (the pages that ride along in another's message)."""

from __future__ import annotations

from django.utils import timezone

from incidents.models import EventKind, IncidentEvent, Status
from notifications.models import FINISHED, DeliveryStatus, Notification, Reason, RequestStatus


def unwanted(notification: Notification) -> str:
    """Why the page is no longer wanted, or "" if it still is."""
    incident = notification.incident
    if notification.reason != Reason.ESCALATION:  # a status update, a test, a code
        return ""
    if incident.status in (Status.RESOLVED, Status.SNOOZED):
        return f"incident {incident.status}"
    # Acknowledged after the page was asked for. (A page asked for while acknowledged was an
    # explicit "escalate now": it goes.)
    if incident.status == Status.ACKNOWLEDGED and (
        IncidentEvent.objects.filter(
            incident_id=incident.pk,
            kind=EventKind.ACKNOWLEDGED,
            created_at__gte=notification.request.created_at,
        ).exists()
    ):
        return "incident acknowledged"
    return ""


def finish_request(notification: Notification) -> None:
    request = notification.request
    if request is None:
        return
    open_ = request.deliveries.exclude(status__in=FINISHED).exclude(pk=notification.pk)
    if not open_.exists():
        request.status = RequestStatus.DONE
        request.save(update_fields=["status"])


def close(notification: Notification, status: DeliveryStatus, error: str = "", *also: str) -> None:
    """Finish the row (saving `also`, fields the caller set, in the same UPDATE)."""
    notification.status, notification.error = status, error[:2000]
    notification.updated_at = timezone.now()
    notification.save(update_fields=["status", "error", "updated_at", *also])
    finish_request(notification)
