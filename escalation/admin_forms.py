"""Forms behind the escalation admin: the services' own checks, shown on the field they concern.

A policy's page saves its fields and all of its steps in one service call (`policy_create` or
`policy_update`), so everything that call would refuse is asked first, here, of the same
`validate_step`: its error keys are the step form's field names ("targets" becomes an error
on the whole step). A refusal is a form error and nothing is written.

Round-robin steps page their targets in the order they were added, so the target pickers
keep that order: they list the saved targets in it, and a posted list is read in the order
posted (where the browser adds a newly chosen one: last).
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils import timezone

from escalation.models import MAX_STEPS, EscalationPolicy, EscalationStep
from escalation.services import StepInput, validate_step
from notifications.models import Channel

TARGET_FIELDS = {"users": "user", "teams": "team", "schedules": "schedule"}
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class OrderedAutocompleteSelectMultiple(AutocompleteSelectMultiple):
    """Lists the chosen options in the order of the value, not the model's ordering: for a
    round-robin step that order is whom it pages first."""

    def optgroups(self, name: str, value: list[str], attr: Any = None) -> list[Any]:
        groups = super().optgroups(name, value, attr)
        order = {str(item): index for index, item in enumerate(value)}
        for _, options, _ in groups:
            options.sort(key=lambda option: order.get(str(option["value"]), len(order)))
        return groups


class PolicyForm(forms.ModelForm):
    class Meta:
        model = EscalationPolicy
        fields = ["organization", "name", "description", "repeat_count", "repeat_after_minutes"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # With the organization read-only Django skips the (organization, name) unique check,
        # and the service would refuse a rename onto an existing name at save time.
        organization = cleaned.get("organization") or (
            self.instance.organization if self.instance.organization_id else None
        )
        name = cleaned.get("name")
        if (
            organization is not None
            and name
            and EscalationPolicy.objects.filter(organization=organization, name=name)
            .exclude(pk=self.instance.pk)
            .exists()
        ):
            self.add_error("name", "This organization already has a policy with this name.")
        return cleaned


class StepForm(forms.ModelForm):
    position = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_STEPS * 10,
        help_text="Lower runs first; blank: after the others. Saved as 0, 1, 2…",
    )
    channels = forms.MultipleChoiceField(
        choices=Channel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only these channels for this step; none: each person's own rules.",
    )

    class Meta:
        model = EscalationStep
        fields = [
            "position",
            "delay_minutes",
            "users",
            "teams",
            "team_lead_only",
            "schedules",
            "channels",
            "high_urgency_only",
            "round_robin",
            "round_robin_minutes",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.initial.pop("position", None)  # a new row goes last unless told otherwise
            return
        for name, column in TARGET_FIELDS.items():
            if name in self.fields:
                rows = getattr(EscalationStep, name).through.objects.filter(
                    escalationstep_id=self.instance.pk
                )
                self.initial[name] = list(
                    rows.order_by("id").values_list(f"{column}_id", flat=True)
                )

    def ordered_ids(self, name: str) -> list[int]:
        """The chosen targets' ids in the order posted (for a saved step: the order added)."""
        chosen = [obj.pk for obj in self.cleaned_data.get(name) or ()]
        posted = [str(value) for value in self[name].value() or ()]
        place = {value: index for index, value in enumerate(posted)}
        return sorted(chosen, key=lambda pk: place.get(str(pk), len(place)))

    def step_input(self) -> StepInput:
        data = self.cleaned_data
        return StepInput(
            delay_minutes=data["delay_minutes"],
            user_ids=self.ordered_ids("users"),
            team_ids=self.ordered_ids("teams"),
            schedule_ids=self.ordered_ids("schedules"),
            team_lead_only=bool(data.get("team_lead_only")),
            channels=list(data.get("channels") or ()),
            high_urgency_only=bool(data.get("high_urgency_only")),
            round_robin=bool(data.get("round_robin")),
            round_robin_minutes=data["round_robin_minutes"],
        )


class StepFormSet(BaseInlineFormSet):
    """The steps of one policy, checked by the services' `validate_step` before anything is
    written; saved by the admin through `policy_create` / `policy_update`, never row by row."""

    def live_forms(self) -> list[StepForm]:
        """Steps kept, in the order they will run: by position, then by place on the page."""
        rows = []
        for index, form in enumerate(self.forms):
            if self.can_delete and self._should_delete_form(form):
                continue
            if form.instance.pk is None and not form.has_changed():
                continue  # an untouched empty row
            position = form.cleaned_data.get("position")
            rows.append((position if position is not None else MAX_STEPS * 10 + 1, index, form))
        return [form for _, _, form in sorted(rows, key=lambda row: row[:2])]

    def step_inputs(self) -> list[StepInput]:
        return [form.step_input() for form in self.live_forms()]

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        live = self.live_forms()
        if len(live) > MAX_STEPS:
            raise ValidationError(f"A policy has at most {MAX_STEPS} steps.")
        policy: EscalationPolicy = self.instance
        if policy.organization_id is None:
            return  # the policy's own form says the organization is missing
        for form in live:
            try:
                validate_step(policy.organization, form.step_input())
            except ValidationError as error:
                for name, messages in error.message_dict.items():
                    form.add_error(name if name in form.fields else None, messages)


def _zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class DryRunForm(forms.Form):
    """When the incident would trigger, typed as a wall-clock time in a chosen zone."""

    at = forms.CharField(
        label="Incident triggers at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    time_zone = forms.ChoiceField(choices=_zone_choices, initial="UTC")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        raw, zone_name = cleaned.get("at"), cleaned.get("time_zone")
        if not raw or not zone_name:
            return cleaned
        # Django's field reads a naive time in the current zone and refuses one that a clock
        # change skips or repeats there.
        with timezone.override(zoneinfo.ZoneInfo(zone_name)):
            try:
                instant = forms.DateTimeField().clean(raw)
            except ValidationError as error:
                self.add_error("at", error)
                return cleaned
        if not EARLIEST <= instant < LATEST:
            self.add_error("at", f"Choose a time between {EARLIEST:%Y} and {LATEST:%Y}.")
        else:
            cleaned["instant"] = instant
        return cleaned
