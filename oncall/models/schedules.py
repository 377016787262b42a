"""Schedules: layered rotations, restrictions, overrides, swaps, calendar feeds, hand-offs.

The final schedule is never stored: `oncall.rotation` computes it from these rows on demand,
so an edit takes effect at once and there is no cache to go stale.
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from oncall.models.teams import Team
from opsknight.models import Membership, Organization


def validate_time_zone(value: str) -> None:
    if value not in _time_zones():
        raise ValidationError(f"Unknown time zone {value!r}: use an IANA name like Europe/Berlin.")


_ZONES: set[str] = set()


def _time_zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(zoneinfo.available_timezones())
    return _ZONES


class Schedule(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="schedules"
    )
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="schedules"
    )
    name = models.CharField(max_length=150)
    description = models.TextField(blank=True)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA zone (e.g. Europe/Berlin): hand-offs and restrictions are wall-clock "
        "times in this zone, and whole-day rotations follow its calendar across DST.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="schedule_name_unique")
        ]
        ordering = ["organization", "name"]

    def __str__(self) -> str:
        return self.name


NOT_A_MEMBER = "This person is not a member of the schedule's organization."


def _is_member(user_id: int, organization_id: int) -> bool:
    return Membership.objects.filter(user_id=user_id, organization_id=organization_id).exists()


class RotationType(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    CUSTOM = "custom", "Custom"


class RotationUnit(models.TextChoices):
    HOURS = "hours", "Hours"
    DAYS = "days", "Days"


class LayerSource(models.TextChoices):
    ROTATION = "rotation", "Rotation"
    ICAL = "ical", "Imported calendar (read-only)"


class Layer(models.Model):
    """One rotation of a schedule; where layers overlap, the highest priority wins."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    name = models.CharField(max_length=150)
    priority = models.IntegerField(default=0, help_text="Higher wins where layers overlap.")
    source = models.CharField(
        max_length=16, choices=LayerSource.choices, default=LayerSource.ROTATION
    )
    start = models.DateTimeField(help_text="When the layer takes effect; its date anchors turns.")
    end = models.DateTimeField(null=True, blank=True)
    rotation_type = models.CharField(
        max_length=16, choices=RotationType.choices, default=RotationType.WEEKLY
    )
    rotation_length = models.PositiveIntegerField(
        default=1, help_text="Custom rotations only: turn length in the unit below."
    )
    rotation_unit = models.CharField(
        max_length=8, choices=RotationUnit.choices, default=RotationUnit.DAYS
    )
    handoff_time = models.TimeField(
        default="09:00", help_text="Local time of day in the schedule's zone when turns change."
    )
    shift_length = models.DurationField(
        null=True,
        blank=True,
        help_text="Optional: on call only this long from each hand-off (shorter than a turn).",
    )
    ical_url = models.URLField(blank=True, max_length=1000)
    ical_text = models.TextField(blank=True, help_text="The last fetched or uploaded calendar.")
    ical_fetched_at = models.DateTimeField(null=True, blank=True)
    ical_error = models.TextField(blank=True)
    ical_blocks = models.JSONField(
        default=list,
        blank=True,
        help_text="Parsed from the calendar: [[start, end, user id], ...] in ISO 8601, sorted.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["schedule", "-priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__isnull=True) | Q(end__gt=models.F("start")),
                name="layer_end_after_start",
            ),
            models.CheckConstraint(condition=Q(rotation_length__gte=1), name="layer_length_min"),
        ]

    def __str__(self) -> str:
        return f"{self.schedule}: {self.name}"

    @property
    def turn(self) -> tuple[int, str]:
        """(length, unit) of one turn, whatever the rotation type says."""
        if self.rotation_type == RotationType.DAILY:
            return 1, RotationUnit.DAYS
        if self.rotation_type == RotationType.WEEKLY:
            return 7, RotationUnit.DAYS
        return self.rotation_length, self.rotation_unit

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.start and self.end and self.end <= self.start:
            errors["end"] = "The end must be after the start."
        if self.rotation_length is not None and self.rotation_length < 1:
            errors["rotation_length"] = "A turn lasts at least one hour or one day."
        if self.shift_length is not None:
            length, unit = self.turn
            turn = timedelta(hours=length) if unit == RotationUnit.HOURS else timedelta(days=length)
            if self.shift_length <= timedelta(0):
                errors["shift_length"] = "A shift must last longer than zero."
            elif self.shift_length > turn:
                errors["shift_length"] = "A shift cannot be longer than one turn of the rotation."
        if self.source == LayerSource.ICAL and not (self.ical_url or self.ical_text):
            errors["ical_url"] = "An imported layer needs a calendar URL or an uploaded file."
        if errors:
            raise ValidationError(errors)


class LayerParticipant(models.Model):
    """A person's place in a layer's rotation; someone may appear more than once."""

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="layer_places"
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["layer", "position", "id"]

    def __str__(self) -> str:
        return f"{self.position}: {self.user}"

    def clean(self) -> None:
        organization_id = self.layer.schedule.organization_id if self.layer_id else None
        if organization_id and self.user_id and not _is_member(self.user_id, organization_id):
            raise ValidationError({"user": NOT_A_MEMBER})


class RestrictionKind(models.TextChoices):
    DAILY = "daily", "Time of day"
    WEEKLY = "weekly", "Time of week"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class LayerRestriction(models.Model):
    """A window in which the layer is on call; outside all its windows the layer is silent.

    Time of day: every day (or only on `days`) from start to end time, past midnight when the
    end is earlier. Time of week: from a weekday and time to another, wrapping past Sunday.
    """

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="restrictions")
    kind = models.CharField(
        max_length=8, choices=RestrictionKind.choices, default=RestrictionKind.DAILY
    )
    days = ArrayField(
        models.PositiveSmallIntegerField(choices=Weekday.choices),
        default=list,
        blank=True,
        help_text="Time of day only: the days the window starts on (none means every day).",
    )
    start_weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, null=True, blank=True)
    start_time = models.TimeField()
    end_weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, null=True, blank=True)
    end_time = models.TimeField()

    class Meta:
        ordering = ["layer", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.start_time} to {self.end_time}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if any(day not in range(7) for day in self.days or []):
            errors["days"] = "Days are 0 (Monday) to 6 (Sunday)."
        if self.kind == RestrictionKind.WEEKLY:
            if self.start_weekday is None:
                errors["start_weekday"] = "A time-of-week window needs its starting day."
            if self.end_weekday is None:
                errors["end_weekday"] = "A time-of-week window needs its ending day."
            same = (self.start_weekday, self.start_time) == (self.end_weekday, self.end_time)
            if not errors and same:
                errors["end_time"] = "The window is empty: it ends where it starts."
        elif self.start_time == self.end_time:
            errors["end_time"] = "The window is empty: it ends where it starts."
        if errors:
            raise ValidationError(errors)


class Override(models.Model):
    """Someone covers a window: for everyone on call then, or only in place of one person."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="overrides_taken"
    )
    replaces = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="overrides_given",
        help_text="Empty: covers the whole window, gaps included.",
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["schedule", "start"]
        indexes = [models.Index(fields=["schedule", "end"], name="override_schedule_end")]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="override_span")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.start and self.end and self.end <= self.start:
            errors["end"] = "The end must be after the start."
        if self.replaces_id is not None and self.replaces_id == self.user_id:
            errors["replaces"] = "Someone cannot override themselves."
        if self.schedule_id:
            org_id = self.schedule.organization_id
            for name in ("user_id", "replaces_id"):
                user_id = getattr(self, name)
                if user_id and not _is_member(user_id, org_id):
                    errors[name[:-3]] = (
                        "This person is not a member of the schedule's organization."
                    )
        if not errors and self.schedule_id and self.start and self.end:
            clash = self.overlapping().first()
            if clash is not None:
                errors["start"] = (
                    f"This overlaps override #{clash.pk} ({clash}); "
                    "two overrides may overlap only when each replaces a different person."
                )
        if errors:
            raise ValidationError(errors)

    def overlapping(self) -> models.QuerySet[Override]:
        """Overrides this one may not overlap: any for everyone, or any replacing the same person.

        Two overrides that replace different people may overlap: each swaps only its own person.
        """
        others = Override.objects.filter(
            schedule_id=self.schedule_id, start__lt=self.end, end__gt=self.start
        ).exclude(pk=self.pk)
        if self.replaces_id is None:
            return others
        return others.filter(Q(replaces__isnull=True) | Q(replaces_id=self.replaces_id))
