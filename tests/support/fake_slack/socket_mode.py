"""A fake of Slack's Socket Mode endpoint: the WebSocket that ``apps.connections.open`` points
to. It says ``hello`` to each client, sends envelopes (``push``) and records the client's acks,
which must name the envelope and arrive within 3 seconds, as Slack requires.

    async with FakeSocketMode() as socket:
        fake.socket_url = socket.url
        ... await socket.connected.wait(); ack = await socket.push("slash_commands", payload)
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from aiohttp import WSMsgType, web

__all__ = ["FakeSocketMode"]

ACK_DEADLINE = 3.0


class FakeSocketMode:
    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self._socket: web.WebSocketResponse | None = None
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> FakeSocketMode:
        app = web.Application()
        app.router.add_get("/link", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}/link"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one envelope; return the client's ack (AssertionError if none within 3 s)."""
        assert self._socket is not None, "no Socket Mode client is connected"
        envelope_id = f"env-{next(self._ids)}"
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = waiter
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": 0,
            "retry_reason": "",
        }
        await self._socket.send_str(json.dumps(envelope))
        try:
            return await asyncio.wait_for(waiter, ACK_DEADLINE)
        except TimeoutError as exc:
            raise AssertionError(f"no ack for {envelope_id} within {ACK_DEADLINE} s") from exc

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._socket = socket
        hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0AIRLOCK"}}
        await socket.send_str(json.dumps(hello))
        self.connected.set()
        async for message in socket:
            if message.type is not WSMsgType.TEXT:
                continue
            ack = json.loads(message.data)
            waiter = self._acks.pop(str(ack.get("envelope_id")), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(ack)
        return socket
