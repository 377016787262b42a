from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from incidents.models import Service
from integrations.selectors import service_integrations
from integrations.services import routing_key


class Command(BaseCommand):
    help = "Print the routing keys of a service's integrations (for scripts): kind, name, key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("service", help="The service's name or id.")
        parser.add_argument("--org", help="The organization's slug, when names repeat.")
        parser.add_argument("--kind", help="Only integrations of this kind (e.g. pagerduty).")

    def handle(self, *args: Any, **options: Any) -> None:
        services = Service.objects.all()
        if options["org"]:
            services = services.filter(organization__slug=options["org"])
        ref = options["service"]
        found = list(services.filter(pk=int(ref)) if ref.isdigit() else services.filter(name=ref))
        if not found:
            raise CommandError(f"No service {ref!r}.")
        if len(found) > 1:
            slugs = ", ".join(s.organization.slug for s in found)
            raise CommandError(f"{len(found)} services are named {ref!r} ({slugs}); add --org.")
        integrations = service_integrations(service=found[0])
        if options["kind"]:
            integrations = integrations.filter(kind=options["kind"])
        if not integrations:
            raise CommandError(f"Service {ref!r} has no integrations.")
        for integration in integrations:
            state = "" if integration.enabled else "\t(disabled)"
            self.stdout.write(
                f"{integration.kind}\t{integration.name}\t{routing_key(integration)}{state}"
            )
