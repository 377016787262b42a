"""The incident lifecycle, as the escalation engine and SLA clocks hear it.

Handlers run inside the transaction that changed the incident (opsknight.events): they only
update escalation rows and defer jobs, so a rolled-back change takes its escalation with it.
"""

from __future__ import annotations

from escalation import engine, sla
from escalation.models import EscalationStatus
from escalation.selectors import trigger_context
from incidents import events
from incidents.models import Incident
from opsknight import jobqueue
from opsknight.events import subscribe

UNSNOOZE = "escalation.unsnooze"


def _incident(incident_id: int) -> Incident:
    return Incident.objects.select_related("service").get(pk=incident_id)


def on_triggered(event: events.IncidentTriggered) -> None:
    context = trigger_context(incident_id=event.incident_id)
    engine.escalation_start(context)
    sla.sla_start(context)


def on_acknowledged(event: events.IncidentAcknowledged) -> None:
    engine.escalation_stop(incident_id=event.incident_id, why=EscalationStatus.ACKNOWLEDGED)
    sla.sla_acknowledged(incident_id=event.incident_id)


def on_unacknowledged(event: events.IncidentUnacknowledged) -> None:
    engine.escalation_resume(incident_id=event.incident_id)


def on_snoozed(event: events.IncidentSnoozed) -> None:
    engine.escalation_stop(incident_id=event.incident_id, why=EscalationStatus.SNOOZED)
    sla.sla_paused(incident_id=event.incident_id)
    # A job at the snooze's end, not a table polled for expired snoozes. A later snooze or
    # an unsnooze by hand makes this one a no-op: it checks the incident's snoozed_until.
    jobqueue.defer(
        UNSNOOZE,
        queue=engine.QUEUE,
        schedule_at=event.until,
        incident_id=event.incident_id,
        until=event.until.isoformat(),
    )


def on_unsnoozed(event: events.IncidentUnsnoozed) -> None:
    engine.escalation_resume(incident_id=event.incident_id)
    sla.sla_resumed(incident_id=event.incident_id)


def on_resolved(event: events.IncidentResolved) -> None:
    engine.escalation_stop(incident_id=event.incident_id, why=EscalationStatus.RESOLVED)
    sla.sla_stopped(incident_id=event.incident_id)


def on_reopened(event: events.IncidentReopened) -> None:
    engine.escalation_restart(incident=_incident(event.incident_id))
    sla.sla_reopened(incident_id=event.incident_id)


def on_escalation_requested(event: events.IncidentEscalationRequested) -> None:
    engine.escalation_jump(incident=_incident(event.incident_id))


def on_urgency_changed(event: events.IncidentUrgencyChanged) -> None:
    sla.sla_retarget(incident_id=event.incident_id)


SUBSCRIPTIONS = (
    (events.IncidentTriggered, on_triggered),
    (events.IncidentAcknowledged, on_acknowledged),
    (events.IncidentUnacknowledged, on_unacknowledged),
    (events.IncidentSnoozed, on_snoozed),
    (events.IncidentUnsnoozed, on_unsnoozed),
    (events.IncidentResolved, on_resolved),
    (events.IncidentReopened, on_reopened),
    (events.IncidentEscalationRequested, on_escalation_requested),
    (events.IncidentUrgencyChanged, on_urgency_changed),
)


def register() -> None:
    for event_type, handler in SUBSCRIPTIONS:
        subscribe(event_type, handler)
