"""Schedules through their services and selectors, on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError

from oncall.models import Override, RotationType, ShiftSwap, SwapStatus
from oncall.selectors import (
    next_handoff,
    oncall_user_ids,
    oncall_users_at,
    schedule_health,
    shifts_between,
    user_shifts,
)
from oncall.services import (
    RestrictionInput,
    override_create,
    schedule_create,
    swap_cancel,
    swap_offer,
    swap_take,
)
from opsknight.models import AuditEvent
from tests.oncall.factories import layer, people, schedule
from tests.opsknight.factories import member

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday; the zone below is UTC


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def test_weekly_rotation_hands_off_at_nine_on_the_start_weekday(org):
    alice, bob, carol = people(org, 3)
    primary = schedule(org)
    layer(primary, [alice, bob, carol], MONDAY)
    # The layer starts at 00:00 and turn 0 at 09:00: the turn before it (the last participant's,
    # as PagerDuty's virtual start does) covers the first nine hours.
    assert oncall_users_at(primary, at(0, 8, 59)) == [carol]
    assert oncall_users_at(primary, at(-1, 12)) == []  # before the layer starts
    assert oncall_users_at(primary, at(0, 9)) == [alice]
    assert oncall_users_at(primary, at(7, 8, 59)) == [alice]
    assert oncall_users_at(primary, at(7, 9)) == [bob]
    assert oncall_users_at(primary, at(21, 9)) == [alice]


def test_higher_layer_wins_only_inside_its_restriction(org):
    night, day_person = people(org, 2)
    primary = schedule(org)
    layer(primary, [night], MONDAY, rotation_type=RotationType.DAILY, handoff_time=time(0))
    business = RestrictionInput(start_time=time(9), end_time=time(17), days=(0, 1, 2, 3, 4))
    layer(primary, [day_person], MONDAY, priority=10, restrictions=[business], handoff_time=time(0))
    assert oncall_users_at(primary, at(0, 10)) == [day_person]
    assert oncall_users_at(primary, at(0, 18)) == [night]
    assert oncall_users_at(primary, at(5, 10)) == [night]  # Saturday
    blocks = shifts_between(primary, at(0), at(1))
    assert [(b.start, b.end, b.users) for b in blocks] == [
        (at(0), at(0, 9), (night.pk,)),
        (at(0, 9), at(0, 17), (day_person.pk,)),
        (at(0, 17), at(1), (night.pk,)),
    ]


def test_override_for_everyone_wins_and_is_audited(org):
    alice, bob = people(org, 2)
    primary = schedule(org)
    layer(primary, [alice], MONDAY)
    override_create(schedule=primary, user=bob, start=at(1), end=at(2), actor=alice)
    assert oncall_users_at(primary, at(1, 12)) == [bob]
    assert oncall_users_at(primary, at(2, 12)) == [alice]
    assert AuditEvent.objects.filter(action="schedule.override.created", actor=alice).exists()


def test_override_covers_gaps_and_replacement_only_its_person(org):
    alice, bob, carol = people(org, 3)
    primary = schedule(org)
    layer(primary, [alice, bob], MONDAY, rotation_type=RotationType.DAILY, handoff_time=time(0))
    override_create(schedule=primary, user=carol, replaces=bob, start=at(0), end=at(2))
    assert oncall_users_at(primary, at(0, 5)) == [alice]  # alice's turn: untouched
    assert oncall_users_at(primary, at(1, 5)) == [carol]  # bob's turn: carol covers
    override_create(schedule=primary, user=carol, start=at(-1), end=at(0))  # before the layer
    assert oncall_users_at(primary, at(-1, 5)) == [carol]


@pytest.mark.parametrize(
    ("first_replaces", "second_replaces", "allowed"),
    [(None, None, False), (None, "a", False), ("a", "a", False), ("a", "b", True)],
)
def test_overlapping_overrides(org, first_replaces, second_replaces, allowed):
    alice, bob, carol, dave = people(org, 4)
    names = {"a": alice, "b": bob, None: None}
    primary = schedule(org)
    override_create(
        schedule=primary, user=carol, replaces=names[first_replaces], start=at(0), end=at(2)
    )
    create = {
        "schedule": primary,
        "user": dave,
        "replaces": names[second_replaces],
        "start": at(1),
        "end": at(3),
    }
    if allowed:
        override_create(**create)
        assert Override.objects.count() == 2
    else:
        with pytest.raises(ValidationError, match="overlaps override"):
            override_create(**create)
        assert Override.objects.count() == 1


def test_bad_input_is_refused_with_field_errors(org, other_org):
    alice = people(org, 1)[0]
    outsider = member(other_org)
    primary = schedule(org)
    with pytest.raises(ValidationError) as empty:
        layer(primary, [], MONDAY)
    assert "participants" in empty.value.message_dict
    with pytest.raises(ValidationError) as backwards:
        layer(primary, [alice], MONDAY, end=MONDAY - timedelta(days=1))
    assert "end" in backwards.value.message_dict
    with pytest.raises(ValidationError) as zone:
        schedule_create(organization=org, name="Mars", time_zone="Mars/Olympus_Mons")
    assert "Unknown time zone" in str(zone.value)
    with pytest.raises(ValidationError) as foreign:
        layer(primary, [outsider], MONDAY)
    assert "not a member" in str(foreign.value)
    with pytest.raises(ValidationError) as span:
        override_create(schedule=primary, user=alice, start=at(2), end=at(1))
    assert "end" in span.value.message_dict
    with pytest.raises(ValidationError) as long_shift:
        layer(
            primary,
            [alice],
            MONDAY,
            rotation_type=RotationType.DAILY,
            shift_length=timedelta(hours=25),
        )
    assert "shift_length" in long_shift.value.message_dict
    assert primary.layers.count() == 0


def test_next_handoff_health_and_user_shifts(org):
    alice, bob = people(org, 2)
    primary = schedule(org)
    layer(
        primary,
        [alice, bob],
        MONDAY,
        rotation_type=RotationType.DAILY,
        handoff_time=time(9),
        shift_length=timedelta(hours=8),
    )
    handoff = next_handoff(primary, after=at(0, 10))
    assert (handoff.at, handoff.before, handoff.after) == (at(0, 17), (alice.pk,), ())
    health = schedule_health(primary, now=at(0, 10))
    assert health.gaps
    assert health.gaps[0].start == at(0, 17)
    assert not health.healthy
    shifts = user_shifts(bob, at(0), at(3))
    assert [(s.start, s.end) for s in shifts] == [(at(1, 9), at(1, 17))]
    assert oncall_user_ids([primary.pk], at(2, 12)) == {primary.pk: (alice.pk,)}


def test_swap_offer_and_take_becomes_an_override(org):
    alice, bob = people(org, 2)
    primary = schedule(org)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    layer(primary, [alice], start, rotation_type=RotationType.DAILY, handoff_time=time(0))
    soon = start + timedelta(days=3)
    swap = swap_offer(schedule=primary, requester=alice, start=soon, end=soon + timedelta(hours=6))
    with pytest.raises(ValidationError, match="not on call"):
        swap_offer(schedule=primary, requester=bob, start=soon, end=soon + timedelta(hours=1))
    with pytest.raises(ValidationError, match="own offer"):
        swap_take(swap_id=swap.pk, taker=alice)
    taken = swap_take(swap_id=swap.pk, taker=bob)
    assert taken.status == SwapStatus.TAKEN
    assert taken.override.replaces == alice
    assert oncall_users_at(primary, soon + timedelta(hours=1)) == [bob]
    assert AuditEvent.objects.filter(action="schedule.swap.taken", actor=bob).exists()
    with pytest.raises(ValidationError, match="taken"):
        swap_take(swap_id=swap.pk, taker=bob)
    other = swap_offer(
        schedule=primary,
        requester=alice,
        start=soon + timedelta(days=1),
        end=soon + timedelta(days=1, hours=1),
    )
    swap_cancel(swap_id=other.pk, actor=alice)
    assert ShiftSwap.objects.get(pk=other.pk).status == SwapStatus.CANCELLED


def test_an_offer_whose_window_is_over_cannot_be_taken(org):
    alice, bob = people(org, 2)
    primary = schedule(org)
    start = datetime.now(UTC) - timedelta(days=2)
    layer(primary, [alice], start, rotation_type=RotationType.DAILY, handoff_time=time(0))
    soon = datetime.now(UTC) + timedelta(seconds=2)
    swap = swap_offer(schedule=primary, requester=alice, start=soon - timedelta(hours=1), end=soon)
    ShiftSwap.objects.filter(pk=swap.pk).update(end=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(ValidationError, match="window is over"):
        swap_take(swap_id=swap.pk, taker=bob)
    assert not Override.objects.exists()
