"""Edits and removals of schedules and layers; creating them lives in `oncall.services`.

Apart from `oncall.services` only to keep both modules small. As there, every change to who is
on call is audited: `actor` is the person, `actor_label` names a non-person (an API key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from oncall.models import Layer, LayerRestriction, LayerSource, Schedule
from oncall.services import RestrictionInput, layer_set_participants, restrictions_add
from opsknight.models import User
from opsknight.services import audit_record

SCHEDULE_FIELDS = frozenset({"name", "time_zone", "team", "description"})
LAYER_FIELDS = frozenset(
    {
        "name",
        "priority",
        "start",
        "end",
        "rotation_type",
        "rotation_length",
        "rotation_unit",
        "handoff_time",
        "shift_length",
    }
)
# An imported calendar says who is on call and when; only the layer's place may change.
IMPORTED_LAYER_FIELDS = frozenset({"name", "priority", "start", "end"})
IMPORTED = "An imported calendar layer takes its people and times from the calendar."


def _apply(
    instance: models.Model, changes: Mapping[str, Any], allowed: frozenset[str]
) -> list[str]:
    """Set the fields that differ and return their names, sorted.

    Unknown names are a caller's bug, not bad input: the API refuses them before this.
    """
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"Not editable here: {', '.join(sorted(unknown))}.")
    changed = sorted(name for name, value in changes.items() if getattr(instance, name) != value)
    for name in changed:
        setattr(instance, name, changes[name])
    return changed


@transaction.atomic
def schedule_update(
    *,
    schedule: Schedule,
    changes: Mapping[str, Any],
    actor: User | None = None,
    actor_label: str = "",
) -> Schedule:
    """Change a schedule's name, time zone, team or description; audited when anything changed."""
    schedule = (
        Schedule.objects.select_for_update().select_related("organization").get(pk=schedule.pk)
    )
    team = changes.get("team")
    if team is not None and team.organization_id != schedule.organization_id:
        raise ValidationError({"team": "The team belongs to another organization."})
    changed = _apply(schedule, changes, SCHEDULE_FIELDS)
    if changed:
        schedule.full_clean()
        schedule.save()
        audit_record(
            action="schedule.changed",
            organization=schedule.organization,
            actor=actor,
            actor_label=actor_label,
            target=schedule,
            data={"fields": changed},
        )
    return schedule


@transaction.atomic
def schedule_delete(
    *, schedule: Schedule, actor: User | None = None, actor_label: str = ""
) -> None:
    """Delete a schedule with its layers, overrides, swaps and calendar feeds (their URLs stop).

    Audited first, while the schedule still has its id.
    """
    audit_record(
        action="schedule.deleted",
        organization=schedule.organization,
        actor=actor,
        actor_label=actor_label,
        target=schedule,
        data={"name": schedule.name},
    )
    schedule.delete()


def _as_input(restriction: LayerRestriction) -> RestrictionInput:
    return RestrictionInput(
        kind=restriction.kind,
        days=tuple(restriction.days),
        start_weekday=restriction.start_weekday,
        start_time=restriction.start_time,
        end_weekday=restriction.end_weekday,
        end_time=restriction.end_time,
    )


def _replace_restrictions(layer: Layer, restrictions: Sequence[RestrictionInput]) -> bool:
    """Make the layer's windows exactly these; False when they already were."""
    if [_as_input(r) for r in layer.restrictions.all()] == list(restrictions):
        return False
    layer.restrictions.all().delete()
    restrictions_add(layer=layer, restrictions=restrictions)
    return True


@transaction.atomic
def layer_update(
    *,
    layer: Layer,
    changes: Mapping[str, Any],
    participants: Sequence[User] | None = None,
    restrictions: Sequence[RestrictionInput] | None = None,
    actor: User | None = None,
    actor_label: str = "",
) -> Layer:
    """Change a layer's fields; `participants` and `restrictions`, when given, replace them.

    One transaction: a bad restriction or participant leaves the layer as it was. An imported
    calendar layer may only be renamed, reprioritized or moved in time.
    """
    layer = (
        Layer.objects.select_for_update().select_related("schedule__organization").get(pk=layer.pk)
    )
    if layer.source == LayerSource.ICAL:
        refused = sorted(set(changes) - IMPORTED_LAYER_FIELDS)
        refused += [
            name
            for name, given in (("participants", participants), ("restrictions", restrictions))
            if given is not None
        ]
        if refused:
            raise ValidationError(dict.fromkeys(refused, IMPORTED))
    changed = _apply(layer, changes, LAYER_FIELDS)
    if changed:
        layer.full_clean()
        layer.save()
    if participants is not None:
        before = list(layer.participants.values_list("user_id", flat=True))
        if before != [user.pk for user in participants]:
            layer_set_participants(layer=layer, users=participants, actor=None)
            changed.append("participants")
    if restrictions is not None and _replace_restrictions(layer, restrictions):
        changed.append("restrictions")
    if changed:
        audit_record(
            action="schedule.layer.changed",
            organization=layer.schedule.organization,
            actor=actor,
            actor_label=actor_label,
            target=layer,
            data={
                "schedule": layer.schedule_id,
                "fields": changed,
                "participants": list(layer.participants.values_list("user_id", flat=True)),
            },
        )
    return layer


@transaction.atomic
def layer_delete(*, layer: Layer, actor: User | None = None, actor_label: str = "") -> None:
    """Delete a layer with its people and windows; audited first, while it has its id."""
    audit_record(
        action="schedule.layer.deleted",
        organization=layer.schedule.organization,
        actor=actor,
        actor_label=actor_label,
        target=layer,
        data={"schedule": layer.schedule_id, "name": layer.name},
    )
    layer.delete()
