"""Builders for schedules: real rows through the services, as production writes them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time

from oncall.models import Layer, RotationType, Schedule
from oncall.services import RestrictionInput, layer_create, schedule_create
from opsknight.models import Organization, Role, User
from tests.opsknight.factories import member


def people(org: Organization, count: int, role: Role = Role.RESPONDER) -> list[User]:
    return [member(org, role) for _ in range(count)]


def schedule(org: Organization, name: str = "Primary", time_zone: str = "UTC") -> Schedule:
    return schedule_create(organization=org, name=name, time_zone=time_zone)


def layer(
    on: Schedule,
    participants: Sequence[User],
    start: datetime,
    *,
    name: str = "Layer",
    rotation_type: str = RotationType.WEEKLY,
    handoff_time: time = time(9, 0),
    priority: int = 0,
    restrictions: Sequence[RestrictionInput] = (),
    **fields: object,
) -> Layer:
    return layer_create(
        schedule=on,
        name=name,
        start=start,
        participants=participants,
        rotation_type=rotation_type,
        handoff_time=handoff_time,
        priority=priority,
        restrictions=restrictions,
        **fields,
    )
