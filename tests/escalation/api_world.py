"""Shared by the escalation API tests: a frozen clock, a small world, helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from django.db.models import Max

from escalation.models import EscalationPolicy, EscalationStep, ServiceEscalation
from oncall.services import team_create
from opsknight.models import APIKey, AuditEvent, User
from tests.escalation.factories import policy, step
from tests.incidents.factories import make_service, trigger
from tests.oncall.factories import layer, people, schedule

NOW = datetime(2025, 3, 5, 12, tzinfo=UTC)  # a Wednesday; every schedule here is in UTC


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def day(d: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2025, 3, d, hour, minute, tzinfo=UTC)


def key_label() -> str:
    return f"API key test key ({APIKey.objects.get().prefix})"


def audit(world: SimpleNamespace, prefix: str = "") -> list[tuple[str, int | None, str]]:
    """(action, actor id, actor label) of what the test did, after the world was built."""
    rows = AuditEvent.objects.filter(pk__gt=world.audited or 0, action__startswith=prefix)
    return list(rows.order_by("id").values_list("action", "actor_id", "actor_label"))


def counts() -> tuple[int, int, int, int]:
    """Rows every refused write must leave as they were."""
    return (
        EscalationPolicy.objects.count(),
        EscalationStep.objects.count(),
        ServiceEscalation.objects.count(),
        AuditEvent.objects.count(),
    )


def make_world(org) -> SimpleNamespace:
    """Primary: bob this week (from Mon 3 March 09:00), alice the next, weekly at 09:00.
    Secondary: nobody. "Default" pages alice at once, then Primary 10 minutes later; the
    Payments service uses it and has an incident that triggered at NOW."""
    alice, bob, carol = people(org, 3)
    team = team_create(organization=org, name="SRE", lead=carol, members=[alice])
    primary = schedule(org, "Primary")
    layer(primary, [bob, alice], day(3, 9), name="Days")
    secondary = schedule(org, "Secondary")
    service = make_service(org, name="Payments")
    default = policy(org, [step(alice), step(primary, delay=10)], name="Default", service=service)
    incident = trigger(service)
    return SimpleNamespace(
        org=org,
        alice=alice,
        bob=bob,
        carol=carol,
        team=team,
        primary=primary,
        secondary=secondary,
        service=service,
        default=default,
        incident=incident,
        audited=AuditEvent.objects.aggregate(last=Max("id"))["last"],
    )


def url(org, rest: str = "") -> str:
    return f"/api/v1/organizations/{org.slug}{rest}"


def policy_url(world: SimpleNamespace, policy_id: int | None = None, rest: str = "") -> str:
    return url(world.org, f"/escalation-policies/{policy_id or world.default.pk}{rest}")


def as_(api_client, user: User):
    api_client.force_authenticate(user)
    return api_client


def step_body(**fields: Any) -> dict[str, Any]:
    """A step as the API shows it, defaults filled in."""
    return {
        "delay_minutes": 0,
        "users": [],
        "teams": [],
        "schedules": [],
        "team_lead_only": False,
        "channels": [],
        "high_urgency_only": False,
        "round_robin": False,
        "round_robin_minutes": 5,
    } | fields
