"""Reads of escalation data: policies of an organization, and an incident's escalation path."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from escalation.models import (
    EscalationPolicy,
    EscalationState,
    EscalationStatus,
    EscalationStep,
    SlaTarget,
)
from escalation.plan import Page, plan
from escalation.targets import TargetResolver
from incidents.models import EventKind, Incident, IncidentEvent
from opsknight.models import Organization


def organization_policies(*, organization: Organization) -> QuerySet[EscalationPolicy]:
    """Policies with their steps and services; targets come from `step_targets`, which keeps
    the order they were added in (a prefetch of users would order them by email)."""
    return EscalationPolicy.objects.filter(organization=organization).prefetch_related(
        "steps", "service_links__service"
    )


def policy_steps(*, policy: EscalationPolicy) -> QuerySet[EscalationStep]:
    return policy.steps.order_by("position", "id")


def step_targets(step_ids: Iterable[int]) -> dict[int, dict[str, list[int]]]:
    """Each step's target ids, in the order they were added: the round-robin order."""
    ids = list(step_ids)
    targets: dict[int, dict[str, list[int]]] = {
        pk: {"users": [], "teams": [], "schedules": []} for pk in ids
    }
    for kind, relation, column in (
        ("users", EscalationStep.users, "user_id"),
        ("teams", EscalationStep.teams, "team_id"),
        ("schedules", EscalationStep.schedules, "schedule_id"),
    ):
        rows = relation.through.objects.filter(escalationstep_id__in=ids).order_by("id")
        for step_id, target_id in rows.values_list("escalationstep_id", column):
            targets[step_id][kind].append(target_id)
    return targets


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


DEFAULT_SLA_WARNING_MINUTES = 5


@dataclass(frozen=True)
class TriggerContext:
    """All a trigger needs to start escalation and SLA clocks, read in one query."""

    incident_id: int
    organization_id: int
    service_id: int
    created_at: datetime
    urgency: str
    policy_id: int | None
    snapshot: dict[str, Any]
    ack_minutes: int
    resolve_minutes: int
    warning_minutes: int


def trigger_context(*, incident_id: int) -> TriggerContext:
    """The incident, its service's targets, policy snapshot and SLA override, in one query:
    this runs on the ingestion hot path, once per new incident."""
    override = SlaTarget.objects.filter(
        service_escalation_id=OuterRef("service_id"), urgency=OuterRef("urgency")
    )
    row = (
        Incident.objects.filter(pk=incident_id)
        .annotate(
            ack_override=Subquery(override.values("ack_minutes")[:1]),
            resolve_override=Subquery(override.values("resolve_minutes")[:1]),
        )
        .values(
            "organization_id",
            "service_id",
            "created_at",
            "urgency",
            "service__ack_target_minutes",
            "service__resolve_target_minutes",
            "service__escalation__policy_id",
            "service__escalation__policy__snapshot",
            "service__escalation__sla_warning_minutes",
            "ack_override",
            "resolve_override",
        )
        .get()
    )
    warning = row["service__escalation__sla_warning_minutes"]
    return TriggerContext(
        incident_id=incident_id,
        organization_id=row["organization_id"],
        service_id=row["service_id"],
        created_at=row["created_at"],
        urgency=row["urgency"],
        policy_id=row["service__escalation__policy_id"],
        snapshot=row["service__escalation__policy__snapshot"] or {"steps": []},
        ack_minutes=row["ack_override"] or row["service__ack_target_minutes"],
        resolve_minutes=row["resolve_override"] or row["service__resolve_target_minutes"],
        warning_minutes=DEFAULT_SLA_WARNING_MINUTES if warning is None else warning,
    )


@dataclass(frozen=True)
class PolicyLevel:
    level: int
    delay_minutes: int
    user_ids: tuple[int, ...]


def policy_levels_at(
    *, organization: Organization, at: datetime
) -> list[tuple[EscalationPolicy, list[PolicyLevel]]]:
    """Who each level of each policy would page at `at` (PagerDuty's "on call by escalation
    level"): from the policies' current snapshots, in one resolver for all of them."""
    policies = list(EscalationPolicy.objects.filter(organization=organization))
    steps = [(policy, step) for policy in policies for step in policy.snapshot.get("steps", [])]
    resolver = TargetResolver(
        organization.pk, [target for _, step in steps for target in step["targets"]], [at]
    )
    levels: dict[int, list[PolicyLevel]] = {policy.pk: [] for policy in policies}
    for policy, step in steps:
        found = resolver.resolve(step["targets"], at)
        levels[policy.pk].append(
            PolicyLevel(len(levels[policy.pk]) + 1, step["delay_minutes"], tuple(found.user_ids))
        )
    return [(policy, levels[policy.pk]) for policy in policies]
