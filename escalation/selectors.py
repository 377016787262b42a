"""Reads of escalation data: policies of an organization, and an incident's escalation path."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from escalation.models import EscalationPolicy, EscalationState, EscalationStatus, EscalationStep
from escalation.plan import Page, plan
from incidents.models import EventKind, IncidentEvent
from opsknight.models import Organization


def organization_policies(*, organization: Organization) -> QuerySet[EscalationPolicy]:
    return EscalationPolicy.objects.filter(organization=organization).prefetch_related(
        "steps__users", "steps__teams", "steps__schedules"
    )


def policy_steps(*, policy: EscalationPolicy) -> QuerySet[EscalationStep]:
    return policy.steps.prefetch_related("users", "teams", "schedules").order_by("position", "id")


@dataclass(frozen=True)
class UpcomingPage:
    page: Page
    due_at: datetime


@dataclass
class EscalationPath:
    """What already happened (the timeline's escalation rows) and what comes next, with times."""

    status: str
    status_label: str
    policy_name: str
    generation: int
    history: list[IncidentEvent] = field(default_factory=list)
    upcoming: list[UpcomingPage] = field(default_factory=list)
    snapshot: dict[str, Any] = field(default_factory=dict)


def incident_escalation_path(*, incident_id: int) -> EscalationPath | None:
    state = EscalationState.objects.filter(pk=incident_id).first()
    if state is None:
        return None
    history = list(
        IncidentEvent.objects.filter(
            incident_id=incident_id,
            kind__in=[EventKind.ESCALATED, EventKind.ESCALATION_NOTE],
        ).order_by("created_at", "id")
    )
    upcoming: list[UpcomingPage] = []
    if state.status == EscalationStatus.ESCALATING and state.due_at is not None:
        pages = plan(state.snapshot)
        due = state.due_at
        for page in pages[state.cursor :]:
            if page.index > state.cursor:
                due = due + page.wait
            upcoming.append(UpcomingPage(page, due))
    return EscalationPath(
        status=state.status,
        status_label=EscalationStatus(state.status).label,
        policy_name=state.snapshot.get("name", ""),
        generation=state.generation,
        history=history,
        upcoming=upcoming,
        snapshot=state.snapshot,
    )
