"""Live updates across processes: pg_notify after the writer commits, one LISTEN per web process.

Writers (web requests, workers, management commands) call `broadcast()` inside their
transaction; the NOTIFY is sent right after that transaction commits, and never if it rolls
back. Not inside it: PostgreSQL serializes the commits of every transaction that notified, and
on the alert path that cost 40% of throughput (bench/ingest.py). A crash in the instant between
commit and notify loses a hint, which a client's next re-fetch repairs. Each web
process runs one `LiveListener` that LISTENs on one channel and fans messages out to the
websocket consumers of that process through the in-process Channels layer. Messages are hints
("incident 42 changed"), never the data itself: a client re-fetches what it shows, so a lost
message or a reconnect costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any

import psycopg
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections, transaction

logger = logging.getLogger(__name__)

# PostgreSQL's NOTIFY payload limit is 8000 bytes; stay well below it.
MAX_PAYLOAD_BYTES = 7000
ALL_GROUP = "live.all"
_GROUP_NAME = re.compile(r"^[a-zA-Z0-9_.\-]{1,99}$")


def organization_group(organization_id: int) -> str:
    return f"org.{organization_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


class BroadcastError(ValueError):
    pass


def broadcast(group: str, message: dict[str, Any], *, using: str = "default") -> None:
    """Send `message` to every websocket in `group`, in every web process, once this commits.

    Outside a transaction it is sent at once. Oversize or unserialisable messages raise here,
    in the writer, rather than being dropped silently later. A hint that cannot be sent after
    commit is logged, never raised: the change it describes is already committed.
    """
    if not _GROUP_NAME.match(group) or group == ALL_GROUP:
        raise BroadcastError(f"invalid group name {group!r}")
    payload = json.dumps({"group": group, "message": message}, separators=(",", ":"))
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise BroadcastError(
            f"live-update message of {len(payload.encode())} bytes is over {MAX_PAYLOAD_BYTES}; "
            "send an id and let the client fetch"
        )
    transaction.on_commit(lambda: _notify(payload, using), using=using, robust=True)


def _notify(payload: str, using: str) -> None:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [settings.LIVE_UPDATES_CHANNEL, payload])


KEEPALIVE_SECONDS = 30


def _listener_connection_params() -> dict[str, Any]:
    if settings.LIVE_UPDATES_DATABASE_URL:
        params: dict[str, Any] = {"conninfo": settings.LIVE_UPDATES_DATABASE_URL}
    else:
        params = dict(connections["default"].get_connection_params())
        for django_only in ("cursor_factory", "context", "prepare_threshold", "pool"):
            params.pop(django_only, None)
    params["application_name"] = "opsknight-live-listener"
    # A half-open connection (NAT or load-balancer idle timeout) must not wait forever.
    params.update(keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
    return params


class LiveListener:
    """One per process: LISTEN, forward each notification to its Channels group, reconnect."""

    def __init__(self, channel: str | None = None) -> None:
        self.channel = channel or settings.LIVE_UPDATES_CHANNEL
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def ensure_started(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self.listening = asyncio.Event()
            self._task = loop.create_task(self._run(), name="opsknight-live-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = 0.5
        first = True
        while True:
            try:
                await self._listen(resync=not first)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("live-update listener lost its connection; retrying in %ss", delay)
            first = False
            if self.listening.is_set():
                delay = 0.5  # it had worked: retry quickly
            self.listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _listen(self, *, resync: bool) -> None:
        layer = get_channel_layer()
        async with await psycopg.AsyncConnection.connect(
            **_listener_connection_params(), autocommit=True
        ) as conn:
            await conn.execute(f'LISTEN "{self.channel}"')
            self.listening.set()
            logger.info("live-update listener is listening on %s", self.channel)
            if resync:
                # Messages sent while we were disconnected are lost; tell clients to re-fetch.
                await layer.group_send(ALL_GROUP, {"type": "live.resync"})
            while True:
                async for notify in conn.notifies(timeout=KEEPALIVE_SECONDS):
                    await self._forward(layer, notify.payload)
                # Quiet for a while: prove the connection still works, or fail and reconnect.
                await conn.execute("SELECT 1")

    async def _forward(self, layer: Any, payload: str) -> None:
        try:
            envelope = json.loads(payload)
            group, message = envelope["group"], envelope["message"]
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring malformed live-update payload: %.200s", payload)
            return
        if (
            not isinstance(group, str)
            or not _GROUP_NAME.match(group)
            or not isinstance(message, dict)
        ):
            logger.warning("ignoring live-update payload with a bad group: %.200s", payload)
            return
        await layer.group_send(group, {"type": "live.message", "message": message})


listener = LiveListener()
