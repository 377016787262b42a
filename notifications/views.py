"""Notification pages: the one-click acknowledge link, a person's own notification settings,
the email verification link, and the incident page's notification section.

The acknowledge link (notifications/ack_links.py) needs no login: the signed link is the
credential, bound to one person and one incident, and the person must still be allowed to
respond there. GET shows what will happen; POST does it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from incidents import services as lifecycle
from incidents.models import Urgency
from incidents.selectors import incident_for_user
from notifications import contacts, selectors
from notifications.accounts import home_organization
from notifications.ack_links import AckLinkError, read_ack_token, use_ack_link
from notifications.dispatch import unavailable
from notifications.forms import CodeForm, ContactMethodForm, RulesForm
from notifications.models import Channel, ContactMethod, NotificationRule
from notifications.planning import DEFAULT_CHANNELS, PlannedDelivery, delivery_plan
from opsknight.actors import Actor
from opsknight.permissions import Action, require


def _page(request: HttpRequest, status: int = 200, **context: object) -> HttpResponse:
    if "application/json" in request.headers.get("Accept", ""):  # the service worker asks
        incident = context.get("incident")
        return JsonResponse(
            {
                "ok": status < 400,
                "incident": getattr(incident, "number", None),
                "result": context.get("done", ""),
                "error": context.get("error", ""),
            },
            status=status,
        )
    return render(request, "notifications/ack_link.html", context, status=status)


# No CSRF check: the signed, single-use token in the URL is the whole credential (the
# session is never consulted), so a forged cross-site POST gains nothing; and a push
# notification's "Acknowledge" action posts it from the service worker, which has no form.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def ack_link(request: HttpRequest, token: str) -> HttpResponse:
    try:
        notification = read_ack_token(token)
    except AckLinkError as error:
        return _page(request, error.status, error=str(error))
    incident, person = notification.incident, notification.user
    if request.method == "GET":
        return _page(request, incident=incident, person=person, confirm=True)
    try:
        with transaction.atomic():
            use_ack_link(token)
            require(person, incident.organization_id, Action.INCIDENT_RESPOND)
            result = lifecycle.acknowledge(incident_id=incident.pk, actor=Actor.for_user(person))
    except AckLinkError as error:
        return _page(request, error.status, error=str(error))
    except PermissionDenied:
        return _page(request, 403, error="You may no longer respond to this incident.")
    except ValidationError as error:  # resolved meanwhile, say
        return _page(request, 409, error=" ".join(error.messages), incident=incident)
    done = "Acknowledged" if result.changed else f"Already {result.incident.status}"
    return _page(request, incident=incident, person=person, done=done)


# --- The person's own notification settings ----------------------------------------------
# Every method is found through the owner-scoped selector (another person's method is a 404)
# and every change is a service in notifications/contacts.py; its refusal becomes the message.


@dataclass(frozen=True)
class UrgencyRules:
    urgency: str
    label: str
    form: RulesForm
    rules: list[NotificationRule]
    default_channels: list[str]
    plan: list[str]  # what a page would do now: the rules, or the defaults


def _planned(item: PlannedDelivery) -> str:
    return f"{Channel(item.channel).label} {item.address} after {item.delay_minutes} min"


def _profile(request: HttpRequest, status: int = 200, **bound: object) -> HttpResponse:
    user = request.user
    methods = list(selectors.user_contact_methods(user=user))
    rules = list(selectors.user_notification_rules(user=user))
    urgencies = [
        UrgencyRules(
            urgency=urgency,
            label=label,
            form=bound.get(f"rules_{urgency}")
            or RulesForm(methods=methods, rules=[r for r in rules if r.urgency == urgency]),
            rules=[r for r in rules if r.urgency == urgency],
            default_channels=[Channel(c).label for c in DEFAULT_CHANNELS[urgency]],
            plan=[_planned(item) for item in delivery_plan(user, urgency)],
        )
        for urgency, label in Urgency.choices
    ]
    context = {
        "methods": methods,
        "add_form": bound.get("add_form") or ContactMethodForm(),
        "urgencies": urgencies,
        "unavailable": [
            (label, why)
            for value, label in Channel.choices
            if (why := unavailable(value, home_organization(user.pk)))
        ],
        "history": selectors.user_notification_history(user=user),
        "history_shown": selectors.HISTORY_SHOWN,
        "vapid_public_key": settings.VAPID_PUBLIC_KEY,
    }
    return render(request, "notifications/profile.html", context, status=status)


@login_required
@require_GET
def profile(request: HttpRequest) -> HttpResponse:
    return _profile(request)


@login_required
@require_POST
def method_add(request: HttpRequest) -> HttpResponse:
    form = ContactMethodForm(request.POST)
    if form.is_valid():
        try:
            method = contacts.contact_method_add(
                user=request.user,
                channel=form.cleaned_data["channel"],
                address=form.cleaned_data["address"],
                label=form.cleaned_data["label"],
            )
        except ValidationError as error:
            form.add_error("address", error)
        else:
            done = (
                "verified: it is your login" if method.verified_at else "send a code to verify it"
            )
            messages.success(request, f"Added {method}; {done}.")
            return redirect("notifications:profile")
    return _profile(request, status=400, add_form=form)


def _method_action(
    request: HttpRequest, method_id: int, perform: Callable[[ContactMethod], str]
) -> HttpResponse:
    method = selectors.user_contact_method(user=request.user, method_id=method_id)
    try:
        messages.success(request, perform(method))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("notifications:profile")


def _reachable(method: ContactMethod) -> None:
    # Said now rather than as a failed delivery a moment later: the person is looking.
    if why := unavailable(method.channel, home_organization(method.user_id)):
        raise ValidationError(f"Cannot send: {why} here; ask an administrator.")


@login_required
@require_POST
def method_send_code(request: HttpRequest, method_id: int) -> HttpResponse:
    def perform(method: ContactMethod) -> str:
        _reachable(method)
        contacts.verification_send(method=method)
        if method.channel == Channel.EMAIL:
            return f"A verification link is on its way to {method.address}."
        return f"A code is on its way to {method.address}; it expires in 15 minutes."

    return _method_action(request, method_id, perform)


@login_required
@require_POST
def method_verify(request: HttpRequest, method_id: int) -> HttpResponse:
    def perform(method: ContactMethod) -> str:
        form = CodeForm(request.POST)
        if not form.is_valid():
            raise ValidationError("Enter the code we sent.")
        contacts.verification_confirm(method=method, code=form.cleaned_data["code"])
        return f"{method} is verified."

    return _method_action(request, method_id, perform)


@login_required
@require_POST
def method_test(request: HttpRequest, method_id: int) -> HttpResponse:
    def perform(method: ContactMethod) -> str:
        _reachable(method)
        contacts.test_send(method=method)
        return f"A test message is on its way to {method}."

    return _method_action(request, method_id, perform)


@login_required
@require_POST
def push_subscribe(request: HttpRequest) -> JsonResponse:
    """The profile page's script hands over this browser's push subscription (JSON)."""
    try:
        body = json.loads(request.body)
        subscription = body["subscription"]
        method = contacts.push_subscription_save(
            user=request.user,
            endpoint=subscription.get("endpoint"),
            keys=subscription.get("keys"),
            label=str(body.get("label", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return JsonResponse(
            {"error": "invalid_json", "message": 'Send {"subscription": {"endpoint", "keys"}}.'},
            status=400,
        )
    except ValidationError as error:
        return JsonResponse(
            {"error": "invalid_subscription", "message": " ".join(error.messages)}, status=400
        )
    return JsonResponse({"id": method.pk, "message": "This browser will receive pages."})


@login_required
@require_POST
def method_status_updates(request: HttpRequest, method_id: int) -> HttpResponse:
    enabled = request.POST.get("enabled") == "on"

    def perform(method: ContactMethod) -> str:
        contacts.status_updates_set(method=method, enabled=enabled)
        state = "will" if enabled else "will no longer"
        return f"{method} {state} hear when its pages are acknowledged or resolved."

    return _method_action(request, method_id, perform)


@login_required
@require_POST
def method_delete(request: HttpRequest, method_id: int) -> HttpResponse:
    def perform(method: ContactMethod) -> str:
        contacts.contact_method_delete(method=method)
        return f"Removed {method}."

    return _method_action(request, method_id, perform)


@login_required
@require_POST
def rules_save(request: HttpRequest, urgency: str) -> HttpResponse:
    if urgency not in Urgency.values:
        raise Http404("No such urgency.")
    methods = list(selectors.user_contact_methods(user=request.user))
    form = RulesForm(request.POST, methods=methods)
    if form.is_valid():
        try:
            saved = contacts.rules_replace(user=request.user, urgency=urgency, rules=form.rules)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            label = Urgency(urgency).label
            done = f"{len(saved)} rule{pluralize(len(saved))}" if saved else "the defaults"
            messages.success(request, f"{label} urgency pages now use {done}.")
            return redirect("notifications:profile")
    return _profile(request, status=400, **{f"rules_{urgency}": form})


@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The page behind an email verification link. No login: the signed link is the proof
    that the address reads its mail. GET shows a button; only the POST verifies, so mail
    scanners that fetch every link verify nothing."""
    try:
        method = contacts.email_verification_read(token)
        if request.method == "POST":
            method = contacts.email_verification_confirm(token=token)
            return _verify_page(request, method=method, done=True)
    except ValidationError as error:
        return _verify_page(request, status=410, error=" ".join(error.messages))
    return _verify_page(request, method=method, confirm=method.verified_at is None)


def _verify_page(request: HttpRequest, status: int = 200, **context: object) -> HttpResponse:
    return render(request, "notifications/verify_email.html", context, status=status)


@login_required
@require_GET
def incident_notifications(request: HttpRequest, incident_id: int) -> HttpResponse:
    """The notification section of the incident page, loaded by htmx (incidents may not
    import notifications). Access is the incident page's: tenant-scoped, then INCIDENT_VIEW."""
    incident = incident_for_user(request.user, incident_id)
    require(request.user, incident.organization_id, Action.INCIDENT_VIEW)
    deliveries = selectors.incident_notifications(incident_id=incident.pk)
    return render(
        request,
        "notifications/incident_notifications.html",
        {"incident": incident, "deliveries": deliveries},
    )
