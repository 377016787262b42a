"""Schedules API: schedules, who is on call, the final schedule, overrides.

Reads need SCHEDULE_VIEW. Overrides: OVERRIDE_ANY writes any; OVERRIDE_SELF only those the
caller covers themselves. Another organization's schedule or override is a 404.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from oncall.api.serializers import (
    AwareDateTimeField,
    BlockSerializer,
    OverrideCreateSerializer,
    OverrideSerializer,
    ScheduleDetailSerializer,
    ScheduleSerializer,
    TeamSerializer,
    parse_instant,
    people,
)
from oncall.models import Layer, LayerParticipant, Override, Schedule
from oncall.rotation import final_schedule, handoffs
from oncall.selectors import (
    HANDOFF_HORIZON,
    Handoff,
    oncall_user_ids,
    oncall_users_at,
    organization_schedules,
    schedule_health,
    schedule_specs,
    shifts_between,
)
from oncall.services import override_create, override_delete
from opsknight.actors import Actor
from opsknight.api.views import organization_for_request
from opsknight.models import APIKey, Organization, User
from opsknight.permissions import Action, can, require

DEFAULT_SHIFTS_RANGE = timedelta(days=7)
MAX_SHIFTS_RANGE = timedelta(days=93)


# --- helpers ----------------------------------------------------------------------------------


def request_actor(request: Request) -> User | APIKey:
    return request.auth if request.auth else request.user


def request_person(request: Request) -> User | None:
    """The human behind the request, for audit; None for an API key."""
    return request.user if request.user.pk else None


def request_actor_label(request: Request) -> str:
    """How the audit log names an API key (a person is named by their email)."""
    if isinstance(request.auth, APIKey):
        return Actor.for_api_key(request.auth).label
    return ""


def _instant_param(request: Request, name: str, default: datetime) -> datetime:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return parse_instant(raw)
    except ValueError as exc:
        raise ValidationError({name: [str(exc)]}) from exc


def schedule_or_404(organization: Organization, schedule_id: int) -> Schedule:
    return get_object_or_404(organization_schedules(organization=organization), pk=schedule_id)


def _users(ids: Iterable[int]) -> dict[int, User]:
    return User.objects.in_bulk(set(ids))


def _now_and_next(
    schedule_ids: list[int], now: datetime
) -> tuple[dict[int, tuple[int, ...]], dict[int, Handoff | None]]:
    """Who is on call at `now` and the next hand-off, for many schedules in one batch.

    `selectors.oncall_user_ids` plus `selectors.next_handoff` without five queries a schedule:
    the first block of the horizon is who is on call now.
    """
    specs = schedule_specs(schedule_ids, start=now, end=now + HANDOFF_HORIZON)
    oncall: dict[int, tuple[int, ...]] = {}
    upcoming: dict[int, Handoff | None] = {}
    for schedule_id, spec in specs.items():
        blocks = final_schedule(spec, now, now + HANDOFF_HORIZON)
        changes = handoffs(blocks)
        oncall[schedule_id] = blocks[0].users if blocks else ()
        upcoming[schedule_id] = Handoff(*changes[0]) if changes else None
    return oncall, upcoming


def summary_context(schedules: list[Schedule], now: datetime) -> dict[str, Any]:
    """What ScheduleSerializer needs: a fixed number of queries however many schedules."""
    oncall, upcoming = _now_and_next([schedule.pk for schedule in schedules], now)
    user_ids = {i for users in oncall.values() for i in users}
    for handoff in upcoming.values():
        if handoff is not None:
            user_ids.update(handoff.before, handoff.after)
    return {"oncall": oncall, "handoffs": upcoming, "users": _users(user_ids)}


def layers_in_order() -> Prefetch:
    return Prefetch(
        "layers",
        queryset=Layer.objects.prefetch_related(
            Prefetch("participants", queryset=LayerParticipant.objects.select_related("user")),
            "restrictions",
        ),
    )


def _current_and_upcoming_overrides(schedule: Schedule, now: datetime) -> QuerySet[Override]:
    return (
        Override.objects.filter(schedule=schedule, end__gt=now)
        .select_related("user", "replaces", "created_by")
        .order_by("start", "id")
    )


def _may_write_override(request: Request, organization: Organization, covering_id: int) -> bool:
    actor = request_actor(request)
    if can(actor, organization, Action.OVERRIDE_ANY):
        return True
    person = request_person(request)
    return (
        person is not None
        and person.pk == covering_id
        and can(actor, organization, Action.OVERRIDE_SELF)
    )


def require_some_override_right(request: Request, organization: Organization) -> None:
    actor = request_actor(request)
    if not (
        can(actor, organization, Action.OVERRIDE_ANY)
        or can(actor, organization, Action.OVERRIDE_SELF)
    ):
        raise PermissionDenied(f"Not allowed: {Action.OVERRIDE_SELF}.")


def oncall_overview(*, organization: Organization, at: datetime) -> dict[str, Any]:
    """The body of `GET oncall`: who is on call at `at` in each schedule.

    The escalation app sits above oncall, so `GET oncall` is its view (escalation.api.views):
    it adds per-policy levels to this body as a sibling key of "schedules".
    """
    schedules = list(organization_schedules(organization=organization))
    oncall = oncall_user_ids([schedule.pk for schedule in schedules], at)
    users = _users(i for ids in oncall.values() for i in ids)
    return {
        "at": AwareDateTimeField().to_representation(at),
        "schedules": [
            {
                "id": schedule.pk,
                "name": schedule.name,
                "team": TeamSerializer(schedule.team).data if schedule.team else None,
                "users": people(oncall.get(schedule.pk, ()), users),
            }
            for schedule in schedules
        ],
    }


# --- endpoints --------------------------------------------------------------------------------


@api_view(["GET"])
def schedules(request: Request, org_slug: str) -> Response:
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.SCHEDULE_VIEW)
    found = list(organization_schedules(organization=organization))
    context = summary_context(found, timezone.now())
    return Response(ScheduleSerializer(found, many=True, context=context).data)


@api_view(["GET"])
def schedule_detail(request: Request, org_slug: str, schedule_id: int) -> Response:
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.SCHEDULE_VIEW)
    schedule = get_object_or_404(
        organization_schedules(organization=organization).prefetch_related(layers_in_order()),
        pk=schedule_id,
    )
    now = timezone.now()
    context = summary_context([schedule], now)
    context["health"] = schedule_health(schedule, now)
    return Response(ScheduleDetailSerializer(schedule, context=context).data)


@api_view(["GET"])
def schedule_oncall(request: Request, org_slug: str, schedule_id: int) -> Response:
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.SCHEDULE_VIEW)
    schedule = schedule_or_404(organization, schedule_id)
    at = _instant_param(request, "at", timezone.now())
    users = oncall_users_at(schedule, at)
    return Response(
        {
            "schedule": {"id": schedule.pk, "name": schedule.name},
            "at": AwareDateTimeField().to_representation(at),
            "users": people(tuple(u.pk for u in users), {u.pk: u for u in users}),
        }
    )


@api_view(["GET"])
def schedule_shifts(request: Request, org_slug: str, schedule_id: int) -> Response:
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.SCHEDULE_VIEW)
    schedule = schedule_or_404(organization, schedule_id)
    start = _instant_param(request, "start", timezone.now())
    end = _instant_param(request, "end", start + DEFAULT_SHIFTS_RANGE)
    if end <= start:
        raise ValidationError({"end": ["The end must be after the start."]})
    if end - start > MAX_SHIFTS_RANGE:
        raise ValidationError({"end": [f"Ask for at most {MAX_SHIFTS_RANGE.days} days at a time."]})
    blocks = shifts_between(schedule, start, end)
    users = _users(i for block in blocks for i in block.users)
    return Response(BlockSerializer(blocks, many=True, context={"users": users}).data)


@api_view(["GET", "POST"])
def schedule_overrides(request: Request, org_slug: str, schedule_id: int) -> Response:
    organization = organization_for_request(request, org_slug)
    if request.method == "GET":
        require(request_actor(request), organization, Action.SCHEDULE_VIEW)
        schedule = schedule_or_404(organization, schedule_id)
        found = _current_and_upcoming_overrides(schedule, timezone.now())
        return Response(OverrideSerializer(found, many=True).data)
    require_some_override_right(request, organization)
    schedule = schedule_or_404(organization, schedule_id)
    given = OverrideCreateSerializer(data=request.data, context={"organization": organization})
    given.is_valid(raise_exception=True)
    if not _may_write_override(request, organization, given.validated_data["user"].pk):
        raise PermissionDenied("You may only create overrides in which you cover the shift.")
    override = override_create(
        schedule=schedule,
        actor=request_person(request),
        actor_label=request_actor_label(request),
        **given.validated_data,
    )
    return Response(OverrideSerializer(override).data, status=status.HTTP_201_CREATED)


@api_view(["DELETE"])
def schedule_override_detail(
    request: Request, org_slug: str, schedule_id: int, override_id: int
) -> Response:
    organization = organization_for_request(request, org_slug)
    require_some_override_right(request, organization)
    schedule = schedule_or_404(organization, schedule_id)
    override = get_object_or_404(
        Override.objects.select_related("schedule__organization"),
        schedule=schedule,
        pk=override_id,
    )
    if not _may_write_override(request, organization, override.user_id):
        raise PermissionDenied("You may only delete overrides in which you cover the shift.")
    override_delete(
        override=override, actor=request_person(request), actor_label=request_actor_label(request)
    )
    return Response(status=status.HTTP_204_NO_CONTENT)
