"""The page behind a one-click acknowledge link (notifications/ack_links.py).

No login needed: the signed link is the credential, bound to one person and one incident, and
the person must still be allowed to respond there. GET shows what will happen; POST does it.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from incidents import services as lifecycle
from notifications.ack_links import AckLinkError, read_ack_token, use_ack_link
from opsknight.actors import Actor
from opsknight.permissions import Action, require


def _page(request: HttpRequest, status: int = 200, **context: object) -> HttpResponse:
    return render(request, "notifications/ack_link.html", context, status=status)


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
