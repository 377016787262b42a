"""Escalation API shapes: policies and steps in and out, a service's policy, a dry run's pages.

A step looks the same going in and coming out:
{"id", "position", "delay_minutes", "users", "teams", "schedules", "team_lead_only",
"channels", "high_urgency_only", "round_robin", "round_robin_minutes"}; users, teams and
schedules are ids, in round-robin order. `id` is read-only (ignored when sent back), and a
step's `position` is its place in the list.

JSON types are taken at their word (a string delay is refused, never coerced), unknown keys
are refused by name, and errors inside a policy's steps are named like the services name them:
"steps[1].delay_minutes".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework import serializers

from escalation.dryrun import DryRunPage
from escalation.models import (
    MAX_DELAY_MINUTES,
    MAX_REPEATS,
    MAX_STEPS,
    MAX_TARGETS_PER_STEP,
    EscalationPolicy,
    EscalationStep,
)
from escalation.selectors import organization_policies
from escalation.services import StepInput
from notifications.models import Channel
from oncall.api.serializers import AwareDateTimeField
from oncall.api.write_serializers import IntegerOnlyField, StringField
from opsknight.api.serializers import StrictSerializer

_ID = {"min_value": 1, "max_value": 2**63 - 1}
# API names of a step's targets → StepInput's.
TARGET_FIELDS = {"users": "user_ids", "teams": "team_ids", "schedules": "schedule_ids"}


def instant(value: Any) -> str | None:
    return None if value is None else AwareDateTimeField().to_representation(value)


class BooleanOnlyField(serializers.BooleanField):
    """A JSON true or false; DRF's BooleanField would also take "yes", "0" and 1."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


def _target_ids() -> serializers.ListField:
    return serializers.ListField(
        child=IntegerOnlyField(**_ID), max_length=MAX_TARGETS_PER_STEP, default=list
    )


# --- out --------------------------------------------------------------------------------------


class StepSerializer(serializers.Serializer):
    """Context: `targets` ({step id: {"users": [ids], "teams": …, "schedules": …}})."""

    id = serializers.IntegerField(read_only=True)
    position = serializers.IntegerField(read_only=True)
    delay_minutes = serializers.IntegerField(read_only=True)
    users = serializers.SerializerMethodField()
    teams = serializers.SerializerMethodField()
    schedules = serializers.SerializerMethodField()
    team_lead_only = serializers.BooleanField(read_only=True)
    channels = serializers.ListField(child=serializers.CharField(), read_only=True)
    high_urgency_only = serializers.BooleanField(read_only=True)
    round_robin = serializers.BooleanField(read_only=True)
    round_robin_minutes = serializers.IntegerField(read_only=True)

    def _ids(self, step: EscalationStep, kind: str) -> list[int]:
        return list(self.context["targets"].get(step.pk, {}).get(kind, []))

    def get_users(self, step: EscalationStep) -> list[int]:
        return self._ids(step, "users")

    def get_teams(self, step: EscalationStep) -> list[int]:
        return self._ids(step, "teams")

    def get_schedules(self, step: EscalationStep) -> list[int]:
        return self._ids(step, "schedules")


class PolicySerializer(serializers.Serializer):
    """Steps and service links come prefetched; context as StepSerializer's."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    repeat_count = serializers.IntegerField(read_only=True)
    repeat_after_minutes = serializers.IntegerField(read_only=True)
    steps = serializers.SerializerMethodField()
    services = serializers.SerializerMethodField()
    created_at = AwareDateTimeField(read_only=True)
    updated_at = AwareDateTimeField(read_only=True)

    def get_steps(self, policy: EscalationPolicy) -> list[dict[str, Any]]:
        return StepSerializer(policy.steps.all(), many=True, context=self.context).data

    def get_services(self, policy: EscalationPolicy) -> list[dict[str, Any]]:
        links = sorted(policy.service_links.all(), key=lambda link: link.service.name)
        return [{"id": link.service_id, "name": link.service.name} for link in links]


def dry_run_body(pages: Sequence[DryRunPage]) -> list[dict[str, Any]]:
    return [
        {
            # Every wait is whole minutes, so every offset is too.
            "offset_minutes": round(page.offset_minutes),
            "at": instant(page.at),
            "level": page.level,
            "repeat": page.loop,
            "round_robin_turn": page.round_robin_turn,
            "users": [{"id": user_id, "email": email} for user_id, email in page.users],
            "channels": list(page.channels),
            "high_urgency_only": page.high_urgency_only,
            "notes": list(page.notes),
        }
        for page in pages
    ]


# --- in ---------------------------------------------------------------------------------------


class StepWriteSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    position = IntegerOnlyField(required=False, min_value=0, max_value=MAX_STEPS - 1)
    delay_minutes = IntegerOnlyField(default=0, min_value=0, max_value=MAX_DELAY_MINUTES)
    users = _target_ids()
    teams = _target_ids()
    schedules = _target_ids()
    team_lead_only = BooleanOnlyField(default=False)
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices),
        max_length=len(Channel.choices),
        default=list,
    )
    high_urgency_only = BooleanOnlyField(default=False)
    round_robin = BooleanOnlyField(default=False)
    round_robin_minutes = IntegerOnlyField(default=5, min_value=1, max_value=MAX_DELAY_MINUTES)


def step_changes(validated: dict[str, Any]) -> dict[str, Any]:
    """Validated step fields as `StepInput` names (without `position`, which is no field)."""
    changes = {TARGET_FIELDS.get(name, name): value for name, value in validated.items()}
    changes.pop("position", None)
    if "channels" in changes:
        changes["channels"] = list(dict.fromkeys(changes["channels"]))
    return changes


def step_input(validated: dict[str, Any]) -> StepInput:
    return StepInput(**step_changes(validated))


class StepsField(serializers.Field):
    """A policy's whole list of steps, each checked in full even when the policy is patched.

    A nested `many=True` serializer would inherit PATCH's partial mode and let a step without
    its defaults through.
    """

    default_error_messages = {
        "not_a_list": "Expected a list of steps.",
        "max_length": f"A policy has at most {MAX_STEPS} steps.",
    }

    def to_internal_value(self, data: Any) -> list[StepInput]:
        if not isinstance(data, list):
            self.fail("not_a_list")
        if len(data) > MAX_STEPS:
            self.fail("max_length")
        steps, errors = [], {}
        for index, item in enumerate(data):
            given = StepWriteSerializer(data=item)
            if not given.is_valid():
                errors[index] = given.errors
            elif given.validated_data.get("position", index) != index:
                errors[index] = {
                    "position": [
                        f"Steps run in the order of the list: this one is at {index}. "
                        "Leave position out, or reorder the list."
                    ]
                }
            else:
                steps.append(step_input(given.validated_data))
        if errors:
            raise serializers.ValidationError(errors)
        return steps


def _flatten_steps(detail: Any) -> Any:
    """{"steps": {1: {"users": […]}}} → {"steps[1].users": […]}, as the services name them."""
    if not isinstance(detail, dict) or not isinstance(detail.get("steps"), dict):
        return detail
    flat = {name: value for name, value in detail.items() if name != "steps"}
    for index, errors in detail["steps"].items():
        for name, messages in errors.items():
            key = f"steps[{index}]" if name == "non_field_errors" else f"steps[{index}].{name}"
            flat[key] = messages
    return flat


class PolicyWriteSerializer(StrictSerializer):
    """POST: name and steps (default none); PATCH: any field, `steps` replacing all of them."""

    name = StringField(max_length=150)
    description = StringField(max_length=10_000, required=False, allow_blank=True)
    repeat_count = IntegerOnlyField(required=False, min_value=0, max_value=MAX_REPEATS)
    repeat_after_minutes = IntegerOnlyField(
        required=False, min_value=1, max_value=MAX_DELAY_MINUTES
    )
    steps = StepsField(required=False, default=list)

    def to_internal_value(self, data):  # type: ignore[no-untyped-def]
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(_flatten_steps(exc.detail)) from exc


class ServicePolicySerializer(StrictSerializer):
    """Context: `organization`. PUT {"policy": id or null, "sla_warning_minutes"?: n}."""

    policy = IntegerOnlyField(allow_null=True, **_ID)
    sla_warning_minutes = IntegerOnlyField(required=False, min_value=0, max_value=MAX_DELAY_MINUTES)

    def validate_policy(self, value: int | None) -> EscalationPolicy | None:
        if value is None:
            return None
        policies = organization_policies(organization=self.context["organization"])
        found = policies.filter(pk=value).first()
        if found is None:
            raise serializers.ValidationError(
                "No escalation policy of this organization has this id."
            )
        return found
