"""A held statement on the MySQL wire: the session core's hold, with the client watched.

MySQL has no in-band notice (PostgreSQL's NoticeResponse): the client just waits; the
requester learns the review id from the bot's direct message and ``airlock reviews list``, and
the gateway's log says it. While the statement waits, what the client sends is read and kept
for after the decision (up to ``HOLD_BUFFER_LIMIT`` bytes); its connection closing cancels the
review (``ClientGone``), as does its ``KILL QUERY`` from a second connection (the listener sets
``Session.cancel_hold``)."""

from __future__ import annotations

import asyncio
import logging

from gateway.guardrails import Verdict
from gateway.mysql.context import MySession
from gateway.mysql.stream import PacketStream
from gateway.sessions import HOLD_BUFFER_LIMIT, Held, SessionCore

__all__ = ["hold"]

log = logging.getLogger("airlock.mysql")


async def hold(
    core: SessionCore,
    s: MySession,
    client: PacketStream,
    text: str,
    verdict: Verdict,
    params: tuple[bytes | None, ...] = (),
) -> Held:
    """Hold ``text`` (with ``params`` bound) for review until it is decided, cancelled or
    expires; ClientGone when the client leaves meanwhile."""
    await client.drain()
    left = asyncio.Event()
    watcher = asyncio.create_task(_watch(client, left))

    def notice(message: str) -> None:
        log.info("mysql session %s: %s", s.id, message)

    try:
        return await core.hold(
            s, left=left, text=text, verdict=verdict, params=params, notify=notice,
            redact=s.target.redact,
        )  # fmt: skip
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def _watch(client: PacketStream, left: asyncio.Event) -> None:
    """Read what the client sends during a hold (kept for after it); its end sets ``left``."""
    while True:
        if not await client.receive():
            left.set()
            return
        if client.packets.pending_bytes() > HOLD_BUFFER_LIMIT:
            left.set()
            return
