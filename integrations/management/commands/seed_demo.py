from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integrations.demo import DemoRefusedError, seed_demo


class Command(BaseCommand):
    help = "Create (or refresh) the demo organization, users, team and service."

    def handle(self, *args: object, **options: object) -> None:
        try:
            login = seed_demo()
        except DemoRefusedError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Demo organization: {login.organization}")
        self.stdout.write(f"Login: {login.email} / {login.password}")
        self.stdout.write(f"Trigger a demo incident: {login.curl(settings.BASE_URL)}")
