"""Schedules read from the database as `oncall.rotation` specs, in one query.

"Who is on call now" across an organization's schedules is asked on every escalation step and
every dashboard load. Read through the ORM it took five queries and ~150 ms of per-row Python
for 1,000 schedules (Django's timestamp loaders are Python code); here PostgreSQL nests each
schedule's layers, participants, restrictions and overrides into one JSON value per schedule,
and Python parses it with the C JSON and ISO 8601 parsers. The rotation rules themselves stay in
`oncall.rotation`; this module only moves rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet

from oncall.models import (
    Layer,
    LayerParticipant,
    LayerRestriction,
    LayerSource,
    Override,
    RestrictionKind,
    RotationType,
    RotationUnit,
    Schedule,
)
from oncall.rotation import (
    DAILY,
    DAYS,
    HOURS,
    WEEKLY,
    LayerSpec,
    OverrideSpec,
    ScheduleSpec,
    Window,
)

_FAR_PAST = datetime.fromisoformat("0001-01-02T00:00:00+00:00")
_FAR_FUTURE = datetime.fromisoformat("9999-12-30T00:00:00+00:00")


def _sql(schedule_ids_sql: str) -> str:
    schedule, layer = Schedule._meta.db_table, Layer._meta.db_table
    participant, restriction = LayerParticipant._meta.db_table, LayerRestriction._meta.db_table
    override = Override._meta.db_table
    # Only table names from our own models and Django's compiled subquery are interpolated;
    # every value is a parameter.
    return f"""
SELECT s.id, s.time_zone,
  (SELECT json_agg(json_build_array(
       l.id, l.priority, l.source, l.start, l."end", l.rotation_type, l.rotation_length,
       l.rotation_unit, l.handoff_time, EXTRACT(EPOCH FROM l.shift_length),
       CASE WHEN l.source = %s THEN l.ical_blocks END,
       (SELECT json_agg(p.user_id ORDER BY p.position, p.id)
          FROM {participant} p WHERE p.layer_id = l.id),
       (SELECT json_agg(json_build_array(
            r.kind, r.days, r.start_weekday, r.start_time, r.end_weekday, r.end_time))
          FROM {restriction} r WHERE r.layer_id = l.id)))
     FROM {layer} l WHERE l.schedule_id = s.id),
  (SELECT json_agg(json_build_array(o.id, o.user_id, o.start, o."end", o.replaces_id))
     FROM {override} o WHERE o.schedule_id = s.id AND o."end" > %s AND o.start < %s)
FROM {schedule} s
WHERE s.id IN ({schedule_ids_sql})
"""  # noqa: S608


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _window(row: list[Any]) -> Window:
    kind, days, start_weekday, start_time, end_weekday, end_time = row
    if kind == RestrictionKind.WEEKLY:
        return Window(
            kind=WEEKLY,
            start_time=time.fromisoformat(start_time),
            end_time=time.fromisoformat(end_time),
            start_weekday=start_weekday,
            end_weekday=end_weekday,
        )
    return Window(
        kind=DAILY,
        start_time=time.fromisoformat(start_time),
        end_time=time.fromisoformat(end_time),
        days=frozenset(days or ()),
    )


def _turn(rotation_type: str, length: int, unit: str) -> tuple[int, str]:
    if rotation_type == RotationType.DAILY:
        return 1, DAYS
    if rotation_type == RotationType.WEEKLY:
        return 7, DAYS
    return length, HOURS if unit == RotationUnit.HOURS else DAYS


def _layer(row: list[Any]) -> LayerSpec:
    (layer_id, priority, source, start, end, rotation_type, length, unit, handoff, shift,
     imported, participants, restrictions) = row  # fmt: skip
    turn_length, turn_unit = _turn(rotation_type, length, unit)
    fixed = None
    if source == LayerSource.ICAL:
        fixed = tuple(
            (datetime.fromisoformat(s), datetime.fromisoformat(e), int(u))
            for s, e, u in imported or ()
        )
    return LayerSpec(
        id=layer_id,
        priority=priority,
        start=datetime.fromisoformat(start),
        end=datetime.fromisoformat(end) if end else None,
        turn_length=turn_length,
        turn_unit=turn_unit,
        handoff_time=time.fromisoformat(handoff),
        participants=tuple(participants or ()),
        shift_length=timedelta(seconds=float(shift)) if shift is not None else None,
        restrictions=tuple(_window(r) for r in restrictions or ()),
        fixed_blocks=fixed,
    )


def _override(row: list[Any]) -> OverrideSpec:
    override_id, user_id, start, end, replaces = row
    return OverrideSpec(
        override_id, user_id, datetime.fromisoformat(start), datetime.fromisoformat(end), replaces
    )


def schedule_specs(
    schedules: QuerySet[Schedule] | Iterable[int],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[int, ScheduleSpec]:
    """Specs for many schedules in one query; overrides only those touching [start, end).

    Pass a QuerySet for many schedules (say, an organization's): it becomes a subquery, so the
    query text does not grow with the number of schedules.
    """
    if not isinstance(schedules, QuerySet):
        schedules = Schedule.objects.filter(pk__in=list(schedules))
    try:
        ids_sql, ids_params = schedules.values("pk").query.sql_with_params()
    except EmptyResultSet:  # e.g. pk__in=[]: Django knows the answer without asking
        return {}
    params = [LayerSource.ICAL.value, start or _FAR_PAST, end or _FAR_FUTURE, *ids_params]
    with connection.cursor() as cursor:
        cursor.execute(_sql(ids_sql), params)
        rows = cursor.fetchall()
    return {
        schedule_id: ScheduleSpec(
            time_zone=zone_name,
            layers=tuple(_layer(row) for row in _json(layers) or ()),
            overrides=tuple(_override(row) for row in _json(overrides) or ()),
        )
        for schedule_id, zone_name, layers, overrides in rows
    }
