"""Shared by the notifications tests: a real SMTP server on loopback, and running deliveries."""

from __future__ import annotations

import email
import email.policy
import json
import ssl
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from notifications.delivery import delivery_run
from notifications.models import Notification, OutboundDelivery
from notifications.outbound.delivery import outbound_delivery_run
from tests.escalation.factories import queued, take
from tests.processes import free_port, serving


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


# --- Outbound destinations: a loopback endpoint that records posts, and running their jobs. ---


class Receiver(ThreadingHTTPServer):
    """A loopback HTTP(S) endpoint standing in for a chat service or a webhook receiver: it
    records every POST (path, headers, raw body) and answers from a script, then `default`."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.posts: list[Received] = []
        self.answers: list[tuple[int, bytes]] = []
        self.default: tuple[int, bytes] = (200, b'{"ok":true}')
        self.content_type = "application/json"
        self.server_names: list[str | None] = []  # TLS SNI of each handshake
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.scheme = "https" if tls else "http"

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


@dataclass
class Received:
    path: str
    headers: Message
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.posts.append(Received(self.path, self.headers, body))
        status, answer = self.server.answers.pop(0) if self.server.answers else self.server.default
        self.send_response(status)
        self.send_header("Content-Type", self.server.content_type)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def outbound_settings(settings):
    """Loopback destinations allowed (the guard refuses them otherwise), links on a fixed host."""
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    settings.BASE_URL = "https://oncall.example.com"
    return settings


@pytest.fixture
def receiver(outbound_settings):
    with serving(Receiver()) as server:
        yield server


def post_due_outbound() -> int:
    """Run the outbound jobs queued now, each at its row's due time (one round of retries)."""
    jobs = [take(job) for job in queued("notifications.post_outbound")]
    for job in jobs:
        delivery_id = job.args["delivery_id"]
        OutboundDelivery.objects.filter(pk=delivery_id, due_at__gt=timezone.now()).update(
            due_at=timezone.now()
        )
        outbound_delivery_run(delivery_id=delivery_id)
    return len(jobs)


def post_all_outbound() -> int:
    """Run outbound jobs, retries included, until none is left."""
    ran = 0
    while count := post_due_outbound():
        ran += count
    return ran
