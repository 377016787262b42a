"""The incident lifecycle, as outbound destinations hear it.

Handlers run inside the transaction that changed the incident (opsknight.events): they only
write delivery rows and defer jobs, so a rolled-back change posts nothing anywhere.
"""

from __future__ import annotations

from incidents import events
from notifications.models import OutboundEvent
from notifications.outbound.services import outbound_deliveries_record
from opsknight.events import subscribe

EVENTS: dict[type[events.IncidentEvent], OutboundEvent] = {
    events.IncidentTriggered: OutboundEvent.TRIGGERED,
    events.IncidentAcknowledged: OutboundEvent.ACKNOWLEDGED,
    events.IncidentUnacknowledged: OutboundEvent.UNACKNOWLEDGED,
    events.IncidentEscalationRequested: OutboundEvent.ESCALATED,
    events.IncidentResolved: OutboundEvent.RESOLVED,
    events.IncidentReopened: OutboundEvent.REOPENED,
}


def on_incident_event(event: events.IncidentEvent) -> None:
    """Record and queue the posts this event owes the organization's destinations."""
    kind = EVENTS.get(type(event))
    if kind is None:
        return
    outbound_deliveries_record(
        event=kind, incident_id=event.incident_id, organization_id=event.organization_id
    )


def register() -> None:
    for event_type in EVENTS:
        subscribe(event_type, on_incident_event)
