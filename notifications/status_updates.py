"""Status updates: telling the people paged about an incident that it was acknowledged or
resolved (GoAlert's "alert status updates"), so nobody gets up for something already handled.

Opt-in per contact method (`ContactMethod.status_updates`). Only addresses a page actually
reached hear it, never the person who acted, and never by voice call. Written inside the
incident's transaction, like every subscriber: a rolled-back acknowledgement tells nobody.
"""

from __future__ import annotations

from django.utils import timezone

from incidents import events
from notifications.models import Channel, DeliveryStatus, Notification, Reason
from notifications.services import defer_delivery
from opsknight.events import subscribe

REASONS = {
    events.IncidentAcknowledged: Reason.ACKNOWLEDGEMENT,
    events.IncidentResolved: Reason.RESOLUTION,
}
SILENT_CHANNELS = (Channel.VOICE,)  # a phone call to say "never mind" would wake them anyway


def status_updates_record(*, incident_id: int, reason: Reason, actor_id: int | None) -> int:
    """One update per address that was paged about the incident and asked for updates.
    Returns how many were queued."""
    reached = (
        Notification.objects.filter(
            incident_id=incident_id,
            reason=Reason.ESCALATION,
            status__in=(DeliveryStatus.SENT, DeliveryStatus.DELIVERED),
            contact_method__status_updates=True,
            contact_method__verified_at__isnull=False,
            contact_method__opted_out_at__isnull=True,
        )
        .exclude(channel__in=SILENT_CHANNELS)
        .values_list("user_id", "channel", "address", "contact_method_id")
        .distinct()
    )
    now = timezone.now()
    rows = [
        Notification(
            reason=reason,
            incident_id=incident_id,
            user_id=user_id,
            channel=channel,
            address=address,
            contact_method_id=method_id,
            due_at=now,
        )
        for user_id, channel, address, method_id in reached
        if user_id != actor_id
    ]
    for row in Notification.objects.bulk_create(rows):
        defer_delivery(row)
    return len(rows)


def on_status_change(event: events.IncidentEvent) -> None:
    status_updates_record(
        incident_id=event.incident_id, reason=REASONS[type(event)], actor_id=event.actor_id
    )


def register() -> None:
    for event_type in REASONS:
        subscribe(event_type, on_status_change)
