"""Demo data for `make run`: enough to log in and see every part of the product at once.

It lives in `integrations`, the top layer, because it composes every app below it.
Running it again changes nothing but makes sure the printed login works.
"""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from escalation.models import EscalationPolicy
from escalation.services import StepInput, Who, policy_create, service_policy_set
from incidents.models import Service
from incidents.services import service_create
from integrations.models import IntegrationKind
from integrations.services import integration_create, routing_key
from oncall.models import RotationType, Schedule, Team
from oncall.services import RestrictionInput, layer_create, schedule_create, team_create
from opsknight.localfiles import read_or_create_secret
from opsknight.models import Organization, Role, User
from opsknight.services import membership_set, organization_create

ADMIN_EMAIL = "admin@example.com"
ORG_SLUG = "acme"
PEOPLE = [
    ("alice@example.com", "Alice Archer", Role.RESPONDER, "Europe/Berlin", "+4915112345678"),
    ("bob@example.com", "Bob Baker", Role.RESPONDER, "America/New_York", "+12125550100"),
    ("carol@example.com", "Carol Chen", Role.MANAGER, "Australia/Sydney", "+61255501234"),
    ("dave@example.com", "Dave Diaz", Role.VIEWER, "UTC", ""),
]


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    organization: str
    routing_key: str

    def curl(self, base_url: str) -> str:
        """A ready-to-paste command that triggers a demo incident (first alert in one minute)."""
        event = {
            "routing_key": self.routing_key,
            "event_action": "trigger",
            "payload": {
                "summary": "Checkout latency p99 above 2s",
                "source": "demo",
                "severity": "critical",
            },
        }
        body = json.dumps(event, separators=(",", ":"))
        return f"curl -X POST {base_url}/v2/enqueue -H 'Content-Type: application/json' -d '{body}'"


class DemoRefusedError(RuntimeError):
    pass


def _demo_schedule(org: Organization, team: Team, people: list[User], admin: User) -> None:
    """A weekly rotation of the team with a business-hours day layer on top, started last
    Monday so "who is on call now" has an answer the moment the demo starts."""
    schedule = schedule_create(
        organization=org,
        name="Platform primary",
        time_zone="Europe/Berlin",
        team=team,
        actor=admin,
    )
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo("Europe/Berlin"))
    monday = datetime.combine(today - timedelta(days=today.weekday()), time(0), tzinfo=UTC)
    layer_create(
        schedule=schedule,
        name="Weekly",
        start=monday,
        participants=people[:3],
        rotation_type=RotationType.WEEKLY,
        handoff_time=time(10),
        actor=admin,
    )
    layer_create(
        schedule=schedule,
        name="Business hours",
        start=monday,
        participants=[people[3], admin],
        rotation_type=RotationType.DAILY,
        handoff_time=time(9),
        priority=1,
        actor=admin,
        restrictions=[
            RestrictionInput(start_time=time(9), end_time=time(17), days=(0, 1, 2, 3, 4))
        ],
    )


def _demo_policy(org: Organization, team: Team, service: Service, admin: User) -> None:
    """Whoever is on call first, then the team's lead, then the whole team; twice over."""
    schedule = Schedule.objects.get(organization=org, name="Platform primary")
    who = Who(user=admin)
    policy = policy_create(
        organization=org,
        name="Platform",
        description="On call first, then the lead, then everyone.",
        repeat_count=1,
        repeat_after_minutes=10,
        steps=[
            StepInput(schedule_ids=[schedule.pk]),
            StepInput(delay_minutes=5, team_ids=[team.pk], team_lead_only=True),
            StepInput(delay_minutes=10, team_ids=[team.pk]),
        ],
        who=who,
    )
    service_policy_set(service=service, policy=policy, who=who)


@transaction.atomic
def seed_demo() -> DemoLogin:
    if settings.PRODUCTION:
        # It creates a superuser with a password printed on a console: never on a real install.
        raise DemoRefusedError("demo data is for development; OPSKNIGHT_ENV is production")
    password = read_or_create_secret(Path(settings.DATA_DIR) / "demo-admin-password", 12)
    admin = User.objects.filter(email=ADMIN_EMAIL).first()
    if admin is None:
        admin = User.objects.create_superuser(ADMIN_EMAIL, password, display_name="Demo Admin")
    else:
        admin.set_password(password)
        admin.is_active = admin.is_staff = admin.is_superuser = True
        admin.save()

    org = Organization.objects.filter(slug=ORG_SLUG).first()
    if org is None:
        org = organization_create(
            name="Acme Corp", slug=ORG_SLUG, owner=admin, time_zone="Europe/Berlin"
        )

    people = []
    for email, name, role, tz, phone in PEOPLE:
        user = User.objects.filter(email=email).first()
        if user is None:
            # Demo teammates cannot log in until an admin sets a password: no shared secrets.
            user = User.objects.create_user(
                email, None, display_name=name, time_zone=tz, phone=phone
            )
        membership_set(organization=org, user=user, role=role, actor=admin)
        people.append(user)

    if not Team.objects.filter(organization=org, name="Platform").exists():
        team_create(
            organization=org,
            name="Platform",
            description="Runs the shared infrastructure.",
            lead=people[2],
            members=people[:3],
        )
    team = Team.objects.get(organization=org, name="Platform")
    if not Schedule.objects.filter(organization=org, name="Platform primary").exists():
        _demo_schedule(org, team, people, admin)
    service = Service.objects.filter(organization=org, name="Checkout API").first()
    if service is None:
        service = service_create(
            organization=org,
            name="Checkout API",
            description="Takes the money. Pages the Platform team.",
        )
    if not EscalationPolicy.objects.filter(organization=org, name="Platform").exists():
        _demo_policy(org, team, service, admin)
    integration = service.integrations.filter(kind=IntegrationKind.PAGERDUTY).first()
    if integration is None:
        integration = integration_create(
            service=service,
            kind=IntegrationKind.PAGERDUTY,
            name="Demo monitoring",
            created_by=admin,
        ).integration
    return DemoLogin(
        email=ADMIN_EMAIL,
        password=password,
        organization=org.name,
        routing_key=routing_key(integration),
    )
