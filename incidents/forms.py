"""Forms of the responder pages: they check the input; the lifecycle services decide the rest."""

from __future__ import annotations

from datetime import timedelta

from django import forms

NOTE_MAX_LENGTH = 20_000
SNOOZE_CHOICES = [("60", "1 hour"), ("240", "4 hours"), ("1440", "24 hours")]


class SnoozeForm(forms.Form):
    minutes = forms.TypedChoiceField(choices=SNOOZE_CHOICES, coerce=int)

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.cleaned_data["minutes"])


class ResolveForm(forms.Form):
    note = forms.CharField(required=False, max_length=NOTE_MAX_LENGTH, widget=forms.Textarea)


class NoteForm(forms.Form):
    body = forms.CharField(max_length=NOTE_MAX_LENGTH, widget=forms.Textarea)
