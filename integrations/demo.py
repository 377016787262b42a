"""Demo data for `make run`: enough to log in and see every part of the product at once.

It lives in `integrations`, the top layer, because it composes every app below it.
Running it again changes nothing but makes sure the printed login works.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from incidents.models import Service
from incidents.services import service_create
from integrations.models import IntegrationKind
from integrations.services import integration_create, routing_key
from oncall.models import Team
from oncall.services import team_create
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
    service = Service.objects.filter(organization=org, name="Checkout API").first()
    if service is None:
        service = service_create(
            organization=org,
            name="Checkout API",
            description="Takes the money. Pages the Platform team.",
        )
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
