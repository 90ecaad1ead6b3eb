"""Running one relaying session: both directions as tasks, and how the session ends.

The session ends when either direction does: the client left (its Terminate, or without one:
the gateway sends Terminate upstream and lets the server finish), the server left, a protocol
violation (FATAL with its SQLSTATE, this session only), or the gateway ended it — shutdown, or
the delegation the session rests on was revoked or expired — by cancelling both directions
after saying why in ``LiveSession.ending``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from gateway import pgwire as pg
from gateway.postgres.client_side import ClientGone, ClientSide
from gateway.postgres.context import Shared
from gateway.postgres.server_side import ServerSide
from gateway.postgres.upstream import Upstream

__all__ = ["SHUTDOWN", "LiveSession", "fatal", "hello", "pump"]

log = logging.getLogger("airlock.postgres")
# Startup parameters the client is not told: the upstream's identity stays with the gateway.
HIDDEN_PARAMETERS = frozenset({"session_authorization"})
# (outcome recorded on the session, SQLSTATE, message) when the gateway ends a session.
SHUTDOWN = ("shutdown", "57P01", "terminating connection: the gateway is shutting down")


@dataclass
class LiveSession:
    secret: int
    shared: Shared
    upstream_key: tuple[int, int]
    handler: asyncio.Task[None] | None = None  # the session's task
    tasks: list[asyncio.Task[None]] = field(default_factory=list)  # its two relay directions
    ending: tuple[str, str, str] = SHUTDOWN

    def end(self, outcome: str, sqlstate: str, message: str) -> None:
        """End the session from outside (revocation, expiry, shutdown)."""
        self.ending = (outcome, sqlstate, message)
        for task in self.tasks:
            task.cancel()


def hello(upstream: Upstream, pid: int, secret: int) -> list[bytes]:
    """AuthenticationOk, the upstream's parameters, our own key, ReadyForQuery (docs 55.2.1)."""
    messages = [pg.encode(pg.AuthenticationOk())]
    messages += [
        pg.encode(pg.ParameterStatus(k, v))
        for k, v in upstream.parameters.items()
        if k not in HIDDEN_PARAMETERS
    ]
    messages.append(pg.encode(pg.BackendKeyData(pid, secret)))
    messages.append(pg.encode(pg.ReadyForQuery(upstream.status)))  # type: ignore[arg-type]
    return messages


async def pump(
    client: ClientSide, server: ServerSide, writer: asyncio.StreamWriter, live: LiveSession
) -> str:
    """Run both directions until one ends; returns how the session ended."""
    live.handler = asyncio.current_task()
    up = asyncio.create_task(client.run())
    down = asyncio.create_task(server.run())
    live.tasks = [up, down]
    try:
        return await _finish(client, writer, up, down, live)
    finally:
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)


async def _finish(
    client: ClientSide,
    writer: asyncio.StreamWriter,
    up: asyncio.Task[None],
    down: asyncio.Task[None],
    live: LiveSession,
) -> str:
    done, pending = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    if any(task.cancelled() for task in done):
        outcome, sqlstate, message = live.ending
        await fatal(writer, sqlstate, message)
        return outcome
    outcome = "closed"
    for task in done:
        exc = task.exception()
        if isinstance(exc, pg.PgWireError):
            outcome = "protocol_error"
            await fatal(writer, getattr(exc, "sqlstate", "08P01"), str(exc))
        elif isinstance(exc, ClientGone):
            outcome = "client_gone"
        elif isinstance(exc, ConnectionError):
            outcome = "connection_lost"
        elif exc is not None:
            outcome = "error"
            log.error("postgres session ended by an error", exc_info=exc)
    if up in done and down not in done:
        client.flush()
        if not client.closing:  # the client left without Terminate: end the upstream session
            client.s.upstream.write(pg.encode(pg.Terminate()))
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await down  # let the server finish its answer to Terminate
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return outcome


async def fatal(writer: asyncio.StreamWriter, sqlstate: str, message: str) -> None:
    """Send a FATAL ErrorResponse if the client is still there."""
    if writer.is_closing():
        return
    with contextlib.suppress(Exception):
        writer.write(pg.encode(pg.ErrorResponse.build("FATAL", sqlstate, message)))
        await writer.drain()
