"""Schedules API shapes for writes: schedules, layers, swaps and calendar feeds in; swaps and
feeds out.

JSON types are taken at their word: a number where text belongs, or text where a number
belongs, is refused rather than coerced, so a client's bug shows at once. Times of day are
"HH:MM" (or "HH:MM:SS"); a shift length is an ISO 8601 duration such as "PT8H", the form
the schedule detail shows it in, so a layer read can be written back unchanged.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import time, timedelta
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.dateparse import parse_duration
from rest_framework import serializers

from oncall.api.serializers import AwareDateTimeField, UserSerializer
from oncall.models import (
    LayerRestriction,
    RestrictionKind,
    RotationType,
    RotationUnit,
    Schedule,
    Team,
    validate_time_zone,
)
from oncall.services import RestrictionInput
from opsknight.api.serializers import StrictSerializer
from opsknight.models import Organization, User
from opsknight.selectors import organization_members

_ID = {"min_value": 1, "max_value": 2**63 - 1}
_INT32 = {"min_value": -(2**31), "max_value": 2**31 - 1}
MAX_PARTICIPANTS = 200
MAX_RESTRICTIONS = 50
# Longer turns than a year are surely a typo, and huge ones would overflow date arithmetic.
MAX_TURN = {str(RotationUnit.HOURS): 366 * 24, str(RotationUnit.DAYS): 366}


class StringField(serializers.CharField):
    """A JSON string; DRF's CharField would also take 12 and turn it into "12"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class IntegerOnlyField(serializers.IntegerField):
    """A JSON integer; DRF's IntegerField would also take "12" and 12.0."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class ClockTimeField(serializers.Field):
    default_error_messages = {"invalid": 'Expected a time of day as "HH:MM", e.g. "09:00".'}
    _FORMAT = re.compile(r"([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")

    def to_internal_value(self, data: Any) -> time:
        match = self._FORMAT.fullmatch(data) if isinstance(data, str) else None
        if match is None:
            self.fail("invalid")
        hour, minute, second = match.groups()
        return time(int(hour), int(minute), int(second or 0))

    def to_representation(self, value: time) -> str:
        return value.isoformat()


class IsoDurationField(serializers.Field):
    default_error_messages = {
        "invalid": 'Expected an ISO 8601 duration in days, hours, minutes or seconds, e.g. "PT8H".'
    }

    def to_internal_value(self, data: Any) -> timedelta:
        if not isinstance(data, str) or not data.startswith("P") or data != data.strip():
            self.fail("invalid")
        try:
            value = parse_duration(data)
        except (OverflowError, ValueError):  # e.g. "P999999999D": beyond timedelta
            value = None
        if value is None:
            self.fail("invalid")
        return value


def _members(organization: Organization, ids: list[int]) -> list[User]:
    """The users with these ids, in order and with repeats; a 400 names any non-member."""
    found = {
        m.user_id: m.user
        for m in organization_members(organization=organization).filter(user_id__in=set(ids))
    }
    missing = sorted({i for i in ids if i not in found})
    if missing:
        # The same answer for "no such user" and "someone else's user": ids do not leak.
        named = ", ".join(str(i) for i in missing)
        raise serializers.ValidationError(f"No member of this organization has the id {named}.")
    return [found[i] for i in ids]


# --- schedules --------------------------------------------------------------------------------


class ScheduleWriteSerializer(StrictSerializer):
    """Context: `organization`, and `schedule` when editing one (its own name is no clash)."""

    name = StringField(max_length=150)
    time_zone = StringField(max_length=64, required=False)
    team = IntegerOnlyField(required=False, allow_null=True, **_ID)
    description = StringField(max_length=10_000, required=False, allow_blank=True)

    def validate_name(self, value: str) -> str:
        # The model's constraint would say so too, but under "__all__" rather than "name".
        taken = Schedule.objects.filter(organization=self.context["organization"], name=value)
        if "schedule" in self.context:
            taken = taken.exclude(pk=self.context["schedule"].pk)
        if taken.exists():
            raise serializers.ValidationError("This organization has a schedule of this name.")
        return value

    def validate_time_zone(self, value: str) -> str:
        try:
            validate_time_zone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value

    def validate_team(self, value: int | None) -> Team | None:
        if value is None:
            return None
        team = Team.objects.filter(organization=self.context["organization"], pk=value).first()
        if team is None:
            raise serializers.ValidationError("No team of this organization has this id.")
        return team


# --- layers -----------------------------------------------------------------------------------


class RestrictionWriteSerializer(StrictSerializer):
    """A window: daily (every day, or only on `days`) or weekly (weekday+time to weekday+time)."""

    kind = serializers.ChoiceField(choices=RestrictionKind.choices, default=RestrictionKind.DAILY)
    days = serializers.ListField(
        child=IntegerOnlyField(min_value=0, max_value=6), max_length=7, default=list
    )
    start_weekday = IntegerOnlyField(min_value=0, max_value=6, allow_null=True, default=None)
    start_time = ClockTimeField()
    end_weekday = IntegerOnlyField(min_value=0, max_value=6, allow_null=True, default=None)
    end_time = ClockTimeField()

    def validate(self, attrs: dict[str, Any]) -> RestrictionInput:  # type: ignore[override]
        weekly = attrs["kind"] == RestrictionKind.WEEKLY
        misplaced: dict[str, str] = {}
        if weekly and attrs["days"]:
            misplaced["days"] = "Only a daily window has days; a weekly one has weekdays."
        for name in ("start_weekday", "end_weekday"):
            if not weekly and attrs[name] is not None:
                misplaced[name] = "Only a weekly window has weekdays; a daily one has days."
        if misplaced:
            raise serializers.ValidationError(misplaced)
        given = RestrictionInput(
            kind=attrs["kind"],
            days=tuple(sorted(set(attrs["days"]))),
            start_weekday=attrs["start_weekday"],
            start_time=attrs["start_time"],
            end_weekday=attrs["end_weekday"],
            end_time=attrs["end_time"],
        )
        # The model's own rules, checked here so the error says which window is wrong.
        row = LayerRestriction(**asdict(given) | {"days": list(given.days)})
        try:
            row.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return given


class RestrictionsField(serializers.Field):
    """A list of windows, each checked in full even when a layer is edited in part.

    A nested `many=True` serializer would inherit PATCH's partial mode and let a window
    without its times through.
    """

    default_error_messages = {
        "not_a_list": "Expected a list of windows.",
        "max_length": f"At most {MAX_RESTRICTIONS} windows.",
    }

    def to_internal_value(self, data: Any) -> list[RestrictionInput]:
        if not isinstance(data, list):
            self.fail("not_a_list")
        if len(data) > MAX_RESTRICTIONS:
            self.fail("max_length")
        windows, errors = [], {}
        for index, item in enumerate(data):
            window = RestrictionWriteSerializer(data=item)
            if window.is_valid():
                windows.append(window.validated_data)
            else:
                errors[index] = window.errors
        if errors:
            raise serializers.ValidationError(errors)
        return windows


class LayerWriteSerializer(StrictSerializer):
    """Context: `organization`, and `layer` when editing one.

    Participants are user ids in rotation order, repeats allowed.
    """

    name = StringField(max_length=150)
    priority = IntegerOnlyField(required=False, **_INT32)
    start = AwareDateTimeField()
    end = AwareDateTimeField(required=False, allow_null=True)
    rotation_type = serializers.ChoiceField(choices=RotationType.choices, required=False)
    rotation_length = IntegerOnlyField(required=False, min_value=1, max_value=MAX_TURN["hours"])
    rotation_unit = serializers.ChoiceField(choices=RotationUnit.choices, required=False)
    handoff_time = ClockTimeField(required=False)
    shift_length = IsoDurationField(required=False, allow_null=True)
    participants = serializers.ListField(
        child=IntegerOnlyField(**_ID), min_length=1, max_length=MAX_PARTICIPANTS
    )
    restrictions = RestrictionsField(required=False)

    def validate_participants(self, value: list[int]) -> list[User]:
        return _members(self.context["organization"], value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        layer = self.context.get("layer")
        unit = attrs.get("rotation_unit", layer.rotation_unit if layer else RotationUnit.DAYS)
        length = attrs.get("rotation_length", layer.rotation_length if layer else 1)
        if length > MAX_TURN[unit]:
            raise serializers.ValidationError(
                {"rotation_length": [f"A turn lasts at most {MAX_TURN[unit]} {unit}."]}
            )
        return attrs


# --- swaps ------------------------------------------------------------------------------------


class SwapOfferSerializer(StrictSerializer):
    start = AwareDateTimeField()
    end = AwareDateTimeField()
    note = StringField(max_length=300, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": ["The end must be after the start."]})
        return attrs


class SwapSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    requester = UserSerializer(read_only=True)
    start = AwareDateTimeField(read_only=True)
    end = AwareDateTimeField(read_only=True)
    note = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)
    taken_by = UserSerializer(read_only=True, allow_null=True)
    taken_at = AwareDateTimeField(read_only=True, allow_null=True)
    override = serializers.IntegerField(source="override_id", read_only=True, allow_null=True)
    created_at = AwareDateTimeField(read_only=True)


# --- calendar feeds ---------------------------------------------------------------------------

ME = "me"


class CalendarFeedCreateSerializer(StrictSerializer):
    """Context: `organization`. Either {"schedule": id} or {"user": "me"}."""

    schedule = IntegerOnlyField(required=False, **_ID)
    user = StringField(required=False)

    def validate_schedule(self, value: int) -> Schedule:
        found = Schedule.objects.filter(organization=self.context["organization"], pk=value)
        schedule = found.first()
        if schedule is None:
            raise serializers.ValidationError("No schedule of this organization has this id.")
        return schedule

    def validate_user(self, value: str) -> str:
        if value != ME:
            raise serializers.ValidationError(
                f'A personal feed is for the calling person: give "{ME}".'
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if len(attrs) != 1:
            raise serializers.ValidationError(
                'Give either "schedule" (a schedule id) or "user" ("me"), not both or neither.'
            )
        return attrs


class _ScheduleRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class CalendarFeedSerializer(serializers.Serializer):
    """A feed without its secret: the URL is shown once, when the feed is created."""

    id = serializers.IntegerField(read_only=True)
    schedule = _ScheduleRefSerializer(read_only=True, allow_null=True)
    user = UserSerializer(read_only=True, allow_null=True)
    prefix = serializers.CharField(read_only=True)
    created_by = UserSerializer(read_only=True, allow_null=True)
    created_at = AwareDateTimeField(read_only=True)
    last_used_at = AwareDateTimeField(read_only=True, allow_null=True)
