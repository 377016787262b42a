"""`manage.py smtp_ingest`: an SMTP server whose mail becomes alerts (integrations.sources.email).

    manage.py smtp_ingest --host 0.0.0.0 --port 25 --domain alerts.example.com

Mail to `<integration key>@alerts.example.com` or `<anything>+<key>@alerts.example.com` goes to
that email integration, mapped as the module `integrations.sources.email` describes.
- RCPT TO is refused with 550 for another domain, an unknown key, a key of another kind, a
  disabled integration, or one with a signing secret (it takes only signed Mailgun posts; a
  mail cannot be signed); 451 over the integration's rate limit (the sender retries).
- DATA is answered 250 only once its events are committed; 451 if the database fails, so the
  sending server keeps the mail and retries; 552 over --max-bytes (also advertised as SIZE).
- No TLS and no AUTH: the key in the address is the credential, as the key in a webhook's URL
  is. Publish it through your MTA (e.g. Postfix `transport_maps`: `alerts.example.com
  smtp:[127.0.0.1]:2525`) or on a port only your monitoring can reach.
- SIGTERM or SIGINT: stop accepting connections, let messages in flight finish (up to
  DRAIN_SECONDS), exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from email import message_from_bytes, policy
from typing import Any, TypeVar

from aiosmtpd.smtp import SMTP, Envelope, Session
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections, transaction

from incidents.ingestion import NormalizedEvent
from integrations import ratelimit
from integrations.models import Integration, IntegrationKind
from integrations.selectors import integration_by_key
from integrations.services import receive
from integrations.sources.common import InvalidPayload
from integrations.sources.email import BODY_LIMIT, events_from_mail, mail_from_message, read_options

logger = logging.getLogger(__name__)
T = TypeVar("T")

DRAIN_SECONDS = 30
ACCEPTED = "250 2.0.0 Accepted: the alert is recorded"
RETRY = "451 4.3.0 Temporarily unable to accept alerts; try again later"
SHUTTING_DOWN = "421 4.3.2 Shutting down; try again later"


def recipient_key(address: str, domains: Collection[str]) -> str:
    """The integration key an address names (`<key>@` or `…+<key>@` one of `domains`), or ''."""
    local, _, domain = address.strip().rpartition("@")
    if not local or domain.lower() not in domains:
        return ""
    return local.rpartition("+")[2].lower()  # keys are lower-case hex; some relays upper-case


def _usable(integration: Integration | None) -> Integration | None:
    """The integration if it still takes mail (admit's checks, re-run when the DATA arrives)."""
    if integration is None or integration.kind != IntegrationKind.EMAIL:
        return None
    if not (integration.enabled and integration.service.is_active):
        return None
    return None if integration.signing_secret_encrypted else integration


def admit(address: str, domains: Collection[str]) -> tuple[bool, str]:
    """Whether to take mail for this recipient, and the RCPT TO reply saying so.

    The SMTP twin of integrations.views.gate.admit: an unknown key and one of another kind get
    the same answer, so the server does not confirm which keys exist.
    """
    key = recipient_key(address, domains)
    if not key:
        return False, "550 5.7.1 Not an alert address of this server"
    try:
        integration = integration_by_key(key)
        if integration is None or integration.kind != IntegrationKind.EMAIL:
            return False, "550 5.1.1 No such alert address"
        if not (integration.enabled and integration.service.is_active):
            return False, "550 5.2.1 This integration is disabled"
        if integration.signing_secret_encrypted:
            return False, "550 5.7.1 This integration accepts only signed (Mailgun) posts"
        decision = ratelimit.hit(integration.pk, integration.rate_limit_per_minute)
    except DatabaseError:
        logger.exception("database error while checking a recipient")
        return False, RETRY
    if not decision.allowed:
        return False, f"451 4.7.1 Over {decision.limit} alerts a minute; try again later"
    return True, "250 2.1.5 OK"


def deliver(mail_from: str, rcpt_tos: list[str], content: bytes, domains: Collection[str]) -> str:
    """Turn one message into events for each recipient's integration; all commit, or none."""
    message = message_from_bytes(content, policy=policy.default)
    work: dict[int, tuple[Integration, list[NormalizedEvent], dict[str, Any]]] = {}
    try:
        for address in rcpt_tos:
            integration = _usable(integration_by_key(recipient_key(address, domains)))
            if integration is None or integration.pk in work:
                continue  # changed since RCPT TO, or named twice
            mail = mail_from_message(message, recipient=address)
            events = events_from_mail(mail, read_options(dict(integration.options or {})))
            stored = asdict(mail) | {"body": mail.body[:BODY_LIMIT]}
            envelope = {"mail_from": _printable(mail_from), "rcpt_to": mail.recipient}
            payload = {"envelope": envelope, "mail": stored}
            work[integration.pk] = (integration, events, payload)
        if not work:
            return "554 5.1.1 No valid recipients left"
        with transaction.atomic():
            for integration, events, payload in work.values():
                receive(integration=integration, events=events, payload=payload)
    except InvalidPayload as exc:
        # The integration's options are wrong: keep the mail queued at the sender until fixed.
        return f"451 4.3.5 The integration is misconfigured: {' '.join(str(exc).split())}"
    except DatabaseError:
        logger.exception("database error while recording a message")
        return RETRY
    logger.info("accepted a message for %s integration(s)", len(work))
    return ACCEPTED


def _printable(value: str) -> str:
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _in_worker(function: Callable[..., T], *args: Any) -> T:
    # As around a web request: never reuse a connection that broke or outlived its age.
    close_old_connections()
    try:
        return function(*args)
    finally:
        close_old_connections()


class IngestHandler:
    """aiosmtpd's hooks. The ORM is synchronous: every check and write runs in `executor`."""

    def __init__(self, domains: Collection[str], executor: ThreadPoolExecutor) -> None:
        self.domains = frozenset(domain.lower() for domain in domains)
        self.executor = executor
        self.busy = 0  # hooks waiting on a worker: a graceful stop waits for them
        self.draining = False

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        self.busy += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, _in_worker, function, *args)
        finally:
            self.busy -= 1

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.draining:
            return SHUTTING_DOWN
        accepted, reply = await self._run(admit, address, self.domains)
        if accepted:
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        return await self._run(deliver, mail_from, list(envelope.rcpt_tos), content, self.domains)


class Command(BaseCommand):
    help = "Receive alert mail over SMTP: mail to <integration key>@<domain> becomes an alert."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2525)
        parser.add_argument(
            "--domain",
            action="append",
            required=True,
            help="The domain alert addresses are in, e.g. alerts.example.com (repeatable).",
        )
        parser.add_argument(
            "--max-bytes",
            type=int,
            default=0,
            help="Largest message taken (552 above); default: MAX_REQUEST_BODY_BYTES.",
        )
        parser.add_argument("--workers", type=int, default=4, help="Database worker threads.")

    def handle(self, *args: Any, **options: Any) -> None:
        limit = options["max_bytes"] or settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        with ThreadPoolExecutor(options["workers"], thread_name_prefix="smtp-ingest") as pool:
            handler = IngestHandler(options["domain"], pool)
            asyncio.run(self._serve(handler, options["host"], options["port"], limit))
        self.stdout.write("smtp_ingest stopped.")

    async def _serve(self, handler: IngestHandler, host: str, port: int, limit: int) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        domains = sorted(handler.domains)
        try:
            server = await loop.create_server(
                lambda: SMTP(
                    handler,
                    data_size_limit=limit,
                    hostname=domains[0],  # not socket.getfqdn(): a DNS lookup per connection
                    ident="OpsKnight smtp_ingest",
                    enable_SMTPUTF8=True,
                    loop=loop,
                ),
                host,
                port,
            )
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        self.stdout.write(
            f"smtp_ingest listening on {host}:{port}: mail <integration key>@"
            f"{' or @'.join(domains)}, up to {limit} bytes. Stop: SIGTERM or Ctrl-C."
        )
        self.stdout.flush()
        await stop.wait()
        self.stdout.write("smtp_ingest stopping: finishing messages in flight…")
        server.close()
        handler.draining = True
        deadline = loop.time() + DRAIN_SECONDS
        while handler.busy and loop.time() < deadline:
            await asyncio.sleep(0.05)
