"""Shared by the notifications tests: a real SMTP server on loopback, and running deliveries."""

from __future__ import annotations

import email
import email.policy

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from notifications.delivery import delivery_run
from notifications.models import Notification
from tests.escalation.factories import queued, take
from tests.processes import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"


@pytest.fixture
def inbox(settings):
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.BASE_URL = "https://oncall.example.com"
    yield handler
    controller.stop()


@pytest.fixture
def nowhere(settings):
    """An SMTP server that is not there: a closed loopback port."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False


def due_now(notification_id: int) -> None:
    """Move the clock, as far as this delivery is concerned, to its due time."""
    Notification.objects.filter(pk=notification_id, due_at__gt=timezone.now()).update(
        due_at=timezone.now()
    )


def deliver_all() -> int:
    """Run every queued delivery job, each at its row's due time."""
    ran = 0
    while jobs := queued("notifications.deliver"):
        for job in map(take, jobs):
            due_now(job.args["notification_id"])
            delivery_run(**job.args)
            ran += 1
    return ran
