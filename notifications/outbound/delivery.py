"""Posting one outbound delivery row: claim, send, record — as notifications/delivery.py does
for pages, and never twice.

1. Claim, in a transaction: the row must be PENDING and due, its destination still enabled.
   It becomes SENDING with one more attempt, and that commits *before* anything is posted.
2. Send, outside any transaction or lock: the destination may take up to 10 s to answer.
3. Record, in a transaction: SENT; or PENDING again with the next backoff (5 s, 30 s, 2 min,
   10 min) for a retryable failure, then FAILED; FAILED at once for a permanent one.

A run that finds the row SENDING knows an earlier run died between steps 1 and 3: the post may
or may not have gone out, so it is not sent again; the row is FAILED with "outcome unknown".
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from notifications.models import OutboundDelivery, OutboundKind, OutboundStatus
from notifications.outbound import formatters, sender
from notifications.outbound.services import defer_post
from notifications.providers.base import ChatMessage, ProviderError
from notifications.rendering import IncidentSummary
from opsknight import crypto

logger = logging.getLogger(__name__)

BACKOFF = (timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10))
MAX_ATTEMPTS = len(BACKOFF) + 1
EARLY = timedelta(seconds=1)  # a job may start a little before its row's due time

_WEBHOOK_FORMATTERS = {
    OutboundKind.TEAMS: formatters.format_teams,
    OutboundKind.GOOGLE_CHAT: formatters.format_google_chat,
    OutboundKind.DISCORD: formatters.format_discord,
}


@dataclass(frozen=True)
class Prepared:
    """What to send, decided under the claim: an HTTP post, or a Slack channel message."""

    http: sender.HttpPost | None = None
    chat: ChatMessage | None = None


class _Unsendable(Exception):
    """The row can never be sent as things stand (no bot token, a secret we cannot read)."""


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _slack_provider() -> Any:
    # The same adapter (and setting) as Slack pages: vendor SDKs live in providers/ only.
    return import_string(settings.NOTIFICATION_SLACK_PROVIDER)


def prepare(row: OutboundDelivery) -> Prepared:
    """The request for a delivery row, rendered from the incident as it was at the event."""
    destination = row.destination
    message = formatters.EventMessage(
        event=row.event,
        occurred_at=row.occurred_at,
        incident=IncidentSummary(**row.incident_snapshot),
    )
    try:
        secret = destination.secret()
    except crypto.DecryptionError as exc:
        raise _Unsendable(str(exc)) from exc
    kind = destination.kind
    if kind == OutboundKind.SLACK:
        if not _slack_provider().is_configured(destination.organization_id):
            raise _Unsendable("no Slack bot token is configured")
        body = formatters.format_slack(message)
        return Prepared(
            chat=ChatMessage(
                to=destination.channel_id,
                text=body["text"],
                blocks=tuple(body["blocks"]),
                organization_id=destination.organization_id,
            )
        )
    if kind == OutboundKind.TELEGRAM:
        base = settings.TELEGRAM_API_BASE_URL.rstrip("/")
        body = formatters.format_telegram(message, chat_id=destination.channel_id)
        return Prepared(
            http=sender.HttpPost(
                url=f"{base}/bot{secret}/sendMessage",
                body=_json(body),
                guarded=False,  # our own setting, not an organization's URL
                secrets=(secret,),
            )
        )
    if kind == OutboundKind.WEBHOOK:
        return Prepared(
            http=sender.HttpPost(
                url=destination.url,
                body=_json(formatters.format_generic(message)),
                signing_secret=secret,
                headers=(
                    ("X-OpsKnight-Event", f"incident.{row.event}"),
                    ("X-OpsKnight-Delivery", str(row.pk)),
                ),
                secrets=(secret,),
            )
        )
    if kind in _WEBHOOK_FORMATTERS:
        body = _WEBHOOK_FORMATTERS[kind](message)
        return Prepared(http=sender.HttpPost(url=secret, body=_json(body), secrets=(secret,)))
    raise _Unsendable(f"unknown destination kind {kind!r}")


def _finish(row: OutboundDelivery, status: OutboundStatus, error: str = "") -> None:
    row.status, row.last_error = status, error[:2000]
    row.updated_at = timezone.now()
    row.save(update_fields=["status", "last_error", "updated_at"])


def _claim(delivery_id: int) -> tuple[OutboundDelivery, Prepared] | None:
    with transaction.atomic():
        row = (
            OutboundDelivery.objects.select_for_update(of=("self",))
            .select_related("destination")
            .filter(pk=delivery_id)
            .first()
        )
        if row is None:
            return None
        if row.status == OutboundStatus.SENDING:
            _finish(
                row,
                OutboundStatus.FAILED,
                "outcome unknown: the worker stopped while sending; not sent again",
            )
            return None
        if row.status != OutboundStatus.PENDING:
            return None
        if row.due_at > timezone.now() + EARLY:
            return None  # a stray older job: the row was rescheduled and has its own job
        if not row.destination.enabled:
            _finish(row, OutboundStatus.FAILED, "the destination was disabled before sending")
            return None
        try:
            prepared = prepare(row)
        except _Unsendable as exc:
            _finish(row, OutboundStatus.FAILED, str(exc))
            return None
        row.status = OutboundStatus.SENDING
        row.attempts += 1
        row.updated_at = timezone.now()
        row.save(update_fields=["status", "attempts", "updated_at"])
        return row, prepared


def _send(prepared: Prepared) -> int | None:
    """Post it; the HTTP status of a webhook's answer (None for Slack). Raises SendError."""
    if prepared.chat is not None:
        try:
            _slack_provider()().send_chat(prepared.chat)
        except ProviderError as exc:
            raise sender.SendError(str(exc), permanent=exc.permanent) from exc
        return None
    assert prepared.http is not None
    return sender.post(prepared.http).status_code


def _record(
    delivery_id: int, attempt: int, status_code: int | None, error: sender.SendError | None
) -> None:
    with transaction.atomic():
        row = OutboundDelivery.objects.select_for_update().get(pk=delivery_id)
        if row.status != OutboundStatus.SENDING or row.attempts != attempt:
            return  # recorded already (a duplicate run of a stalled job)
        now = timezone.now()
        row.response_status_code = error.status_code if error else status_code
        row.updated_at = now
        if error is None:
            row.status, row.sent_at, row.last_error = OutboundStatus.SENT, now, ""
        elif error.permanent or attempt >= MAX_ATTEMPTS:
            row.status, row.last_error = OutboundStatus.FAILED, str(error)[:2000]
        else:
            row.status, row.last_error = OutboundStatus.PENDING, str(error)[:2000]
            row.due_at = now + BACKOFF[attempt - 1]
            defer_post(row)
        row.save(
            update_fields=[
                "status",
                "last_error",
                "response_status_code",
                "due_at",
                "sent_at",
                "updated_at",
            ]
        )


def outbound_delivery_run(*, delivery_id: int) -> None:
    """Post one outbound delivery row if it is still due (see the module's steps)."""
    claimed = _claim(delivery_id)
    if claimed is None:
        return
    row, prepared = claimed
    try:
        status_code = _send(prepared)
    except sender.SendError as error:
        logger.warning("outbound delivery %s attempt %s failed: %s", row.pk, row.attempts, error)
        _record(row.pk, row.attempts, None, error)
        return
    except Exception:
        # Whether it left is unknown: fail it now rather than leave it SENDING for a rerun.
        logger.exception("outbound delivery %s: unexpected error while sending", row.pk)
        unknown = sender.SendError(
            "outcome unknown: unexpected error while sending", permanent=True
        )
        _record(row.pk, row.attempts, None, unknown)
        return
    _record(row.pk, row.attempts, status_code, None)
