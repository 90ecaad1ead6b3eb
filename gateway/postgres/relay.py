"""Running one relaying session: both directions driven by protocol callbacks.

After the start-up the session's two transports get the gateway's own protocols (`_Channel`):
bytes read are processed in the read callback itself and written on at once, without a reader
task per direction (a StreamReader read costs a future, a task step and a copy per read, about
a fifth of what the gateway added per statement). Only what must wait — a held statement, a
statement whose session-state effects later statements depend on — runs as a task; meanwhile
the client's further messages are buffered in its parser and processed after it.

In between, a session's steady state — one known, allowed request at a time and an answer with
nothing to mask — goes through the fast lane (``gateway.postgres.lane``; compiled, and then the
channels' read callbacks themselves: ``gateway.postgres.fastlane``), which hands anything else
to the general path described here.

The session's phase (starting, relaying, waiting for a statement, terminated, ending, closed)
is ``Shared.phase``, moved only through the table of ``gateway.postgres.lifecycle``.

The session ends when either direction does: the client left (its Terminate, or without one:
the gateway sends Terminate upstream and lets the server finish), the server left, a protocol
violation (FATAL with its SQLSTATE, this session only), or the gateway ended it — shutdown, or
the delegation the session rests on was revoked or expired — through ``LiveSession.end``, after
saying why in ``LiveSession.ending``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from gateway.postgres import fastlane
from gateway.postgres import wire as pg
from gateway.postgres.client_side import ClientGone, ClientSide
from gateway.postgres.context import Shared
from gateway.postgres.fastlane import CompiledLane
from gateway.postgres.lane import Lane
from gateway.postgres.lifecycle import NOT_READING_CLIENT, SessionInput, SessionPhase, transition
from gateway.postgres.server_side import ServerSide
from gateway.postgres.upstream import Upstream
from gateway.sessions import HOLD_BUFFER_LIMIT, Ending

__all__ = ["INTERNAL_ERROR", "SHUTDOWN", "LiveSession", "Relay", "fatal", "hello"]

log = logging.getLogger("airlock.postgres")
# Startup parameters the client is not told: the upstream's identity stays with the gateway.
HIDDEN_PARAMETERS = frozenset({"session_authorization"})
# (outcome recorded on the session, SQLSTATE, message) when the gateway ends a session.
SHUTDOWN = ("shutdown", "57P01", "terminating connection: the gateway is shutting down")
# Backpressure: a side stops reading while the other's unsent output is above this.
HIGH_WATER = 4 * 1024 * 1024
# ... and the client is not read while this many of its requests await their answers (each is
# a few hundred bytes of tracking): a client that pipelines without reading its results holds
# a bounded amount of the gateway's memory (docs/operations.md, "Session caps and memory").
MAX_IN_FLIGHT = 10_000
# How long the server may take to finish after the client left.
SERVER_GRACE_S = 2.0
_WAITING, _TERMINATED, _ENDING = SessionPhase.WAITING, SessionPhase.TERMINATED, SessionPhase.ENDING
_CLOSED = SessionPhase.CLOSED


@dataclass
class LiveSession:
    secret: int
    shared: Shared
    upstream_key: tuple[int, int]
    handler: asyncio.Task[None] | None = None  # the session's task
    relay: Relay | None = None  # set once relaying started
    ending: tuple[str, str, str] = SHUTDOWN

    @property
    def session(self) -> Shared:
        return self.shared

    def end(self, why: Ending, message: str) -> None:
        """End the session from outside (revocation, expiry, shutdown: FATAL 57P01), also one
        whose relay has not started yet: then it starts ENDING, and nothing is relayed at all."""
        self.shared.ending = why
        self.ending = (why.value, "57P01", f"terminating connection: {message}")
        if self.relay is not None:
            self.relay.stop("ended")
        else:
            self.shared.phase = transition(self.shared.phase, SessionInput.STOP)


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


class _Channel(asyncio.Protocol):
    """One side's transport after the start-up: its events go to the relay, its data to
    ``receive`` — the compiled lane's C method where there is one (uvloop caches a protocol's
    ``data_received`` and calls it per read: no Python frame), else the relay's.

    The StreamReaderProtocol it replaces still hears of the connection's end, so the stream
    objects the listener closes and waits on stay consistent."""

    def __init__(
        self,
        relay: Relay,
        side: str,
        transport: asyncio.BaseTransport,
        receive: Callable[[bytes], object],
    ) -> None:
        self.relay, self.side = relay, side
        self.transport = cast(asyncio.Transport, transport)
        vars(self)["data_received"] = receive  # shadows the method for this channel
        self.replaced: Any = transport.get_protocol()
        # Half-open is kept (the client may still be told why) except over TLS, which has none.
        self.half_open = transport.get_extra_info("sslcontext") is None

    def eof_received(self) -> bool:
        self.relay.left(self.side)
        return self.half_open

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.left(self.side)
        if self.replaced is not None:
            self.replaced.connection_lost(exc)

    def pause_writing(self) -> None:  # this side is behind: stop reading the other
        self.relay.throttle(self.side, pause=True)

    def resume_writing(self) -> None:
        self.relay.throttle(self.side, pause=False)


class Relay:
    """Both directions of one session; ``run`` returns how the session ended."""

    def __init__(
        self,
        client: ClientSide,
        server: ServerSide,
        live: LiveSession,
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter, Upstream],
    ) -> None:
        self.client, self.server, self.live = client, server, live
        self.s = client.s
        self.reader, self.writer, self.upstream = streams
        loop = asyncio.get_running_loop()
        # (who, exception): the first reason the session ends
        self.ended: asyncio.Future[tuple[str, BaseException | None]] = loop.create_future()
        self.server_gone: asyncio.Future[None] = loop.create_future()
        # the task of a statement that must be waited for (the phase is WAITING meanwhile)
        self.busy: asyncio.Task[None] | None = None
        # why the client is not read now: "server" (its output is behind), "in-flight"
        self.not_reading: set[str] = set()
        self._to_client = cast(asyncio.Transport, self.writer.transport)
        self._to_server = cast(asyncio.Transport, self.upstream.writer.transport)
        self.lane: Lane | CompiledLane
        if fastlane.AVAILABLE:  # read per session: tests switch lanes here
            self.lane = CompiledLane(self, client, server, (self._to_client, self._to_server))
            self._receivers = (self.lane.client_received, self.lane.server_received)
        else:
            self.lane = Lane(client, server)
            self._receivers = (self.from_client, self.from_server)

    # -- events ------------------------------------------------------------------------------

    def from_client(self, data: bytes) -> None:
        """The client's bytes: the (Python) fast lane's if it takes them, else the general
        path's."""
        lane = cast(Lane, self.lane)
        if not lane.inflight:  # the lane takes nothing unless the session is RELAYING
            try:
                taken = lane.client_data(data)
            except Exception as exc:
                self.stop("client", exc)
                return
            if taken:
                self._to_server.write(data)
                return
        self.client_general(data)

    def from_server(self, data: bytes) -> None:
        lane = cast(Lane, self.lane)
        if lane.inflight and self.s.phase is not _CLOSED:
            try:
                if lane.server_data(data):
                    self._to_client.write(data)
                    lane.finish(data)
                    return
            except Exception as exc:
                self.stop("server", exc)
                return
        self.server_general(data)

    def client_general(self, data: bytes) -> None:
        """The client's bytes the fast lane did not take: a request it has in flight is handed
        over first (the client sent more before its answer came)."""
        if self.lane.inflight:
            try:
                self.lane.spill()
            except Exception as exc:
                self.stop("client", exc)
                return
        self.received("client", data)

    def server_general(self, data: bytes) -> None:
        """The server's bytes the fast lane did not take: not (all of) the answer it expected,
        so its request is handed over before they are processed."""
        if self.lane.inflight and self.s.phase is not _CLOSED:
            try:
                self.lane.spill()
            except Exception as exc:
                self.stop("server", exc)
                return
        self.received("server", data)

    def received(self, side: str, data: bytes) -> None:
        # Once the session ends the client is not read; the server's last answers still are
        # (its statements are audited) until run() returns.
        phase = self.s.phase
        if phase is _CLOSED or (side == "client" and phase in NOT_READING_CLIENT):
            return
        try:
            if side == "server":
                self.server.feed(data)
            else:
                self._client_data(data)
        except Exception as exc:  # ends this session only; run() reports it
            self.stop(side, exc)
            return
        in_flight = len(self.s.tracker.queue)
        if side == "client" and in_flight >= MAX_IN_FLIGHT:
            self.read_client(False, "in-flight")
        elif (
            side == "server" and in_flight <= MAX_IN_FLIGHT // 2 and "in-flight" in self.not_reading
        ):
            self.read_client(True, "in-flight")

    def left(self, side: str) -> None:
        if side == "server":
            if not self.server_gone.done():
                self.server_gone.set_result(None)
            self.stop("server")
        else:
            self.client.left.set()  # a held statement watches it
            if self.s.phase is not _WAITING:  # a held statement notices on its own
                self.stop("client")

    def throttle(self, side: str, *, pause: bool) -> None:
        if side == "server":  # the server's output is behind: stop reading the client
            self.read_client(not pause, "server")
            return
        with contextlib.suppress(RuntimeError):  # closed meanwhile
            if pause:
                self._to_server.pause_reading()
            else:
                self._to_server.resume_reading()

    def read_client(self, read: bool, why: str) -> None:
        """Stop reading the client for ``why``, or stop doing so; it is read again once no
        reason is left."""
        if read:
            self.not_reading.discard(why)
        else:
            self.not_reading.add(why)
        with contextlib.suppress(RuntimeError):  # closed meanwhile
            if self.not_reading:
                self._to_client.pause_reading()
            else:
                self._to_client.resume_reading()

    def stop(self, who: str, exc: BaseException | None = None) -> None:
        self._on(SessionInput.STOP)
        if not self.ended.done():
            self.ended.set_result((who, exc))

    def _on(self, event: SessionInput) -> None:
        self.s.phase = transition(self.s.phase, event)

    # -- the client's messages ---------------------------------------------------------------

    def _client_data(self, data: bytes) -> None:
        parser = self.client.parser
        parser.receive_data(data)
        if self.s.phase is _WAITING:
            if parser.pending_bytes() > HOLD_BUFFER_LIMIT:
                raise pg.MessageTooLarge("the client sent too much while a statement was held")
            return
        self._drive()

    def _drive(self) -> None:
        client = self.client
        waiting = client.step()
        client.flush()
        if waiting is not None:
            self._on(SessionInput.WAIT)
            self.busy = asyncio.get_running_loop().create_task(self._resume(waiting))
            self.busy.add_done_callback(self._resumed)
        elif self.s.phase is _TERMINATED:
            self.stop("client")

    async def _resume(self, waiting: Awaitable[object] | None) -> None:
        client = self.client
        while waiting is not None:
            await waiting
            waiting = client.step()
        client.flush()
        self.busy = None  # before returning: what arrives next is processed at once
        self._on(SessionInput.RESUME)
        if self.s.phase is _TERMINATED or client.left.is_set():
            self.stop("client")

    def _resumed(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.busy = None
            self._on(SessionInput.RESUME)
            self.stop("client", exc)

    # -- the session -------------------------------------------------------------------------

    async def run(self) -> str:
        self.live.handler = asyncio.current_task()
        self.live.relay = self
        self._on(SessionInput.START)
        if self.s.phase is _ENDING:  # ended before it started: the client's messages are not read
            self.stop("ended")
        channels = []
        for side, (reader, writer), receive in (
            ("client", (self.reader, self.writer), self._receivers[0]),
            ("server", (self.upstream.reader, self.upstream.writer), self._receivers[1]),
        ):
            transport = writer.transport
            channel = _Channel(self, side, transport, receive)
            transport.set_protocol(channel)
            transport.set_write_buffer_limits(high=HIGH_WATER)
            channels.append((channel, reader))
        for channel, reader in channels:
            # What the parsers hold and the streams had read: processed before anything new.
            buffered: bytearray = getattr(reader, "_buffer", bytearray())
            data = bytes(buffered)
            buffered.clear()
            # A stream whose buffer passed its limit (a client pipelining right after its
            # login, while the session was being attached) paused its transport; from here the
            # relay alone pauses and resumes reading (``throttle``): nothing else would resume it.
            with contextlib.suppress(RuntimeError):
                channel.transport.resume_reading()
            self.received(channel.side, data)
            if reader.at_eof() or reader.exception() is not None:
                channel.eof_received()
        try:
            who, exc = await self.ended
            return await self._finish(who, exc)
        finally:
            if self.busy is not None:
                self.busy.cancel()
                await asyncio.gather(self.busy, return_exceptions=True)
            self._on(SessionInput.CLOSE)
            try:  # a request the lane still has in flight is the general path's to account for
                self.lane.spill()
            except Exception:
                log.error("postgres session: the fast lane's request could not be handed over",
                          exc_info=True)  # fmt: skip
            self.server.audit_finished()

    async def _finish(self, who: str, exc: BaseException | None) -> str:
        if who != "client":  # nothing more is relayed after the FATAL (or the server's end)
            self._on(SessionInput.CLOSE)
        if who == "ended":
            outcome, sqlstate, message = self.live.ending
            await fatal(self.writer, sqlstate, message)
            return outcome
        outcome = "closed"
        if isinstance(exc, pg.PgWireError):
            outcome = "protocol_error"
            await fatal(self.writer, getattr(exc, "sqlstate", "08P01"), str(exc))
        elif isinstance(exc, ClientGone):
            outcome = "client_gone"
        elif isinstance(exc, ConnectionError):
            outcome = "connection_lost"
        elif exc is not None:  # a fault of the gateway's: the client is told, not given details
            outcome = "error"
            log.error("postgres session ended by an error", exc_info=exc)
            await fatal(self.writer, "XX000", INTERNAL_ERROR)
        if who == "client" and not self.server_gone.done():
            if self.busy is not None:
                self.busy.cancel()
                await asyncio.gather(self.busy, return_exceptions=True)
            self.client.flush()
            if self.s.phase is not _TERMINATED:  # the client left without Terminate: end upstream's
                self.upstream.writer.write(pg.encode(pg.Terminate()))
            with contextlib.suppress(Exception):
                async with asyncio.timeout(SERVER_GRACE_S):
                    await self.server_gone  # let the server finish its answer to Terminate
        return outcome


INTERNAL_ERROR = "the Airlock gateway ended this session after an internal error (see its log)"


async def fatal(writer: asyncio.StreamWriter, sqlstate: str, message: str) -> None:
    """Send a FATAL ErrorResponse if the client is still there."""
    if writer.is_closing():
        return
    with contextlib.suppress(Exception):
        writer.write(pg.encode(pg.ErrorResponse.build("FATAL", sqlstate, message)))
        await writer.drain()
