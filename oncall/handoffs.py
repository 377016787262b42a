"""Hand-off notices: "your shift starts in an hour" and "your shift has started".

A periodic job writes one `HandoffNotice` row per (schedule, person, kind, shift start); the
notifications app delivers the rows it finds undelivered. Writing intent rows rather than sending
from here keeps this app below `notifications` (DESIGN.md) and makes the job safe to run twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from oncall.models import HandoffKind, HandoffNotice, Schedule
from oncall.rotation import final_schedule, handoffs
from oncall.selectors import schedule_specs

# A notice for a shift that started more than this long ago is no longer worth sending (the
# worker was down, say): the person has been on call for a while already.
STARTED_GRACE = timedelta(minutes=10)
# Look this far past a shift's start to tell the person when it ends.
END_HORIZON = timedelta(days=14)


def notice_lead() -> timedelta:
    return timedelta(minutes=settings.ONCALL_HANDOFF_NOTICE_MINUTES)


def handoff_notices_record(now: datetime | None = None, lead: timedelta | None = None) -> int:
    """Record notices for shifts starting within `lead` and shifts that just started.

    Returns how many notices are due, recorded now or before: the unique constraint makes a
    second run (or a second worker) add nothing.
    """
    now = now or timezone.now()
    lead = notice_lead() if lead is None else lead
    start, end = now - STARTED_GRACE - timedelta(seconds=1), now + lead + END_HORIZON
    ids = Schedule.objects.filter(organization__is_active=True).values_list("pk", flat=True)
    notices: list[HandoffNotice] = []
    for schedule_id, spec in schedule_specs(ids, start=start, end=end).items():
        blocks = final_schedule(spec, start, end)
        ends = {block.start: block.end for block in blocks}
        for when, before, after in handoffs(blocks):
            if when > now + lead or when <= now - STARTED_GRACE:
                continue
            kind = HandoffKind.STARTED if when <= now else HandoffKind.UPCOMING
            notices += [
                HandoffNotice(
                    schedule_id=schedule_id,
                    user_id=user_id,
                    kind=kind,
                    shift_start=when,
                    shift_end=ends[when],
                    created_at=now,
                )
                for user_id in after
                if user_id not in before
            ]
    HandoffNotice.objects.bulk_create(notices, ignore_conflicts=True)
    return len(notices)
