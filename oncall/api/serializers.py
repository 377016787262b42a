"""Schedules API shapes: schedules, layers, blocks and overrides out; an override request in.

Times go out in UTC ("…Z") whatever the server's TIME_ZONE, and come in as ISO 8601 with an
offset: a naive time is ambiguous for a schedule that spans zones, so it is refused.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.duration import duration_iso_string
from rest_framework import serializers

from oncall.models import Layer, Schedule
from oncall.rotation import Block
from oncall.selectors import Handoff
from opsknight.api.serializers import StrictSerializer
from opsknight.models import User
from opsknight.selectors import organization_members

# Far enough apart for any real question, near enough that `+ range` never overflows.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
# An unencoded "+01:00" in a query string arrives as " 01:00".
_LOST_PLUS = re.compile(r"^(\d{4}-\d{2}-\d{2}T[\d:.]+) (\d{2}:?\d{2})$")


def parse_instant(text: str) -> datetime:
    """The UTC instant of ISO 8601 text with an offset; ValueError says what is wrong."""
    text = text.strip()
    match = _LOST_PLUS.match(text)
    if match:
        text = f"{match[1]}+{match[2]}"
    try:
        value = parse_datetime(text)
    except ValueError:  # well-formed but impossible, e.g. month 13
        value = None
    if value is None:
        raise ValueError("Not an ISO 8601 timestamp; use e.g. 2025-03-05T09:00:00+01:00.")
    if value.tzinfo is None:
        raise ValueError("The timestamp has no UTC offset; add one, e.g. Z or +01:00.")
    if not EARLIEST <= value < LATEST:
        raise ValueError("The timestamp must lie between the years 1970 and 9000.")
    return value.astimezone(UTC)


class AwareDateTimeField(serializers.Field):
    default_error_messages = {"type": "Expected an ISO 8601 timestamp string."}

    def to_internal_value(self, data: Any) -> datetime:
        if not isinstance(data, str):
            self.fail("type")
        try:
            return parse_instant(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def to_representation(self, value: datetime) -> str:
        return serializers.DateTimeField(default_timezone=UTC).to_representation(value)


def _instant() -> serializers.DateTimeField:
    return serializers.DateTimeField(default_timezone=UTC, read_only=True)


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(read_only=True)
    display_name = serializers.CharField(read_only=True)


class TeamSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


def people(ids: tuple[int, ...], users: dict[int, User]) -> list[dict[str, Any]]:
    """User summaries for `ids` in their order, from users loaded beforehand."""
    return [UserSerializer(users[i]).data for i in ids if i in users]


class _PeopleMixin:
    """Serializers given `users` ({id: User}) in their context, loaded in one query."""

    context: dict[str, Any]

    def _people(self, ids: tuple[int, ...]) -> list[dict[str, Any]]:
        return people(ids, self.context["users"])


class ScheduleSerializer(_PeopleMixin, serializers.Serializer):
    """Context: `users`, `oncall` ({schedule id: user ids}), `handoffs` ({schedule id: …})."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    time_zone = serializers.CharField(read_only=True)
    team = TeamSerializer(read_only=True, allow_null=True)
    on_call_now = serializers.SerializerMethodField()
    next_handoff = serializers.SerializerMethodField()

    def get_on_call_now(self, schedule: Schedule) -> list[dict[str, Any]]:
        return self._people(self.context["oncall"].get(schedule.pk, ()))

    def get_next_handoff(self, schedule: Schedule) -> dict[str, Any] | None:
        handoff: Handoff | None = self.context["handoffs"].get(schedule.pk)
        if handoff is None:
            return None
        return {
            "at": AwareDateTimeField().to_representation(handoff.at),
            "from": self._people(handoff.before),
            "to": self._people(handoff.after),
        }


class ParticipantSerializer(serializers.Serializer):
    position = serializers.IntegerField(read_only=True)
    user = UserSerializer(read_only=True)


class RestrictionSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.CharField(read_only=True)
    days = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    start_weekday = serializers.IntegerField(read_only=True, allow_null=True)
    start_time = serializers.TimeField(read_only=True)
    end_weekday = serializers.IntegerField(read_only=True, allow_null=True)
    end_time = serializers.TimeField(read_only=True)


class LayerSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    priority = serializers.IntegerField(read_only=True)
    source = serializers.CharField(read_only=True)
    start = _instant()
    end = _instant()
    rotation_type = serializers.CharField(read_only=True)
    turn = serializers.SerializerMethodField()
    handoff_time = serializers.TimeField(read_only=True)
    shift_length = serializers.SerializerMethodField()
    participants = ParticipantSerializer(many=True, read_only=True)
    restrictions = RestrictionSerializer(many=True, read_only=True)

    def get_turn(self, layer: Layer) -> dict[str, Any]:
        length, unit = layer.turn
        return {"length": length, "unit": str(unit)}

    def get_shift_length(self, layer: Layer) -> str | None:
        return duration_iso_string(layer.shift_length) if layer.shift_length else None


class SpanSerializer(serializers.Serializer):
    start = _instant()
    end = _instant()


class HealthSerializer(serializers.Serializer):
    healthy = serializers.BooleanField(read_only=True)
    gaps = SpanSerializer(many=True, read_only=True)
    single_person_layers = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    empty_layers = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    layers_ending_soon = serializers.ListField(child=serializers.IntegerField(), read_only=True)


class ScheduleDetailSerializer(ScheduleSerializer):
    """Context as ScheduleSerializer, plus `health`; layers come prefetched on the schedule."""

    layers = LayerSerializer(many=True, read_only=True)
    health = serializers.SerializerMethodField()

    def get_health(self, schedule: Schedule) -> dict[str, Any]:
        return HealthSerializer(self.context["health"]).data


class BlockSerializer(_PeopleMixin, serializers.Serializer):
    start = _instant()
    end = _instant()
    users = serializers.SerializerMethodField()
    gap = serializers.BooleanField(source="is_gap", read_only=True)

    def get_users(self, block: Block) -> list[dict[str, Any]]:
        return self._people(block.users)


class OverrideSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    user = UserSerializer(read_only=True)
    replaces = UserSerializer(read_only=True, allow_null=True)
    start = _instant()
    end = _instant()
    reason = serializers.CharField(read_only=True)
    created_by = UserSerializer(read_only=True, allow_null=True)
    created_at = _instant()


_ID = {"min_value": 1, "max_value": 2**63 - 1}


class OverrideCreateSerializer(StrictSerializer):
    """Context: `organization`; `user` and `replaces` must be members of it."""

    user = serializers.IntegerField(**_ID)
    replaces = serializers.IntegerField(required=False, allow_null=True, default=None, **_ID)
    start = AwareDateTimeField()
    end = AwareDateTimeField()
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")

    def _member(self, user_id: int | None) -> User | None:
        if user_id is None:
            return None
        members = organization_members(organization=self.context["organization"])
        membership = members.filter(user_id=user_id).first()
        if membership is None:
            # The same answer for "no such user" and "someone else's user": ids do not leak.
            raise serializers.ValidationError("No member of this organization has this id.")
        return membership.user

    def validate_user(self, value: int) -> User | None:
        return self._member(value)

    def validate_replaces(self, value: int | None) -> User | None:
        return self._member(value)
