"""Forms behind the on-call admin: the model's clean() rules, plus what only a whole page knows.

A model validates one row; a page saves several at once. The checks that need the whole page
live in the formsets here: a rotation needs someone in it, its people must belong to the
schedule's organization even before the layer exists, and two new overrides must not overlap
each other (the model compares against saved rows only).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.forms.models import BaseInlineFormSet

from oncall.models import (
    CalendarFeed,
    Layer,
    LayerRestriction,
    LayerSource,
    Override,
    Schedule,
    Weekday,
)
from opsknight.models import Membership, User

NO_PARTICIPANTS = "A rotation needs at least one participant: add someone below."


class OnCallModelForm(forms.ModelForm):
    """Shows a model's clean() error about a field this form does not edit as a form error.

    Django raises ValueError (a 500) when Model.clean() names a field missing from the form,
    such as a read-only one or one left out of an inline row; the message belongs on the page.
    """

    def add_error(self, field: str | None, error: Any) -> None:
        if not isinstance(error, ValidationError):
            error = ValidationError(error)
        if field is None and hasattr(error, "error_dict"):
            placed: dict[str, list[ValidationError]] = {}
            for name, errors in error.error_dict.items():
                if name != NON_FIELD_ERRORS and name not in self.fields:
                    label = self._meta.model._meta.get_field(name).verbose_name
                    label = str(label).capitalize()
                    errors = [
                        ValidationError(f"{label}: {message}")
                        for message in ValidationError(errors).messages
                    ]
                    name = NON_FIELD_ERRORS
                placed.setdefault(name, []).extend(errors)
            error = ValidationError(placed)
        super().add_error(field, error)


def _outsiders(users: list[User], organization_id: int) -> list[User]:
    members = set(
        Membership.objects.filter(organization_id=organization_id, user__in=users).values_list(
            "user_id", flat=True
        )
    )
    return [user for user in users if user.pk not in members]


class ScheduleForm(OnCallModelForm):
    class Meta:
        model = Schedule
        fields = ["organization", "team", "name", "description", "time_zone"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        organization = cleaned.get("organization")
        organization_id = organization.pk if organization else self.instance.organization_id
        team = cleaned.get("team")
        if team is not None and organization_id and team.organization_id != organization_id:
            self.add_error("team", "This team belongs to another organization.")
        # With the organization read-only Django skips the (organization, name) unique check,
        # and a rename onto an existing name would fail in the database instead.
        name = cleaned.get("name")
        if (
            "organization" not in self.fields
            and name
            and Schedule.objects.filter(organization_id=organization_id, name=name)
            .exclude(pk=self.instance.pk)
            .exists()
        ):
            self.add_error("name", "This organization already has a schedule with this name.")
        return cleaned


class LayerForm(OnCallModelForm):
    ical_url = forms.URLField(
        required=False,
        max_length=1000,
        assume_scheme="https",
        label="Calendar URL",
        help_text="Imported layers: an iCal URL the layer's shifts are read from.",
    )

    class Meta:
        model = Layer
        fields = [
            "schedule",
            "name",
            "priority",
            "source",
            "start",
            "end",
            "rotation_type",
            "rotation_length",
            "rotation_unit",
            "handoff_time",
            "shift_length",
            "ical_url",
        ]


class ParticipantFormSet(BaseInlineFormSet):
    """The people of one layer, in rotation order (position, then the order on the page)."""

    def ordered_users(self) -> list[User]:
        rows = [
            (form.cleaned_data.get("position") or 0, index, form.cleaned_data["user"])
            for index, form in enumerate(self.forms)
            if form.cleaned_data.get("user") and not form.cleaned_data.get("DELETE")
        ]
        return [user for _, _, user in sorted(rows, key=lambda row: row[:2])]

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        layer: Layer = self.instance
        users = self.ordered_users()
        if layer.source == LayerSource.ROTATION and not users:
            raise ValidationError(NO_PARTICIPANTS)
        # The model's own check needs a saved layer; on the add page there is none yet.
        if layer.schedule_id is not None:
            outsiders = _outsiders(users, layer.schedule.organization_id)
            if outsiders:
                names = ", ".join(sorted({str(user) for user in outsiders}))
                raise ValidationError(f"Not members of the schedule's organization: {names}.")


class RestrictionForm(OnCallModelForm):
    days = forms.TypedMultipleChoiceField(
        choices=Weekday.choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Time of day only: the days the window starts on (none: every day).",
    )

    class Meta:
        model = LayerRestriction
        fields = ["kind", "days", "start_weekday", "start_time", "end_weekday", "end_time"]


def _clash(one: Override, other: Override) -> bool:
    """The rule of `Override.overlapping`, for two rows neither of which is saved yet."""
    if not (one.start < other.end and other.start < one.end):
        return False
    return one.replaces_id is None or other.replaces_id in (None, one.replaces_id)


class NewOverrideForm(OnCallModelForm):
    class Meta:
        model = Override
        fields = ["user", "replaces", "start", "end", "reason"]

    def clean(self) -> dict[str, Any]:
        # The model's overlap check reads the other overrides right after this. Holding the
        # schedule's row lock from here to the save (the admin runs the whole request in one
        # transaction) makes check and write atomic, as `override_create` does.
        if self.instance.schedule_id and transaction.get_connection().in_atomic_block:
            list(Schedule.objects.select_for_update().filter(pk=self.instance.schedule_id))
        return super().clean()


class NewOverrideFormSet(BaseInlineFormSet):
    """Rows for new overrides; saved through `override_create`, never edited in place."""

    def new_forms(self) -> list[forms.ModelForm]:
        return [form for form in self.forms if form.has_changed() and form.cleaned_data]

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        overrides = [form.instance for form in self.new_forms()]
        for index, override in enumerate(overrides):
            for other in overrides[:index]:
                if _clash(override, other):
                    raise ValidationError(
                        f"Two new overrides overlap ({other} and {override}); two overrides may "
                        "overlap only when each replaces a different person."
                    )


class CurrentOverrideFormSet(BaseInlineFormSet):
    """Saved overrides, read-only: deleting one goes through `override_delete`."""


class CalendarFeedAddForm(forms.ModelForm):
    class Meta:
        model = CalendarFeed
        fields = ["organization", "schedule", "user"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        organization = cleaned.get("organization")
        schedule = cleaned.get("schedule")
        user = cleaned.get("user")
        if (schedule is None) == (user is None):
            # On the field, so Django skips the model's check constraint (same rule, worse words).
            self.add_error("schedule", "Choose either a schedule or a person, not both.")
        elif organization is not None and schedule is not None:
            if schedule.organization_id != organization.pk:
                self.add_error("schedule", "The schedule belongs to another organization.")
        elif organization is not None and user is not None and _outsiders([user], organization.pk):
            self.add_error("user", "This person is not a member of the organization.")
        return cleaned
