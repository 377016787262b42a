"""Shared by the schedules API write tests: a frozen clock, a small world, helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from django.db.models import Max

from oncall.services import schedule_create, team_create
from opsknight.models import APIKey, AuditEvent, User
from tests.oncall.factories import layer, people, schedule

NOW = datetime(2025, 3, 5, 12, tzinfo=UTC)  # a Wednesday; every schedule here is in UTC


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def day(d: int, hour: int = 0) -> datetime:
    return datetime(2025, 3, d, hour, tzinfo=UTC)


def summary(user: User) -> dict[str, Any]:
    return {"id": user.pk, "email": user.email, "display_name": user.display_name}


def key_label() -> str:
    return f"API key test key ({APIKey.objects.get().prefix})"


def audit(world: SimpleNamespace, prefix: str = "") -> list[tuple[str, int | None, str]]:
    """(action, actor id, actor label) of what the test did, after the world was built."""
    rows = AuditEvent.objects.filter(pk__gt=world.audited, action__startswith=prefix)
    return list(rows.order_by("id").values_list("action", "actor_id", "actor_label"))


def make_world(org) -> SimpleNamespace:
    """Primary: bob this week (from Mon 3 March 09:00), alice the next. Secondary: empty."""
    alice, bob, carol = people(org, 3)
    team = team_create(organization=org, name="SRE")
    primary = schedule_create(organization=org, name="Primary", team=team)
    days = layer(primary, [bob, alice], day(3, 9), name="Days", end=day(17, 9))
    secondary = schedule(org, "Secondary")
    return SimpleNamespace(
        org=org,
        alice=alice,
        bob=bob,
        carol=carol,
        team=team,
        primary=primary,
        secondary=secondary,
        days=days,
        audited=AuditEvent.objects.aggregate(last=Max("id"))["last"],
    )


def url(org, rest: str = "") -> str:
    return f"/api/v1/organizations/{org.slug}{rest}"


def as_(api_client, user: User):
    api_client.force_authenticate(user)
    return api_client


def minimal_layer(world: SimpleNamespace, **changes: Any) -> dict[str, Any]:
    """The smallest valid layer body, with `changes` on top."""
    return {"name": "L", "start": iso(day(3)), "participants": [world.alice.pk]} | changes
