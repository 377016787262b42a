"""Forms of the notification settings page: they check the input; notifications/contacts.py
decides the rest (and checks again: the API and admin do not go through these forms)."""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.core.exceptions import ValidationError

from notifications.contacts import MAX_DELAY_MINUTES, MAX_RULES, normalize_address
from notifications.models import Channel, ContactMethod, NotificationRule

# Push subscriptions come from the browser's service worker, never typed in.
ADDABLE_CHANNELS = [(value, label) for value, label in Channel.choices if value != Channel.PUSH]
ADDRESS_HINTS = {
    Channel.EMAIL: "name@example.com",
    Channel.SMS: "+14155550123",
    Channel.VOICE: "+14155550123",
    Channel.WHATSAPP: "+14155550123",
    Channel.SLACK: "Slack member id, e.g. U012ABCDEF",
}


class ContactMethodForm(forms.Form):
    channel = forms.ChoiceField(choices=ADDABLE_CHANNELS)
    address = forms.CharField(
        max_length=512, help_text="Phone numbers with + and the country code."
    )
    label = forms.CharField(max_length=100, required=False)

    def clean(self) -> dict:
        cleaned = super().clean()
        channel, address = cleaned.get("channel"), cleaned.get("address")
        if channel and address:
            try:
                cleaned["address"] = normalize_address(channel, address)
            except ValidationError as exc:
                self.add_error("address", exc)
        return cleaned


class CodeForm(forms.Form):
    code = forms.CharField(max_length=12, strip=True)


EMPTY_ROWS = 3


class RulesForm(forms.Form):
    """Up to MAX_RULES rows of "after N minutes, use method M"; empty rows are ignored, and no
    rows at all means the organization defaults."""

    def __init__(
        self,
        *args: object,
        methods: Sequence[ContactMethod],
        rules: Sequence[NotificationRule] = (),
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "—")] + [
            (str(m.pk), f"{m.get_channel_display()} {m.address}")
            for m in methods
            if m.verified_at is not None
        ]
        for index in range(MAX_RULES):
            rule = rules[index] if index < len(rules) else None
            self.fields[f"delay_{index}"] = forms.IntegerField(
                min_value=0,
                max_value=MAX_DELAY_MINUTES,
                required=False,
                initial=rule.delay_minutes if rule else None,
                label="After (minutes)",
            )
            self.fields[f"method_{index}"] = forms.ChoiceField(
                choices=choices,
                required=False,
                initial=str(rule.contact_method_id) if rule else "",
                label="use",
            )
        # The rules there are and a few empty rows to add more, not always all ten.
        filled = [
            i
            for i in range(MAX_RULES)
            if self.data.get(f"method_{i}") or self.data.get(f"delay_{i}")
        ]
        self.shown = min(MAX_RULES, max(len(rules), filled[-1] + 1 if filled else 0) + EMPTY_ROWS)

    @property
    def rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"delay_{i}"], self[f"method_{i}"]) for i in range(self.shown)]

    @property
    def rules(self) -> list[tuple[int, int]]:
        """(delay minutes, contact method id) of each filled row."""
        return [
            (self.cleaned_data.get(f"delay_{i}") or 0, int(self.cleaned_data[f"method_{i}"]))
            for i in range(MAX_RULES)
            if self.cleaned_data.get(f"method_{i}")
        ]
