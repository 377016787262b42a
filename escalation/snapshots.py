"""Freezing a policy into the JSON an incident keeps for its whole life (like Grafana OnCall).

Targets keep their ids and, for display, the names they had at trigger time; who they mean
is decided when each step runs (`escalation.targets`).
"""

from __future__ import annotations

from typing import Any

from escalation.models import EscalationPolicy, EscalationStep
from escalation.plan import Snapshot

SNAPSHOT_VERSION = 1


def _targets_by_step(steps: list[EscalationStep]) -> dict[int, list[dict[str, Any]]]:
    """Each step's targets: users, then teams, then schedules, each in the order they were
    added (the through rows' ids). That order is the round-robin order."""
    lead_only = {step.pk: step.team_lead_only for step in steps}
    targets: dict[int, list[dict[str, Any]]] = {step.pk: [] for step in steps}
    users = EscalationStep.users.through.objects.filter(escalationstep_id__in=lead_only)
    for row in users.select_related("user").order_by("id"):
        targets[row.escalationstep_id].append(
            {"type": "user", "id": row.user_id, "name": row.user.email}
        )
    teams = EscalationStep.teams.through.objects.filter(escalationstep_id__in=lead_only)
    for row in teams.select_related("team").order_by("id"):
        targets[row.escalationstep_id].append(
            {
                "type": "team",
                "id": row.team_id,
                "name": row.team.name,
                "lead_only": lead_only[row.escalationstep_id],
            }
        )
    schedules = EscalationStep.schedules.through.objects.filter(escalationstep_id__in=lead_only)
    for row in schedules.select_related("schedule").order_by("id"):
        targets[row.escalationstep_id].append(
            {"type": "schedule", "id": row.schedule_id, "name": row.schedule.name}
        )
    return targets


def snapshot_policy(policy: EscalationPolicy) -> Snapshot:
    steps = list(policy.steps.order_by("position", "id"))
    targets = _targets_by_step(steps)
    return {
        "version": SNAPSHOT_VERSION,
        "policy_id": policy.pk,
        "name": policy.name,
        "repeat_count": policy.repeat_count,
        "repeat_after_minutes": policy.repeat_after_minutes,
        "steps": [
            {
                "id": step.pk,
                "delay_minutes": step.delay_minutes,
                "targets": targets[step.pk],
                "channels": list(step.channels),
                "high_urgency_only": step.high_urgency_only,
                "round_robin": step.round_robin,
                "round_robin_minutes": step.round_robin_minutes,
            }
            for step in steps
        ],
    }
