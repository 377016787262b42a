"""Schedules API writes: schedules and layers, shift swaps, calendar feeds.

The admin is for platform operators only, so this is where an organization's managers set up
schedules and its people swap shifts and subscribe to calendars. Rules, as in `views`:
- schedules and layers: SCHEDULE_MANAGE (managers+, keys with schedules:write);
- swaps are between people: offering or taking one needs OVERRIDE_SELF and a person, never an
  API key; cancelling is for the requester or an OVERRIDE_ANY holder;
- calendar feeds: anyone who may see schedules may subscribe to one, or to their own shifts;
  a feed is revoked by its creator, its person, or a SCHEDULE_MANAGE holder.
Another organization's schedule, layer, swap or feed is a 404, as is a feed one may not revoke.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.exceptions import MethodNotAllowed, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from oncall import schedule_services
from oncall.api.serializers import LayerSerializer, ScheduleDetailSerializer
from oncall.api.views import (
    layers_in_order,
    request_actor,
    request_actor_label,
    request_person,
    require_some_override_right,
    schedule_or_404,
    summary_context,
)
from oncall.api.write_serializers import (
    CalendarFeedCreateSerializer,
    CalendarFeedSerializer,
    LayerWriteSerializer,
    ScheduleWriteSerializer,
    SwapOfferSerializer,
    SwapSerializer,
)
from oncall.models import CalendarFeed, Layer, LayerParticipant, ShiftSwap
from oncall.selectors import organization_schedules, schedule_health
from oncall.services import (
    calendar_feed_create,
    calendar_feed_revoke,
    layer_create,
    schedule_create,
    swap_cancel,
    swap_offer,
    swap_take,
)
from opsknight.api.views import organization_for_request
from opsknight.models import Organization, User
from opsknight.permissions import Action, can, require

# Swaps listed: those whose window is ahead or ended at most this long ago.
RECENT_SWAPS = timedelta(days=30)
NO_KEY_SWAPS = "Shift swaps are between people: an API key cannot {verb} one."
NO_KEY_FEED = "A personal calendar feed is a person's: an API key has no shifts of its own."


def by_method(**handlers: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """One URL served by a view per HTTP method: the reads live in `views`, the writes here.

    Any other method reaches a DRF view of them all, which authenticates and then answers 405
    (or OPTIONS) in the API's error shape with the full Allow header.
    """

    @api_view(list(handlers))
    def others(request: Request, **kwargs: Any) -> Response:
        raise MethodNotAllowed(request.method)

    # Each handler is a DRF view that checks CSRF itself, for session logins only.
    @csrf_exempt
    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return handlers.get(request.method or "", others)(request, *args, **kwargs)

    return view


def _no_body(request: Request) -> None:
    """Actions whose URL says it all: any field sent is a mistake, so name it."""
    if isinstance(request.data, dict) and request.data:
        raise ValidationError({name: ["Unknown field."] for name in sorted(request.data)})


def _by(request: Request) -> dict[str, Any]:
    """Who to audit: the person, or (for a key) the key's label."""
    return {"actor": request_person(request), "actor_label": request_actor_label(request)}


# --- schedules --------------------------------------------------------------------------------


def _schedule_body(organization: Organization, schedule_id: int) -> dict[str, Any]:
    """The body of `GET schedules/<id>`, so a write answers with what a read would show."""
    schedule = (
        organization_schedules(organization=organization)
        .prefetch_related(layers_in_order())
        .get(pk=schedule_id)
    )
    now = timezone.now()
    context = summary_context([schedule], now)
    context["health"] = schedule_health(schedule, now)
    return ScheduleDetailSerializer(schedule, context=context).data


@api_view(["POST"])
def create_schedule(request: Request, org_slug: str) -> Response:
    """Body: name, and optionally time_zone (IANA, default UTC), team (id or null), description."""
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.SCHEDULE_MANAGE)
    given = ScheduleWriteSerializer(data=request.data, context={"organization": organization})
    given.is_valid(raise_exception=True)
    schedule = schedule_create(organization=organization, **given.validated_data, **_by(request))
    return Response(_schedule_body(organization, schedule.pk), status=status.HTTP_201_CREATED)


@api_view(["PATCH", "DELETE"])
def change_schedule(request: Request, org_slug: str, schedule_id: int) -> Response:
    """PATCH any of the create fields; DELETE takes its layers, overrides, swaps and feeds."""
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.SCHEDULE_MANAGE)
    schedule = schedule_or_404(organization, schedule_id)
    if request.method == "DELETE":
        schedule_services.schedule_delete(schedule=schedule, **_by(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
    given = ScheduleWriteSerializer(
        data=request.data,
        partial=True,
        context={"organization": organization, "schedule": schedule},
    )
    given.is_valid(raise_exception=True)
    schedule_services.schedule_update(
        schedule=schedule, changes=given.validated_data, **_by(request)
    )
    return Response(_schedule_body(organization, schedule.pk))


# --- layers -----------------------------------------------------------------------------------


def _layer_body(layer_id: int) -> dict[str, Any]:
    """The layer as `GET schedules/<id>` lists it."""
    layer = Layer.objects.prefetch_related(
        Prefetch("participants", queryset=LayerParticipant.objects.select_related("user")),
        "restrictions",
    ).get(pk=layer_id)
    return LayerSerializer(layer).data


@api_view(["POST"])
def create_layer(request: Request, org_slug: str, schedule_id: int) -> Response:
    """A rotation layer; answers with the layer as the schedule detail shows it.

    Body: name, start (ISO 8601 with an offset) and participants (user ids in rotation order,
    repeats allowed) are required. Optional: priority (higher wins, default 0), end (or null),
    rotation_type (daily | weekly | custom, default weekly), rotation_length and rotation_unit
    (hours | days; custom rotations only), handoff_time ("HH:MM" in the schedule's zone,
    default "09:00"), shift_length (an ISO 8601 duration such as "PT8H", at most one turn;
    null for the whole turn), restrictions (a list of windows: {kind: daily, days: [0-6],
    start_time, end_time} or {kind: weekly, start_weekday, start_time, end_weekday, end_time};
    weekdays 0 = Monday). Nothing is written unless all of it is valid.
    """
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.SCHEDULE_MANAGE)
    schedule = schedule_or_404(organization, schedule_id)
    given = LayerWriteSerializer(data=request.data, context={"organization": organization})
    given.is_valid(raise_exception=True)
    layer = layer_create(schedule=schedule, **given.validated_data, **_by(request))
    return Response(_layer_body(layer.pk), status=status.HTTP_201_CREATED)


@api_view(["PATCH", "DELETE"])
def change_layer(request: Request, org_slug: str, schedule_id: int, layer_id: int) -> Response:
    """PATCH any create field: participants and restrictions, when given, replace the old ones.

    An imported calendar layer may only change its name, priority, start and end.
    """
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.SCHEDULE_MANAGE)
    schedule = schedule_or_404(organization, schedule_id)
    layer = get_object_or_404(
        Layer.objects.select_related("schedule__organization"), schedule=schedule, pk=layer_id
    )
    if request.method == "DELETE":
        schedule_services.layer_delete(layer=layer, **_by(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
    given = LayerWriteSerializer(
        data=request.data, partial=True, context={"organization": organization, "layer": layer}
    )
    given.is_valid(raise_exception=True)
    changes = dict(given.validated_data)
    schedule_services.layer_update(
        layer=layer,
        participants=changes.pop("participants", None),
        restrictions=changes.pop("restrictions", None),
        changes=changes,
        **_by(request),
    )
    return Response(_layer_body(layer.pk))


# --- swaps ------------------------------------------------------------------------------------


def _swaps(organization: Organization, schedule_id: int) -> QuerySet[ShiftSwap]:
    schedule = schedule_or_404(organization, schedule_id)
    return ShiftSwap.objects.filter(schedule=schedule).select_related(
        "schedule", "requester", "taken_by"
    )


def _person_for_swaps(request: Request, organization: Organization, verb: str) -> User:
    person = request_person(request)
    if person is None:
        raise PermissionDenied(NO_KEY_SWAPS.format(verb=verb))
    require(person, organization, Action.OVERRIDE_SELF)
    return person


@api_view(["GET", "POST"])
def swaps(request: Request, org_slug: str, schedule_id: int) -> Response:
    """GET: offers whose window is ahead or ended in the last 30 days, whatever their status.

    POST {start, end, note?}: the calling person offers a window of their own shifts; whoever
    takes it covers them there.
    """
    organization = organization_for_request(request, org_slug)
    if request.method == "GET":
        require(request_actor(request), organization, Action.SCHEDULE_VIEW)
        now = timezone.now()
        found = _swaps(organization, schedule_id).filter(end__gt=now - RECENT_SWAPS)
        return Response(SwapSerializer(found.order_by("start", "id"), many=True).data)
    person = _person_for_swaps(request, organization, "offer")
    schedule = schedule_or_404(organization, schedule_id)
    given = SwapOfferSerializer(data=request.data)
    given.is_valid(raise_exception=True)
    swap = swap_offer(schedule=schedule, requester=person, **given.validated_data)
    return Response(SwapSerializer(swap).data, status=status.HTTP_201_CREATED)


@api_view(["POST"])
def take_swap(request: Request, org_slug: str, schedule_id: int, swap_id: int) -> Response:
    """The calling person takes an open offer: an override puts them in the requester's place."""
    organization = organization_for_request(request, org_slug)
    person = _person_for_swaps(request, organization, "take")
    swap = get_object_or_404(_swaps(organization, schedule_id), pk=swap_id)
    _no_body(request)
    taken = swap_take(swap_id=swap.pk, taker=person)
    return Response(SwapSerializer(taken).data)


@api_view(["POST"])
def cancel_swap(request: Request, org_slug: str, schedule_id: int, swap_id: int) -> Response:
    """The requester withdraws an open offer, or an OVERRIDE_ANY holder does for them."""
    organization = organization_for_request(request, org_slug)
    require_some_override_right(request, organization)
    swap = get_object_or_404(_swaps(organization, schedule_id), pk=swap_id)
    person = request_person(request)
    own = person is not None and person.pk == swap.requester_id
    if not (own or can(request_actor(request), organization, Action.OVERRIDE_ANY)):
        raise PermissionDenied("You may only cancel your own offers.")
    _no_body(request)
    cancelled = swap_cancel(swap_id=swap.pk, **_by(request))
    return Response(SwapSerializer(cancelled).data)


# --- calendar feeds ---------------------------------------------------------------------------


def _feeds(
    request: Request, organization: Organization, *, listing: bool
) -> QuerySet[CalendarFeed]:
    """Live feeds the caller may list, or (not `listing`) revoke.

    Everyone sees the feeds they created or that show their own shifts. SCHEDULE_MANAGE holders
    also list the organization's schedule feeds, and may revoke any feed (someone who left).
    """
    feeds = CalendarFeed.objects.filter(organization=organization, revoked_at__isnull=True)
    person = request_person(request)
    mine = Q(created_by=person) | Q(user=person) if person is not None else Q(pk__in=[])
    if can(request_actor(request), organization, Action.SCHEDULE_MANAGE):
        feeds = feeds.filter(mine | Q(schedule__isnull=False)) if listing else feeds
    else:
        feeds = feeds.filter(mine)
    return feeds.select_related("schedule", "user", "created_by").order_by("created_at", "id")


@api_view(["GET", "POST"])
def calendar_feeds(request: Request, org_slug: str) -> Response:
    """GET: the feeds one may see, without their URLs.

    POST {"schedule": id} or {"user": "me"}: a new feed. Its URL is in this answer only: the
    server keeps just a hash of the token in it.
    """
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.SCHEDULE_VIEW)
    if request.method == "GET":
        feeds = _feeds(request, organization, listing=True)
        return Response(CalendarFeedSerializer(feeds, many=True).data)
    given = CalendarFeedCreateSerializer(data=request.data, context={"organization": organization})
    given.is_valid(raise_exception=True)
    person = request_person(request)
    if "user" in given.validated_data and person is None:
        raise PermissionDenied(NO_KEY_FEED)
    issued = calendar_feed_create(
        organization=organization,
        created_by=person,
        schedule=given.validated_data.get("schedule"),
        user=person if "user" in given.validated_data else None,
        actor_label=request_actor_label(request),
    )
    body = CalendarFeedSerializer(issued.feed).data
    body["url"] = request.build_absolute_uri(
        reverse("oncall:calendar-feed", kwargs={"token": issued.token})
    )
    return Response(body, status=status.HTTP_201_CREATED)


@api_view(["DELETE"])
def revoke_calendar_feed(request: Request, org_slug: str, feed_id: int) -> Response:
    """Revoke a feed: its URL stops answering at once."""
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.SCHEDULE_VIEW)
    feed = get_object_or_404(_feeds(request, organization, listing=False), pk=feed_id)
    calendar_feed_revoke(feed=feed, **_by(request))
    return Response(status=status.HTTP_204_NO_CONTENT)
