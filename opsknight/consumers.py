"""Websocket endpoint for live updates: one connection per browser tab."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from opsknight import realtime
from opsknight.selectors import user_organization_ids

# Application close codes (4000-4999): the browser can tell "log in again" from "retry".
CLOSE_UNAUTHENTICATED = 4401
LISTENER_WAIT_SECONDS = 5


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Joins the groups of the user and their organizations; relays live messages as JSON."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            # Accept, then close with our code: a refused handshake is an opaque 403 to the
            # browser, while 4401 tells it to send the person to the login page.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        realtime.listener.ensure_started()
        org_ids = await database_sync_to_async(user_organization_ids)(user=user)
        self.groups = [
            realtime.ALL_GROUP,
            realtime.user_group(user.pk),
            *(realtime.organization_group(org_id) for org_id in org_ids),
        ]
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        # "hello" promises that changes committed from now on reach this socket, so wait
        # (briefly) for the process's LISTEN to be in place before saying it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(realtime.listener.listening.wait(), LISTENER_WAIT_SECONDS)
        await self.send_json(
            {
                "type": "hello",
                "organizations": org_ids,
                "live": realtime.listener.listening.is_set(),
            }
        )

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def live_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event["message"])

    async def live_resync(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "resync"})
