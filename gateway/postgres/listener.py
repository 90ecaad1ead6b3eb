"""The PostgreSQL listener: accept, authenticate, connect upstream, relay, record, clean up.

One asyncio task per client; a malformed message or a failure ends that one session with a
clean ErrorResponse, never the listener. Each session gets gateway-owned BackendKeyData
(process id, secret) mapped to the upstream's, so CancelRequest works — for a held statement
it cancels the review instead (docs 55.2.7, "Canceling Requests in Progress").
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime

from approvals import AccessNotAllowed, ApprovalError, Delegation, Identity, new_id
from gateway import pgwire as pg
from gateway.config import split_hostport
from gateway.errors import AuthError
from gateway.identity import TokenService
from gateway.postgres.accept import Accepted, Refused, accept_client
from gateway.postgres.client_side import ClientGone, ClientSide
from gateway.postgres.context import Deps, Shared
from gateway.postgres.server_side import ServerSide
from gateway.postgres.upstream import Upstream, UpstreamError, connect_upstream
from store import SessionRecord

__all__ = ["PostgresListener"]

log = logging.getLogger("airlock.postgres")


@dataclass
class _Live:
    secret: int
    shared: Shared
    upstream_key: tuple[int, int]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class PostgresListener:
    def __init__(self, deps: Deps, tokens: TokenService, listen: str) -> None:
        self.deps, self.tokens = deps, tokens
        self.host, self.port = split_hostport(listen)
        self.live: dict[int, _Live] = {}
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> asyncio.Server:
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        sock = self._server.sockets[0].getsockname()
        self.port = int(sock[1])
        return self._server

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._session(reader, writer)
        except Exception:
            log.exception("postgres session failed")
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # -- start-up ------------------------------------------------------------------------

    async def _authenticate(self, password: str) -> Identity:
        try:
            identity, _claims = self.tokens.verify(password)
        except AuthError as exc:
            self.deps.metrics.auth_failures.labels("postgres").inc()
            raise Refused("28P01", f"password authentication failed: {exc.message}") from exc
        return identity

    async def _authorize(self, identity: Identity, connection: str) -> Delegation | None:
        try:
            return await self.deps.service.authorize_connect(identity, connection)
        except AccessNotAllowed as exc:
            raise Refused("42501", exc.message) from exc

    async def _cancel(self, process_id: int, secret: int) -> None:
        live = self.live.get(process_id)
        if live is None or not hmac.compare_digest(
            struct.pack("!i", live.secret), struct.pack("!i", secret)
        ):
            await asyncio.sleep(0.05)  # no oracle, and a little friction for guessers
            return
        if live.shared.holding is not None:
            live.shared.cancel_hold.set()
            return
        host, port = split_hostport(live.shared.target.config.upstream)
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(5):
                _, up = await asyncio.open_connection(host, port)
                up.write(pg.encode(pg.CancelRequest(*live.upstream_key)))
                await up.drain()
                up.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            accepted = await accept_client(
                reader,
                writer,
                targets=self.deps.targets,
                tls=self.deps.tls,
                allow_plaintext=self.deps.allow_plaintext,
                authenticate=self._authenticate,
                authorize=self._authorize,
                cancel=self._cancel,
            )
            if accepted is None:
                return
            upstream = await connect_upstream(
                accepted.target.config, accepted.database, accepted.params
            )
        except Refused as exc:
            await _fatal(writer, exc.sqlstate, exc.message)
            return
        except UpstreamError as exc:
            await _fatal(writer, exc.sqlstate, exc.message)
            return
        except pg.PgWireError as exc:
            await _fatal(writer, getattr(exc, "sqlstate", "08P01"), str(exc))
            return
        except TimeoutError:
            await _fatal(writer, "08P01", "the start-up took too long")
            return
        try:
            await self._relay(accepted, upstream, reader, writer)
        finally:
            upstream.close()

    # -- relay ---------------------------------------------------------------------------

    def _new_key(self) -> int:
        while True:
            pid = secrets.randbelow(2**31 - 1) + 1
            if pid not in self.live:
                return pid

    async def _relay(
        self,
        accepted: Accepted,
        upstream: Upstream,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        pid, secret = self._new_key(), secrets.randbits(31)
        shared = Shared(
            id=new_id(),
            identity=accepted.identity,
            target=accepted.target,
            delegation=accepted.delegation,
            client=writer,
            upstream=upstream.writer,
        )
        hello = [pg.encode(pg.AuthenticationOk())]
        hello += [pg.encode(pg.ParameterStatus(k, v)) for k, v in upstream.parameters.items()]
        hello.append(pg.encode(pg.BackendKeyData(pid, secret)))
        hello.append(pg.encode(pg.ReadyForQuery(upstream.status)))  # type: ignore[arg-type]
        writer.writelines(hello)
        scs = upstream.parameters.get("standard_conforming_strings", "on") == "on"
        shared.state = type(shared.state)(standard_conforming_strings=scs)
        live = _Live(secret, shared, (upstream.process_id, upstream.secret_key))
        self.live[pid] = live
        started = datetime.now(UTC)
        peer = writer.get_extra_info("peername")
        await self._record_start(shared, started, peer)
        self.deps.metrics.sessions.labels("postgres").inc()
        client = ClientSide(
            shared, self.deps, reader, accepted.parser, lambda: self._cancel(pid, secret)
        )
        server = ServerSide(shared, self.deps, upstream.reader, upstream.parser)
        outcome = "closed"
        try:
            outcome = await _pump(client, server, writer)
        finally:
            self.live.pop(pid, None)
            self.deps.metrics.sessions.labels("postgres").dec()
            server.audit_finished()
            await self._record_end(shared, outcome)

    async def _record_start(self, shared: Shared, started: datetime, peer: object) -> None:
        address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else None
        await self.deps.repository.start_session(
            SessionRecord(
                id=shared.id,
                identity=shared.identity,
                connection=shared.target.name,
                started_at=started,
                client_addr=address,
                stats={"delegation": shared.delegation.id if shared.delegation else None},
            )
        )

    async def _record_end(self, shared: Shared, outcome: str) -> None:
        stats = {
            "statements": shared.statements_seen,
            "held": shared.held,
            "refused": shared.refused,
            "rows": shared.rows,
            "bytes_out": shared.bytes_out,
            "masked": shared.masked_total,
            "end": outcome,
            "delegation": shared.delegation.id if shared.delegation else None,
        }
        try:
            await self.deps.repository.end_session(
                shared.id, ended_at=datetime.now(UTC), stats=stats
            )
        except ApprovalError:
            log.exception("could not record the end of session %s", shared.id)


async def _pump(client: ClientSide, server: ServerSide, writer: asyncio.StreamWriter) -> str:
    """Run both directions until one ends; returns how the session ended."""
    up = asyncio.create_task(client.run())
    down = asyncio.create_task(server.run())
    done, pending = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    outcome = "closed"
    for task in done:
        exc = task.exception()
        if isinstance(exc, pg.PgWireError):
            outcome = "protocol_error"
            await _fatal(writer, getattr(exc, "sqlstate", "08P01"), str(exc))
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


async def _fatal(writer: asyncio.StreamWriter, sqlstate: str, message: str) -> None:
    if writer.is_closing():
        return
    with contextlib.suppress(Exception):
        writer.write(pg.encode(pg.ErrorResponse.build("FATAL", sqlstate, message)))
        await writer.drain()
