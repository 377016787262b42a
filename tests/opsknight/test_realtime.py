"""Live updates end to end: a change committed by another process reaches a websocket client.

Real parts only: daphne serving opsknight.asgi, a websocket client, and a separate
`manage.py shell` process that writes through `realtime.broadcast` in its own transaction.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from opsknight.models import Role
from opsknight.realtime import BroadcastError, broadcast
from tests.opsknight.factories import OrganizationFactory, member
from tests.processes import daphne, free_port, manage, running, wait_for_http

WRITER = """
from django.db import transaction
from opsknight.realtime import broadcast, organization_group

class Rollback(Exception):
    pass

try:
    with transaction.atomic():
        broadcast(organization_group({org}), {{"type": "incident.changed", "id": "rolled-back"}})
        raise Rollback
except Rollback:
    pass
with transaction.atomic():
    broadcast(organization_group({other}), {{"type": "incident.changed", "id": "other-org"}})
    broadcast(organization_group({org}), {{"type": "incident.changed", "id": "committed"}})
"""


@pytest.fixture(scope="module")
def live_server_process(django_db_setup):
    """One daphne for the module: it holds no state of its own between tests."""
    port = free_port()
    with running(daphne(port)) as process:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
        yield port


@pytest.fixture
def logged_in(transactional_db):
    org, other = OrganizationFactory(), OrganizationFactory()
    user = member(org, Role.RESPONDER)
    client = Client()
    client.force_login(user)
    return {"org": org.pk, "other": other.pk, "session": client.cookies["sessionid"].value}


async def _connect(port: int, session: str | None):
    headers = {"Origin": f"http://localhost:{port}"}
    if session:
        headers["Cookie"] = f"sessionid={session}"
    return await websockets.connect(f"ws://127.0.0.1:{port}/ws/live/", additional_headers=headers)


async def test_committed_change_from_another_process_reaches_the_websocket(
    live_server_process, logged_in
):
    port = live_server_process
    async with await _connect(port, logged_in["session"]) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello == {"type": "hello", "organizations": [logged_in["org"]], "live": True}

        writer = await asyncio.to_thread(
            manage, "shell", "-c", WRITER.format(org=logged_in["org"], other=logged_in["other"])
        )
        assert writer.returncode == 0, writer.stderr

        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert message == {"type": "incident.changed", "id": "committed"}
        # Neither the rolled-back message nor the other organization's arrives.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 1)


async def test_listener_reconnects_and_tells_clients_to_resync(live_server_process, logged_in):
    async with await _connect(live_server_process, logged_in["session"]) as ws:
        await asyncio.wait_for(ws.recv(), 10)  # hello
        killed = await asyncio.to_thread(
            manage,
            "shell",
            "-v",
            "0",
            "-c",
            "from django.db import connection\n"
            "c = connection.cursor()\n"
            'c.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity '
            "WHERE application_name = 'opsknight-live-listener' "
            'AND datname = current_database()")\n'
            "print(c.fetchone()[0])",
        )
        assert killed.stdout.strip() == "1", killed.stderr
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "resync"}
        writer = await asyncio.to_thread(
            manage, "shell", "-c", WRITER.format(org=logged_in["org"], other=logged_in["other"])
        )
        assert writer.returncode == 0, writer.stderr
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert message == {"type": "incident.changed", "id": "committed"}


async def test_websocket_ping_pong(live_server_process, logged_in):
    async with await _connect(live_server_process, logged_in["session"]) as ws:
        await asyncio.wait_for(ws.recv(), 10)  # hello
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}


async def test_anonymous_websocket_is_closed_with_4401(live_server_process):
    async with await _connect(live_server_process, session=None) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd.code == 4401


async def test_foreign_origin_websocket_is_refused(live_server_process, logged_in):
    url = f"ws://127.0.0.1:{live_server_process}/ws/live/"
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(
            url,
            additional_headers={
                "Origin": "http://evil.example",
                "Cookie": f"sessionid={logged_in['session']}",
            },
        )
    assert refused.value.response.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("group", "message", "error"),
    [
        ("org 1", {}, "invalid group name"),
        ("live.all", {}, "invalid group name"),
        ("org.1", {"blob": "x" * 8000}, "over 7000"),
    ],
)
def test_broadcast_refuses_bad_groups_and_oversize_messages(group, message, error):
    with pytest.raises(BroadcastError, match=error):
        broadcast(group, message)
