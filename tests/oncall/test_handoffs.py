"""Hand-off notices: recorded once per shift, whichever worker runs the job and how often."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from procrastinate.contrib.django import app

from oncall import tasks
from oncall.handoffs import handoff_notices_record
from oncall.models import HandoffKind, HandoffNotice, RotationType
from oncall.services import override_create
from tests.oncall.factories import layer, people, schedule

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 11, 2, tzinfo=UTC)


def notices():
    return sorted(
        HandoffNotice.objects.values_list("user_id", "kind", "shift_start", "shift_end"),
        key=lambda row: (row[2], row[1]),
    )


def test_upcoming_then_started_each_recorded_once(org):
    alice, bob = people(org, 2)
    primary = schedule(org)
    layer(primary, [alice, bob], MONDAY, rotation_type=RotationType.DAILY, handoff_time=time(9))
    tuesday_nine = MONDAY + timedelta(days=1, hours=9)
    lead = timedelta(minutes=60)

    handoff_notices_record(now=tuesday_nine - timedelta(minutes=61), lead=lead)
    assert notices() == []  # not yet within the hour
    handoff_notices_record(now=tuesday_nine - timedelta(minutes=59), lead=lead)
    handoff_notices_record(now=tuesday_nine - timedelta(minutes=30), lead=lead)
    assert notices() == [
        (bob.pk, HandoffKind.UPCOMING, tuesday_nine, tuesday_nine + timedelta(days=1))
    ]
    handoff_notices_record(now=tuesday_nine + timedelta(minutes=1), lead=lead)
    handoff_notices_record(now=tuesday_nine + timedelta(minutes=2), lead=lead)
    assert [row[:2] for row in notices()] == [
        (bob.pk, HandoffKind.STARTED),
        (bob.pk, HandoffKind.UPCOMING),
    ]


def test_a_worker_that_was_down_does_not_announce_old_shifts(org):
    alice, bob = people(org, 2)
    primary = schedule(org)
    layer(primary, [alice, bob], MONDAY, rotation_type=RotationType.DAILY, handoff_time=time(9))
    handoff_notices_record(now=MONDAY + timedelta(days=1, hours=10), lead=timedelta(minutes=60))
    assert notices() == []


def test_overrides_count_as_shifts(org):
    alice, carol = people(org, 2)
    primary = schedule(org)
    layer(primary, [alice], MONDAY, rotation_type=RotationType.WEEKLY, handoff_time=time(9))
    cover = MONDAY + timedelta(days=2, hours=12)
    override_create(schedule=primary, user=carol, start=cover, end=cover + timedelta(hours=3))
    handoff_notices_record(now=cover - timedelta(minutes=5), lead=timedelta(minutes=60))
    assert notices() == [(carol.pk, HandoffKind.UPCOMING, cover, cover + timedelta(hours=3))]


def test_the_periodic_jobs_are_registered_and_run(org):
    alice, bob = people(org, 2)
    start = datetime.now(UTC) - timedelta(days=1)
    soon = (datetime.now(UTC) + timedelta(minutes=30)).time()
    layer(schedule(org), [alice, bob], start, rotation_type=RotationType.DAILY, handoff_time=soon)
    periodic = {
        task.periodic_id: task.task.name for task in app.periodic_registry.periodic_tasks.values()
    }
    assert periodic["record-handoff-notices"] == "oncall.record_handoff_notices"
    assert periodic["refresh-imported-calendars"] == "oncall.refresh_imported_calendars"
    tasks.record_handoff_notices(timestamp=0)
    tasks.refresh_imported_calendars(timestamp=0)
    assert HandoffNotice.objects.filter(kind=HandoffKind.UPCOMING).count() == 1
