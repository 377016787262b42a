"""Writes of escalation configuration: policies, their steps, and which policy a service uses.

Every check that needs the database lives here, so the API and the admin refuse the same
things: a step with no one to page, delays out of range, people, teams or schedules of another
organization. Every change is audited. In-flight incidents are untouched by any of it: they
run on the snapshot frozen when they triggered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from escalation.models import (
    MAX_DELAY_MINUTES,
    MAX_REPEATS,
    MAX_STEPS,
    MAX_TARGETS_PER_STEP,
    EscalationPolicy,
    EscalationStep,
    ServiceEscalation,
)
from escalation.snapshots import snapshot_policy
from incidents.models import Service
from notifications.models import Channel
from oncall.models import Schedule, Team
from opsknight.models import Membership, Organization, User
from opsknight.services import audit_record

POLICY_FIELDS = frozenset({"name", "description", "repeat_count", "repeat_after_minutes"})


@dataclass
class StepInput:
    delay_minutes: int = 0
    user_ids: list[int] = field(default_factory=list)
    team_ids: list[int] = field(default_factory=list)
    schedule_ids: list[int] = field(default_factory=list)
    team_lead_only: bool = False
    channels: list[str] = field(default_factory=list)
    high_urgency_only: bool = False
    round_robin: bool = False
    round_robin_minutes: int = 5

    @classmethod
    def from_step(cls, step: EscalationStep) -> StepInput:
        def added(relation: str, field: str) -> list[int]:
            # The through rows' order, which is the round-robin order; not the models' own.
            through = getattr(EscalationStep, relation).through
            rows = through.objects.filter(escalationstep_id=step.pk).order_by("id")
            return list(rows.values_list(f"{field}_id", flat=True))

        return cls(
            delay_minutes=step.delay_minutes,
            user_ids=added("users", "user"),
            team_ids=added("teams", "team"),
            schedule_ids=added("schedules", "schedule"),
            team_lead_only=step.team_lead_only,
            channels=list(step.channels),
            high_urgency_only=step.high_urgency_only,
            round_robin=step.round_robin,
            round_robin_minutes=step.round_robin_minutes,
        )


@dataclass(frozen=True)
class Who:
    """Who made a change: a person, or a label for a non-person (an API key)."""

    user: User | None = None
    label: str = ""


def _strangers(model: Any, organization: Organization, ids: Sequence[int]) -> list[int]:
    found = set(
        model.objects.filter(organization=organization, pk__in=ids).values_list("pk", flat=True)
    )
    return sorted(set(ids) - found)


def validate_step(organization: Organization, step: StepInput, prefix: str = "") -> None:
    errors: dict[str, str] = {}
    targets = len(step.user_ids) + len(step.team_ids) + len(step.schedule_ids)
    if targets == 0:
        errors[f"{prefix}targets"] = "A step needs at least one user, team or schedule to page."
    elif targets > MAX_TARGETS_PER_STEP:
        errors[f"{prefix}targets"] = f"A step pages at most {MAX_TARGETS_PER_STEP} targets."
    if not 0 <= step.delay_minutes <= MAX_DELAY_MINUTES:
        errors[f"{prefix}delay_minutes"] = f"Between 0 and {MAX_DELAY_MINUTES} minutes."
    if not 1 <= step.round_robin_minutes <= MAX_DELAY_MINUTES:
        errors[f"{prefix}round_robin_minutes"] = f"Between 1 and {MAX_DELAY_MINUTES} minutes."
    unknown = sorted(set(step.channels) - set(Channel.values))
    if unknown:
        errors[f"{prefix}channels"] = f"Unknown channels {unknown}; choose from {Channel.values}."
    members = set(
        Membership.objects.filter(organization=organization, user_id__in=step.user_ids).values_list(
            "user_id", flat=True
        )
    )
    outsiders = sorted(set(step.user_ids) - members)
    if outsiders:
        errors[f"{prefix}users"] = f"Not members of this organization: {outsiders}."
    if teams := _strangers(Team, organization, step.team_ids):
        errors[f"{prefix}teams"] = f"No such teams in this organization: {teams}."
    if schedules := _strangers(Schedule, organization, step.schedule_ids):
        errors[f"{prefix}schedules"] = f"No such schedules in this organization: {schedules}."
    if errors:
        raise ValidationError(errors)


def _validate_policy(policy: EscalationPolicy) -> None:
    errors: dict[str, str] = {}
    if not 0 <= policy.repeat_count <= MAX_REPEATS:
        errors["repeat_count"] = f"Between 0 and {MAX_REPEATS}."
    if not 1 <= policy.repeat_after_minutes <= MAX_DELAY_MINUTES:
        errors["repeat_after_minutes"] = f"Between 1 and {MAX_DELAY_MINUTES} minutes."
    if errors:
        raise ValidationError(errors)
    policy.full_clean(exclude=["organization"])


def _save_named(policy: EscalationPolicy) -> None:
    """Save; a concurrent request that took the same name first is a validation error."""
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError as exc:
        if "escalation_policy_name_unique" not in str(exc):
            raise
        raise ValidationError({"name": "A policy with this name already exists."}) from exc


def _write_step(step: EscalationStep, data: StepInput) -> None:
    for name in (
        "delay_minutes",
        "team_lead_only",
        "channels",
        "high_urgency_only",
        "round_robin",
        "round_robin_minutes",
    ):
        setattr(step, name, getattr(data, name))
    step.save()
    # Cleared and re-added in the given order: the through rows' ids are the round-robin order.
    for relation, ids in (
        (step.users, data.user_ids),
        (step.teams, data.team_ids),
        (step.schedules, data.schedule_ids),
    ):
        relation.clear()
        for pk in dict.fromkeys(ids):
            relation.add(pk)


def _replace_steps(policy: EscalationPolicy, steps: Sequence[StepInput]) -> None:
    if len(steps) > MAX_STEPS:
        raise ValidationError({"steps": f"A policy has at most {MAX_STEPS} steps."})
    for number, step in enumerate(steps):
        validate_step(policy.organization, step, prefix=f"steps[{number}].")
    policy.steps.all().delete()
    for number, step in enumerate(steps):
        _write_step(EscalationStep(policy=policy, position=number), step)


def _audit(action: str, policy: EscalationPolicy, who: Who, data: dict[str, Any]) -> None:
    """Record the change, and refresh the snapshot new incidents copy (every write audits)."""
    policy.snapshot = snapshot_policy(policy)
    policy.updated_at = timezone.now()
    policy.save(update_fields=["snapshot", "updated_at"])
    audit_record(
        action=action,
        organization=policy.organization,
        actor=who.user,
        actor_label=who.label,
        target=policy,
        data=data,
    )


@transaction.atomic
def policy_create(
    *,
    organization: Organization,
    name: str,
    steps: Sequence[StepInput],
    description: str = "",
    repeat_count: int = 0,
    repeat_after_minutes: int = 15,
    who: Who = Who(),
) -> EscalationPolicy:
    policy = EscalationPolicy(
        organization=organization,
        name=name,
        description=description,
        repeat_count=repeat_count,
        repeat_after_minutes=repeat_after_minutes,
    )
    _validate_policy(policy)
    if EscalationPolicy.objects.filter(organization=organization, name=name).exists():
        raise ValidationError({"name": "A policy with this name already exists."})
    _save_named(policy)
    _replace_steps(policy, steps)
    _audit("escalation_policy.created", policy, who, {"name": name, "steps": len(steps)})
    return policy


@transaction.atomic
def policy_update(
    *,
    policy: EscalationPolicy,
    changes: Mapping[str, Any],
    steps: Sequence[StepInput] | None = None,
    who: Who = Who(),
) -> EscalationPolicy:
    """Change fields and, when `steps` is given, replace every step with those."""
    policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
    unknown = set(changes) - POLICY_FIELDS
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}.")
    changed = sorted(name for name, value in changes.items() if getattr(policy, name) != value)
    for name in changed:
        setattr(policy, name, changes[name])
    _validate_policy(policy)
    if (
        "name" in changed
        and EscalationPolicy.objects.filter(organization=policy.organization, name=policy.name)
        .exclude(pk=policy.pk)
        .exists()
    ):
        raise ValidationError({"name": "A policy with this name already exists."})
    policy.updated_at = timezone.now()
    _save_named(policy)
    if steps is not None:
        _replace_steps(policy, steps)
        changed.append("steps")
    if changed:
        _audit("escalation_policy.updated", policy, who, {"changed": changed})
    return policy


@transaction.atomic
def policy_delete(*, policy: EscalationPolicy, who: Who = Who()) -> None:
    # Locked first: service_policy_set locks the policy too, so a service cannot start using
    # it between this check and the delete.
    policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
    users = list(
        ServiceEscalation.objects.filter(policy=policy).values_list("service__name", flat=True)
    )
    if users:
        raise ValidationError(
            {"policy": f"Still used by services {sorted(users)}; give them another policy first."}
        )
    _audit("escalation_policy.deleted", policy, who, {"name": policy.name})
    policy.delete()


@transaction.atomic
def step_add(
    *, policy: EscalationPolicy, step: StepInput, position: int | None = None, who: Who = Who()
) -> EscalationStep:
    """Add a step at `position` (0-based; default: last); later steps move down one."""
    policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
    current = list(policy.steps.all())
    if len(current) >= MAX_STEPS:
        raise ValidationError({"steps": f"A policy has at most {MAX_STEPS} steps."})
    validate_step(policy.organization, step)
    position = len(current) if position is None else max(0, min(position, len(current)))
    for number, existing in enumerate(current):
        wanted = number if number < position else number + 1
        if existing.position != wanted:
            EscalationStep.objects.filter(pk=existing.pk).update(position=wanted)
    created = EscalationStep(policy=policy, position=position)
    _write_step(created, step)
    _audit("escalation_step.created", policy, who, {"step": created.pk, **asdict(step)})
    return created


@transaction.atomic
def step_update(
    *, step: EscalationStep, changes: Mapping[str, Any], who: Who = Who()
) -> EscalationStep:
    step = (
        EscalationStep.objects.select_for_update()
        .select_related("policy__organization")
        .get(pk=step.pk)
    )
    data = StepInput.from_step(step)
    unknown = set(changes) - set(asdict(data))
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}.")
    for name, value in changes.items():
        setattr(data, name, value)
    validate_step(step.policy.organization, data)
    _write_step(step, data)
    _audit(
        "escalation_step.updated", step.policy, who, {"step": step.pk, "changed": sorted(changes)}
    )
    return step


@transaction.atomic
def step_delete(*, step: EscalationStep, who: Who = Who()) -> None:
    policy = EscalationPolicy.objects.select_for_update().get(pk=step.policy_id)
    _audit("escalation_step.deleted", policy, who, {"step": step.pk})
    step.delete()
    for number, remaining in enumerate(policy.steps.all()):
        if remaining.position != number:
            EscalationStep.objects.filter(pk=remaining.pk).update(position=number)


@transaction.atomic
def service_policy_set(
    *,
    service: Service,
    policy: EscalationPolicy | None,
    sla_warning_minutes: int | None = None,
    who: Who = Who(),
) -> ServiceEscalation:
    if policy is not None and policy.organization_id != service.organization_id:
        raise ValidationError({"policy": "This policy belongs to another organization."})
    if policy is not None:
        # Waits for a delete of the policy in flight, then finds it gone: a clear error, not
        # a foreign-key failure at commit.
        policy = (
            EscalationPolicy.objects.select_for_update(no_key=True).filter(pk=policy.pk).first()
        )
        if policy is None:
            raise ValidationError({"policy": "This policy no longer exists."})
    link, _ = ServiceEscalation.objects.select_for_update().get_or_create(service=service)
    link.policy = policy
    if sla_warning_minutes is not None:
        link.sla_warning_minutes = sla_warning_minutes
    link.full_clean()
    link.save()
    audit_record(
        action="service.escalation_policy_set",
        organization=service.organization,
        actor=who.user,
        actor_label=who.label,
        target=service,
        data={"policy": policy.pk if policy else None},
    )
    return link
