"""The escalation section of the incident page: what was paged, and what comes next.

The incident page (incidents/incident_detail.html) loads it with htmx: incidents sits below
escalation and may not render escalation data itself, so the page only knows this URL. Access
is the incident page's: the tenant-scoped selector (another tenant's incident is a 404) and
the incident view permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from escalation.selectors import EscalationPath, incident_escalation_path
from incidents.models import EventKind, IncidentEvent
from incidents.selectors import incident_for_user
from opsknight.models import User
from opsknight.permissions import Action, require

UPCOMING_SHOWN = 20


@dataclass(frozen=True)
class HistoryRow:
    event: IncidentEvent
    level: int | None
    paged: tuple[str, ...]  # emails of the people the page reached
    due_at: datetime | None
    started_at: datetime | None
    notes: tuple[str, ...]

    @property
    def is_page(self) -> bool:
        return self.event.kind == EventKind.ESCALATED and self.level is not None


@dataclass(frozen=True)
class UpcomingRow:
    due_at: datetime
    level: int
    loop: int
    round_robin_turn: int | None
    targets: tuple[str, ...]
    high_urgency_only: bool


def _instant(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _history(events: list[IncidentEvent]) -> list[HistoryRow]:
    # A page by hand ("escalation requested") is an escalated row without the engine's data.
    ids = {uid for event in events for uid in event.data.get("user_ids") or ()}
    emails = dict(User.objects.filter(pk__in=ids).values_list("pk", "email"))
    return [
        HistoryRow(
            event=event,
            level=event.data.get("level"),
            paged=tuple(emails.get(uid, f"user {uid}") for uid in event.data.get("user_ids") or ()),
            due_at=_instant(event.data.get("due_at")),
            started_at=_instant(event.data.get("started_at")),
            notes=tuple(event.data.get("notes") or ()),
        )
        for event in events
    ]


def _target_name(target: dict[str, Any]) -> str:
    name = target.get("name") or f"#{target.get('id')}"
    if target.get("type") == "team":
        return f"team {name}" + (" (lead)" if target.get("lead_only") else "")
    if target.get("type") == "schedule":
        return f"schedule {name}"
    return name


def _upcoming(path: EscalationPath) -> list[UpcomingRow]:
    steps = path.snapshot.get("steps", [])
    return [
        UpcomingRow(
            due_at=upcoming.due_at,
            level=upcoming.page.level,
            loop=upcoming.page.loop,
            round_robin_turn=upcoming.page.round_robin_turn,
            targets=tuple(_target_name(target) for target in upcoming.page.targets),
            high_urgency_only=bool(steps[upcoming.page.step].get("high_urgency_only")),
        )
        for upcoming in path.upcoming[:UPCOMING_SHOWN]
    ]


@login_required
@require_GET
def incident_escalation(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = incident_for_user(request.user, incident_id)
    require(request.user, incident.organization_id, Action.INCIDENT_VIEW)
    path = incident_escalation_path(incident_id=incident.pk)
    return render(
        request,
        "escalation/incident_escalation.html",
        {
            "incident": incident,
            "path": path,
            "history": _history(path.history) if path else [],
            "upcoming": _upcoming(path) if path else [],
            "more_upcoming": max(0, len(path.upcoming) - UPCOMING_SHOWN) if path else 0,
        },
    )
