from django.core.management.base import BaseCommand

from integrations.demo import seed_demo


class Command(BaseCommand):
    help = "Create (or refresh) the demo organization, users, team and service."

    def handle(self, *args: object, **options: object) -> None:
        login = seed_demo()
        self.stdout.write(f"Demo organization: {login.organization}")
        self.stdout.write(f"Login: {login.email} / {login.password}")
