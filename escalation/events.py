"""Events the escalation app publishes, for the apps above it (integrations: Slack, webhooks)."""

from __future__ import annotations

from dataclasses import dataclass

from opsknight.events import Event


@dataclass(frozen=True)
class SlaEvent(Event):
    incident_id: int
    organization_id: int
    target: str  # "acknowledge" or "resolve"
    target_minutes: int


@dataclass(frozen=True)
class SlaWarning(SlaEvent):
    minutes_left: int


@dataclass(frozen=True)
class SlaBreached(SlaEvent):
    pass


@dataclass(frozen=True)
class IncidentEscalated(Event):
    incident_id: int
    organization_id: int
    level: int
    user_ids: tuple[int, ...]
