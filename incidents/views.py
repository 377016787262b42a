"""Responder pages: the incident list, one incident, and its actions as plain POST forms.

Every action finds the incident through the tenant-scoped selector (another tenant's incident
is a 404), asks `opsknight.permissions` (a viewer gets 403), calls the lifecycle service and
redirects back with a message. The service decides what is legal; its refusal becomes the
message, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from incidents import services
from incidents.forms import SNOOZE_CHOICES, NoteForm, ResolveForm, SnoozeForm
from incidents.models import Incident, Status
from incidents.selectors import (
    OPEN,
    incident_alerts,
    incident_for_user,
    incident_timeline,
    incidents_for_user,
    open_incident_counts,
)
from incidents.services import TransitionResult
from opsknight.actors import Actor
from opsknight.permissions import Action, can, require
from opsknight.selectors import user_organizations

PAGE_SIZE = 50
STATUS_FILTERS = [("", "All"), (OPEN, "Open"), *Status.choices]

# What an action reports back: (message level, text).
Outcome = tuple[int, str]


@login_required
@require_GET
def incident_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in dict(STATUS_FILTERS):
        status = ""  # an unknown filter shows everything rather than failing
    organization_id = _int_or_none(request.GET.get("organization"))
    incidents = incidents_for_user(
        request.user, status=status or None, organization=organization_id
    )
    page = Paginator(incidents, PAGE_SIZE).get_page(request.GET.get("page"))
    organizations = list(user_organizations(user=request.user))
    return render(
        request,
        "incidents/incident_list.html",
        {
            "page_obj": page,
            "status": status,
            "organization_id": organization_id,
            "status_filters": STATUS_FILTERS,
            # One small query per organization the user belongs to, never per incident.
            "open_counts": [(org, open_incident_counts(org)) for org in organizations],
            "show_organization": len(organizations) != 1,
        },
    )


@login_required
@require_GET
def incident_detail(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = incident_for_user(request.user, incident_id)
    alerts = [
        (alert, json.dumps(alert.payload, indent=2, sort_keys=True, ensure_ascii=False))
        for alert in incident_alerts(incident)
    ]
    return render(
        request,
        "incidents/incident_detail.html",
        {
            "incident": incident,
            "timeline": incident_timeline(incident),
            "alerts": alerts,
            "can_respond": can(request.user, incident.organization_id, Action.INCIDENT_RESPOND),
            "can_note": can(request.user, incident.organization_id, Action.INCIDENT_NOTE),
            "snooze_choices": SNOOZE_CHOICES,
            "resolve_form": ResolveForm(),
            "note_form": NoteForm(),
        },
    )


@login_required
@require_POST
def incident_acknowledge(request: HttpRequest, incident_id: int) -> HttpResponse:
    def perform(incident: Incident, actor: Actor) -> Outcome:
        result = services.acknowledge(incident_id=incident.pk, actor=actor)
        return _outcome(result, "acknowledged")

    return _respond(request, incident_id, Action.INCIDENT_RESPOND, perform)


@login_required
@require_POST
def incident_snooze(request: HttpRequest, incident_id: int) -> HttpResponse:
    def perform(incident: Incident, actor: Actor) -> Outcome:
        form = SnoozeForm(request.POST)
        _check(form)
        result = services.snooze(incident_id=incident.pk, actor=actor, duration=form.duration)
        label = dict(SNOOZE_CHOICES)[str(form.cleaned_data["minutes"])]
        return _outcome(result, f"snoozed for {label}")

    return _respond(request, incident_id, Action.INCIDENT_RESPOND, perform)


@login_required
@require_POST
def incident_resolve(request: HttpRequest, incident_id: int) -> HttpResponse:
    def perform(incident: Incident, actor: Actor) -> Outcome:
        form = ResolveForm(request.POST)
        _check(form)
        result = services.resolve(
            incident_id=incident.pk, actor=actor, note=form.cleaned_data["note"].strip()
        )
        return _outcome(result, "resolved")

    return _respond(request, incident_id, Action.INCIDENT_RESPOND, perform)


@login_required
@require_POST
def incident_reopen(request: HttpRequest, incident_id: int) -> HttpResponse:
    def perform(incident: Incident, actor: Actor) -> Outcome:
        result = services.reopen(incident_id=incident.pk, actor=actor)
        return _outcome(result, "reopened")

    return _respond(request, incident_id, Action.INCIDENT_RESPOND, perform)


@login_required
@require_POST
def incident_add_note(request: HttpRequest, incident_id: int) -> HttpResponse:
    def perform(incident: Incident, actor: Actor) -> Outcome:
        form = NoteForm(request.POST)
        _check(form)
        services.add_note(incident_id=incident.pk, actor=actor, body=form.cleaned_data["body"])
        return messages.SUCCESS, "Note added."

    return _respond(request, incident_id, Action.INCIDENT_NOTE, perform)


def _respond(
    request: HttpRequest,
    incident_id: int,
    permission: Action,
    perform: Callable[[Incident, Actor], Outcome],
) -> HttpResponse:
    incident = incident_for_user(request.user, incident_id)  # 404 before 403: hide existence
    require(request.user, incident.organization_id, permission)
    try:
        level, text = perform(incident, Actor.for_user(request.user))
    except ValidationError as exc:  # TransitionError included: the service's own words
        messages.error(request, " ".join(exc.messages))
    else:
        messages.add_message(request, level, text)
    return redirect("incidents:detail", incident_id=incident.pk)


def _outcome(result: TransitionResult, done: str) -> Outcome:
    incident = result.incident
    if result.changed:
        return messages.SUCCESS, f"Incident #{incident.number} {done}."
    return messages.INFO, f"Incident #{incident.number} is already {incident.status}."


def _check(form: forms.Form) -> None:
    if not form.is_valid():
        raise ValidationError([error for errors in form.errors.values() for error in errors])


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
