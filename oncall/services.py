"""Writes of on-call data: teams, schedules, layers, overrides, swaps, calendar feeds.

Every change that affects who is on call is audited with the person who made it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from oncall.models import (
    CalendarFeed,
    Layer,
    LayerParticipant,
    LayerRestriction,
    Override,
    RotationType,
    RotationUnit,
    Schedule,
    ShiftSwap,
    SwapStatus,
    Team,
    TeamMembership,
    TeamRole,
)
from oncall.selectors import shifts_between
from opsknight.models import Organization, User
from opsknight.services import audit_record

FEED_PREFIX = "okcal_"


@transaction.atomic
def team_create(
    *,
    organization: Organization,
    name: str,
    description: str = "",
    lead: User | None = None,
    members: Iterable[User] = (),
) -> Team:
    """A team with its lead and members, all of whom must belong to the organization."""
    team = Team(organization=organization, name=name, description=description)
    team.full_clean()
    team.save()
    people = [(lead, TeamRole.LEAD)] if lead is not None else []
    people += [(user, TeamRole.MEMBER) for user in members if user != lead]
    for user, role in people:
        membership = TeamMembership(team=team, user=user, role=role)
        membership.full_clean()
        membership.save()
    return team


@transaction.atomic
def schedule_create(
    *,
    organization: Organization,
    name: str,
    time_zone: str = "UTC",
    team: Team | None = None,
    description: str = "",
    actor: User | None = None,
    actor_label: str = "",
) -> Schedule:
    if team is not None and team.organization_id != organization.pk:
        raise ValidationError({"team": "The team belongs to another organization."})
    schedule = Schedule(
        organization=organization,
        name=name,
        time_zone=time_zone,
        team=team,
        description=description,
    )
    schedule.full_clean()
    schedule.save()
    audit_record(
        action="schedule.created",
        organization=organization,
        actor=actor,
        actor_label=actor_label,
        target=schedule,
    )
    return schedule


@dataclass(frozen=True)
class RestrictionInput:
    start_time: time
    end_time: time
    kind: str = "daily"
    days: tuple[int, ...] = ()
    start_weekday: int | None = None
    end_weekday: int | None = None


@transaction.atomic
def layer_create(
    *,
    schedule: Schedule,
    name: str,
    start: datetime,
    participants: Sequence[User],
    priority: int = 0,
    end: datetime | None = None,
    rotation_type: str = RotationType.WEEKLY,
    rotation_length: int = 1,
    rotation_unit: str = RotationUnit.DAYS,
    handoff_time: time = time(9, 0),
    shift_length: timedelta | None = None,
    restrictions: Sequence[RestrictionInput] = (),
    actor: User | None = None,
    actor_label: str = "",
) -> Layer:
    """A rotation layer with its people in order; a rotation of nobody is refused."""
    if not participants:
        raise ValidationError({"participants": "A layer needs at least one participant."})
    layer = Layer(
        schedule=schedule,
        name=name,
        start=start,
        end=end,
        priority=priority,
        rotation_type=rotation_type,
        rotation_length=rotation_length,
        rotation_unit=rotation_unit,
        handoff_time=handoff_time,
        shift_length=shift_length,
    )
    layer.full_clean()
    layer.save()
    layer_set_participants(layer=layer, users=participants, actor=None)
    restrictions_add(layer=layer, restrictions=restrictions)
    audit_record(
        action="schedule.layer.created",
        organization=schedule.organization,
        actor=actor,
        actor_label=actor_label,
        target=layer,
        data={"schedule": schedule.pk, "participants": [u.pk for u in participants]},
    )
    return layer


def restrictions_add(*, layer: Layer, restrictions: Sequence[RestrictionInput]) -> None:
    """Add validated windows to a layer (callers hold the transaction)."""
    for given in restrictions:
        restriction = LayerRestriction(
            layer=layer,
            kind=given.kind,
            days=list(given.days),
            start_weekday=given.start_weekday,
            start_time=given.start_time,
            end_weekday=given.end_weekday,
            end_time=given.end_time,
        )
        restriction.full_clean()
        restriction.save()


@transaction.atomic
def layer_set_participants(
    *, layer: Layer, users: Sequence[User], actor: User | None = None
) -> None:
    """Replace the rotation order: `users[0]` takes turn 0, and so on."""
    if not users:
        raise ValidationError({"participants": "A layer needs at least one participant."})
    layer.participants.all().delete()
    for position, user in enumerate(users):
        participant = LayerParticipant(layer=layer, user=user, position=position)
        participant.full_clean()
        participant.save()
    if actor is not None:
        audit_record(
            action="schedule.layer.participants_changed",
            organization=layer.schedule.organization,
            actor=actor,
            target=layer,
            data={"participants": [u.pk for u in users]},
        )


def _lock_schedule(schedule: Schedule) -> Schedule:
    """Overlap checks read other overrides; one writer per schedule makes them race-free."""
    return Schedule.objects.select_for_update().get(pk=schedule.pk)


@transaction.atomic
def override_create(
    *,
    schedule: Schedule,
    user: User,
    start: datetime,
    end: datetime,
    replaces: User | None = None,
    reason: str = "",
    actor: User | None = None,
    actor_label: str = "",
) -> Override:
    """Someone covers [start, end): for everyone, or only in place of `replaces`.

    `actor_label` names a non-person actor (an API key) in the audit log.
    """
    schedule = _lock_schedule(schedule)
    override = Override(
        schedule=schedule,
        user=user,
        replaces=replaces,
        start=start,
        end=end,
        reason=reason,
        created_by=actor,
    )
    override.full_clean()
    override.save()
    audit_record(
        action="schedule.override.created",
        organization=schedule.organization,
        actor=actor,
        actor_label=actor_label,
        target=override,
        data=_override_data(override),
    )
    return override


def _override_data(override: Override) -> dict[str, Any]:
    return {
        "schedule": override.schedule_id,
        "user": override.user_id,
        "replaces": override.replaces_id,
        "start": override.start.isoformat(),
        "end": override.end.isoformat(),
    }


@transaction.atomic
def override_delete(
    *, override: Override, actor: User | None = None, actor_label: str = ""
) -> None:
    data = _override_data(override)
    audit_record(
        action="schedule.override.deleted",
        organization=override.schedule.organization,
        actor=actor,
        actor_label=actor_label,
        target=override,
        data=data,
    )
    override.delete()


@transaction.atomic
def swap_offer(
    *, schedule: Schedule, requester: User, start: datetime, end: datetime, note: str = ""
) -> ShiftSwap:
    """Offer [start, end) of one's own shifts; refused if they are not on call in it at all."""
    if end <= start:
        raise ValidationError({"end": "The end must be after the start."})
    if end <= timezone.now():
        raise ValidationError({"end": "This window is over."})
    if not any(requester.pk in block.users for block in shifts_between(schedule, start, end)):
        raise ValidationError({"start": "You are not on call in this window."})
    swap = ShiftSwap(schedule=schedule, requester=requester, start=start, end=end, note=note)
    swap.full_clean()
    swap.save()
    audit_record(
        action="schedule.swap.offered",
        organization=schedule.organization,
        actor=requester,
        target=swap,
        data={"start": start.isoformat(), "end": end.isoformat()},
    )
    return swap


@transaction.atomic
def swap_take(*, swap_id: int, taker: User) -> ShiftSwap:
    """Take an open offer: the taker covers the requester's shifts in it (an override)."""
    swap = ShiftSwap.objects.select_for_update().select_related("schedule").get(pk=swap_id)
    if swap.status != SwapStatus.OPEN:
        raise ValidationError({"status": f"This offer is {swap.get_status_display().lower()}."})
    if taker.pk == swap.requester_id:
        raise ValidationError({"taken_by": "You cannot take your own offer."})
    if swap.end <= timezone.now():
        raise ValidationError({"end": "This offer's window is over."})
    override = override_create(
        schedule=swap.schedule,
        user=taker,
        replaces=swap.requester,
        start=swap.start,
        end=swap.end,
        reason=f"Shift swap #{swap.pk}",
        actor=taker,
    )
    swap.status = SwapStatus.TAKEN
    swap.taken_by = taker
    swap.taken_at = timezone.now()
    swap.override = override
    swap.save(update_fields=["status", "taken_by", "taken_at", "override"])
    audit_record(
        action="schedule.swap.taken",
        organization=swap.schedule.organization,
        actor=taker,
        target=swap,
        data={"requester": swap.requester_id, "taken_by": taker.pk, "override": override.pk},
    )
    return swap


@transaction.atomic
def swap_cancel(*, swap_id: int, actor: User | None, actor_label: str = "") -> ShiftSwap:
    swap = ShiftSwap.objects.select_for_update().select_related("schedule").get(pk=swap_id)
    if swap.status != SwapStatus.OPEN:
        raise ValidationError({"status": f"This offer is {swap.get_status_display().lower()}."})
    swap.status = SwapStatus.CANCELLED
    swap.save(update_fields=["status"])
    audit_record(
        action="schedule.swap.cancelled",
        organization=swap.schedule.organization,
        actor=actor,
        actor_label=actor_label,
        target=swap,
    )
    return swap


@dataclass(frozen=True)
class IssuedFeed:
    feed: CalendarFeed
    token: str


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def calendar_feed_create(
    *,
    organization: Organization,
    created_by: User | None,
    schedule: Schedule | None = None,
    user: User | None = None,
    actor_label: str = "",
) -> IssuedFeed:
    """A secret subscription URL token for one schedule or one person; shown only now."""
    if (schedule is None) == (user is None):
        raise ValidationError("A calendar feed is for one schedule or one person.")
    if schedule is not None and schedule.organization_id != organization.pk:
        raise ValidationError({"schedule": "The schedule belongs to another organization."})
    if user is not None and not organization.memberships.filter(user=user).exists():
        raise ValidationError({"user": "This person is not a member of the organization."})
    token = FEED_PREFIX + secrets.token_urlsafe(32)
    feed = CalendarFeed.objects.create(
        organization=organization,
        schedule=schedule,
        user=user,
        token_hash=_hash_token(token),
        prefix=token[: len(FEED_PREFIX) + 6],
        created_by=created_by,
    )
    audit_record(
        action="calendar_feed.created",
        organization=organization,
        actor=created_by,
        actor_label=actor_label,
        target=feed,
    )
    return IssuedFeed(feed=feed, token=token)


@transaction.atomic
def calendar_feed_revoke(*, feed: CalendarFeed, actor: User | None, actor_label: str = "") -> None:
    if feed.revoked_at is None:
        feed.revoked_at = timezone.now()
        feed.save(update_fields=["revoked_at"])
        audit_record(
            action="calendar_feed.revoked",
            organization=feed.organization,
            actor=actor,
            actor_label=actor_label,
            target=feed,
        )


def calendar_feed_authenticate(token: str) -> CalendarFeed | None:
    """The live feed behind a subscription token, or None (unknown, revoked, org disabled)."""
    if not token.startswith(FEED_PREFIX) or len(token) > 100:
        return None
    feed = (
        CalendarFeed.objects.select_related("organization", "schedule", "user")
        .filter(token_hash=_hash_token(token), revoked_at__isnull=True)
        .first()
    )
    if feed is None or not feed.organization.is_active:
        return None
    now = timezone.now()
    if feed.last_used_at is None or now - feed.last_used_at > timedelta(minutes=5):
        CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=now)
    return feed
