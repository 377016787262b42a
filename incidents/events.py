"""Every lifecycle event the incidents app publishes (DESIGN.md §2).

Subscribers (escalation, notifications) register in their AppConfig.ready() and run inside the
transaction that changed the incident: they should only record rows and defer jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from opsknight.events import Event


@dataclass(frozen=True)
class IncidentEvent(Event):
    incident_id: int
    organization_id: int
    actor_id: int | None


@dataclass(frozen=True)
class IncidentTriggered(IncidentEvent):
    """A new incident that should page. Not published for incidents born resolved."""

    urgency: str


@dataclass(frozen=True)
class IncidentAcknowledged(IncidentEvent):
    pass


@dataclass(frozen=True)
class IncidentUnacknowledged(IncidentEvent):
    """Back to triggered: escalation starts over from the current level."""


@dataclass(frozen=True)
class IncidentSnoozed(IncidentEvent):
    until: datetime


@dataclass(frozen=True)
class IncidentUnsnoozed(IncidentEvent):
    pass


@dataclass(frozen=True)
class IncidentResolved(IncidentEvent):
    pass


@dataclass(frozen=True)
class IncidentReopened(IncidentEvent):
    pass


@dataclass(frozen=True)
class IncidentReassigned(IncidentEvent):
    assignee_ids: tuple[int, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class IncidentUrgencyChanged(IncidentEvent):
    urgency: str


@dataclass(frozen=True)
class IncidentEscalationRequested(IncidentEvent):
    """A person asked to escalate now, to the next level."""
