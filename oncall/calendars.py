"""Calendars in and out of schedules: subscription feeds, and layers imported from iCalendar.

Feeds are reads: the final schedule rendered by `oncall.ical`. Imports are writes: a calendar
(uploaded, or fetched from a URL and refreshed periodically) becomes a read-only layer's
blocks. A calendar is fetched outside any transaction, since a slow server must not hold a
database connection and row lock for seconds; the result is written in one short transaction.
A failed refresh records why and keeps the blocks it had: a calendar server that is down must
never blank a rota.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from oncall import fetching
from oncall.fetching import CalendarFetchError, fetch_calendar, normalize_calendar_url
from oncall.ical import (
    CalendarError,
    FeedShift,
    ParsedCalendar,
    blocks_to_json,
    feed_calendar,
    parse_calendar,
)
from oncall.models import CalendarFeed, Layer, LayerSource, Schedule
from oncall.selectors import shifts_between, user_shifts
from opsknight.models import Membership, User
from opsknight.services import audit_record

logger = logging.getLogger(__name__)

FEED_PAST = timedelta(days=30)
FEED_FUTURE = timedelta(days=180)
IMPORT_PAST = timedelta(days=30)
IMPORT_FUTURE = timedelta(days=180)
# Subscribed URLs are fetched again after this; uploaded files are re-expanded daily so their
# repeating events keep reaching IMPORT_FUTURE ahead.
REFRESH_AFTER = timedelta(minutes=15)
REEXPAND_AFTER = timedelta(days=1)


# --- feeds ----------------------------------------------------------------------------------


def calendar_feed_ics(feed: CalendarFeed, *, now: datetime | None = None) -> bytes:
    """A feed's calendar from FEED_PAST ago to FEED_FUTURE ahead; gaps are left out.

    A person's feed lists only the feed's organization's schedules: a token issued by one
    tenant never shows another's rota, even for someone who belongs to both.
    """
    now = now or timezone.now()
    start, end = now - FEED_PAST, now + FEED_FUTURE
    pieces: list[tuple[Schedule, datetime, datetime, int]]
    if feed.schedule is not None:
        schedule = feed.schedule
        pieces = [
            (schedule, block.start, block.end, user_id)
            for block in shifts_between(schedule, start, end)
            for user_id in block.users
        ]
        title = f"{schedule.name} on call"
    else:
        assert feed.user is not None  # the model's constraint: a schedule or a person
        pieces = [
            (shift.schedule, shift.start, shift.end, feed.user.pk)
            for shift in user_shifts(feed.user, start, end, organization=feed.organization)
        ]
        title = f"{feed.user} on call"
    people = User.objects.in_bulk({user_id for *_, user_id in pieces})
    shifts = [
        FeedShift(
            schedule_id=schedule.pk,
            schedule_name=schedule.name,
            user_id=user_id,
            person=str(people[user_id]),
            email=people[user_id].email,
            start=shift_start,
            end=shift_end,
        )
        for schedule, shift_start, shift_end, user_id in pieces
        if user_id in people  # an imported calendar may still name someone since deleted
    ]
    return feed_calendar(
        title=title, shifts=shifts, stamp=now, name_people=feed.schedule is not None
    )


# --- imports --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedCalendar:
    layer: Layer
    blocks: int
    warnings: list[str] = field(default_factory=list)


def organization_people(organization_id: int) -> dict[str, int]:
    """Active members by lower-case email and display name; a name two people share is left out.

    An email always wins over a display name that happens to spell it.
    """
    by_name: dict[str, set[int]] = {}
    by_email: dict[str, int] = {}
    for user_id, email, name in Membership.objects.filter(
        organization_id=organization_id, user__is_active=True
    ).values_list("user_id", "user__email", "user__display_name"):
        by_email[email.strip().lower()] = user_id
        if name.strip():
            by_name.setdefault(name.strip().lower(), set()).add(user_id)
    people = {name: ids.pop() for name, ids in by_name.items() if len(ids) == 1}
    people.update(by_email)
    return people


def _parse_for(schedule: Schedule, text: str, now: datetime) -> ParsedCalendar:
    return parse_calendar(
        text,
        people=organization_people(schedule.organization_id),
        time_zone=schedule.time_zone,
        start=now - IMPORT_PAST,
        end=now + IMPORT_FUTURE,
    )


def _read_input(
    schedule: Schedule, text: str | None, url: str | None, now: datetime
) -> tuple[str, str, ParsedCalendar]:
    """(url, text, parsed) from an upload or a URL, or a ValidationError on the field given."""
    if (text is None) == (url is None):
        raise ValidationError("Give either a calendar file or a calendar URL.")
    field_name = "ical_text" if text is not None else "ical_url"
    try:
        if url is not None:
            url = normalize_calendar_url(url)
            text = fetch_calendar(url)
        assert text is not None
        if len(text.encode()) > fetching.MAX_CALENDAR_BYTES:
            raise CalendarError(fetching.too_large())
        parsed = _parse_for(schedule, text, now)
    except (CalendarError, CalendarFetchError) as exc:
        raise ValidationError({field_name: str(exc)}) from exc
    return url or "", text, parsed


def layer_create_imported(
    *,
    schedule: Schedule,
    name: str,
    text: str | None = None,
    url: str | None = None,
    priority: int = 0,
    start: datetime | None = None,
    end: datetime | None = None,
    actor: User | None = None,
) -> ImportedCalendar:
    """A read-only layer from a calendar file or URL; nothing is created if it cannot be read."""
    now = timezone.now()
    url, text, parsed = _read_input(schedule, text, url, now)
    with transaction.atomic():
        layer = Layer(
            schedule=schedule,
            name=name,
            priority=priority,
            source=LayerSource.ICAL,
            start=start or now - IMPORT_PAST,
            end=end,
            ical_url=url,
            ical_text=text,
            ical_fetched_at=now,
            ical_blocks=blocks_to_json(parsed.blocks),
        )
        layer.full_clean()
        layer.save()
        audit_record(
            action="schedule.layer.created",
            organization=schedule.organization,
            actor=actor,
            target=layer,
            data={"schedule": schedule.pk, "source": LayerSource.ICAL, "url": url},
        )
    return ImportedCalendar(layer=layer, blocks=len(parsed.blocks), warnings=parsed.warnings)


def layer_import_ical(
    *,
    layer: Layer,
    text: str | None = None,
    url: str | None = None,
    actor: User | None = None,
) -> ImportedCalendar:
    """Replace an imported layer's calendar with a file or a URL to subscribe to.

    A file replaces any URL (else the next refresh would overwrite it). A calendar that cannot
    be read or fetched is refused with a ValidationError and nothing is written.
    """
    if layer.source != LayerSource.ICAL:
        raise ValidationError({"source": "This layer is a rotation; it cannot take a calendar."})
    now = timezone.now()
    url, text, parsed = _read_input(layer.schedule, text, url, now)
    with transaction.atomic():
        locked = Layer.objects.select_for_update().select_related("schedule").get(pk=layer.pk)
        locked.ical_url, locked.ical_text = url, text
        locked.full_clean()
        _write(locked, text=text, parsed=parsed, now=now)
        audit_record(
            action="schedule.layer.calendar_imported",
            organization=locked.schedule.organization,
            actor=actor,
            target=locked,
            data=_import_data(locked, parsed),
        )
    layer.refresh_from_db()
    return ImportedCalendar(layer=layer, blocks=len(parsed.blocks), warnings=parsed.warnings)


def layer_refresh_from_url(layer: Layer, *, now: datetime | None = None) -> bool:
    """Fetch the layer's calendar URL again; False (and `ical_error` says why) if that failed.

    On failure the previous text and blocks stay: an unreachable calendar keeps the last rota.
    `ical_fetched_at` is set either way, so a dead URL is retried every REFRESH_AFTER, not on
    every run of the periodic job.
    """
    if layer.source != LayerSource.ICAL or not layer.ical_url:
        return False
    return _refresh(layer, now or timezone.now())


def _refresh(layer: Layer, now: datetime) -> bool:
    """Fetch the URL (or re-read an uploaded file over today's window) and store the result."""
    url = layer.ical_url
    try:
        text = fetch_calendar(url) if url else layer.ical_text
        parsed = _parse_for(layer.schedule, text, now)
    except (CalendarFetchError, CalendarError) as exc:
        logger.warning("calendar refresh failed for layer %s: %s", layer.pk, exc)
        _record_failure(layer.pk, url=url, reason=str(exc), now=now)
        return False
    return _store(layer.pk, url=url, text=text, parsed=parsed, now=now)


def refresh_imported_layers(now: datetime | None = None) -> int:
    """Refresh subscribed calendars not fetched for REFRESH_AFTER; returns how many succeeded.

    Also re-expands uploaded calendars daily. Each layer is claimed by moving its
    `ical_fetched_at` forward first, so workers running this at once never fetch the same
    calendar twice. Meant for a periodic job; safe to run any number of times.
    """
    now = now or timezone.now()
    subscribed = Q(ical_fetched_at__isnull=True) | Q(ical_fetched_at__lt=now - REFRESH_AFTER)
    uploaded = (
        Q(ical_url="")
        & ~Q(ical_text="")
        & (Q(ical_fetched_at__isnull=True) | Q(ical_fetched_at__lt=now - REEXPAND_AFTER))
    )
    due = (
        Layer.objects.filter(source=LayerSource.ICAL)
        .filter((~Q(ical_url="") & subscribed) | uploaded)
        .select_related("schedule")
        .order_by("ical_fetched_at", "pk")
    )
    refreshed = 0
    for layer in due:
        claimed = Layer.objects.filter(
            pk=layer.pk, ical_fetched_at=layer.ical_fetched_at, ical_url=layer.ical_url
        ).update(ical_fetched_at=now)
        if not claimed:
            continue  # another worker has it, or someone changed it meanwhile
        refreshed += _refresh(layer, now)
    return refreshed


@transaction.atomic
def _store(layer_id: int, *, url: str, text: str, parsed: ParsedCalendar, now: datetime) -> bool:
    """Write a refresh's result unless the layer's source changed while it was being fetched."""
    layer = Layer.objects.select_for_update().select_related("schedule").get(pk=layer_id)
    if layer.source != LayerSource.ICAL or layer.ical_url != url:
        return False
    before = layer.ical_blocks
    _write(layer, text=text, parsed=parsed, now=now)
    if layer.ical_blocks != before:  # every change of who is on call is audited
        audit_record(
            action="schedule.layer.calendar_refreshed",
            organization=layer.schedule.organization,
            target=layer,
            data=_import_data(layer, parsed),
        )
    return True


@transaction.atomic
def _record_failure(layer_id: int, *, url: str, reason: str, now: datetime) -> None:
    layer = Layer.objects.select_for_update().select_related("schedule").get(pk=layer_id)
    if layer.source != LayerSource.ICAL or layer.ical_url != url:
        return
    message = f"{reason} The calendar read before is kept."
    was_failing = bool(layer.ical_error)
    layer.ical_error = message
    layer.ical_fetched_at = now
    layer.save(update_fields=["ical_error", "ical_fetched_at"])
    if not was_failing:  # audit the start of a failure, not every retry of it
        audit_record(
            action="schedule.layer.calendar_failed",
            organization=layer.schedule.organization,
            target=layer,
            data={"url": url, "error": reason},
        )


def _write(layer: Layer, *, text: str, parsed: ParsedCalendar, now: datetime) -> None:
    layer.ical_text = text
    layer.ical_blocks = blocks_to_json(parsed.blocks)
    layer.ical_fetched_at = now
    layer.ical_error = ""
    layer.save(
        update_fields=["ical_url", "ical_text", "ical_blocks", "ical_fetched_at", "ical_error"]
    )


def _import_data(layer: Layer, parsed: ParsedCalendar) -> dict[str, Any]:
    return {
        "schedule": layer.schedule_id,
        "url": layer.ical_url,
        "blocks": len(parsed.blocks),
        "warnings": parsed.warnings[:5],
    }
