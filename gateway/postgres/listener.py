"""The PostgreSQL listener: accept, authenticate, connect upstream, relay, record, clean up.

One asyncio task per client; a malformed message or a failure ends that one session with a
clean ErrorResponse, never the listener. Each session gets gateway-owned BackendKeyData
(process id, secret) mapped to the upstream's, so CancelRequest works — for a held statement
it cancels the review instead (docs 55.2.7, "Canceling Requests in Progress").
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import secrets
import struct
from dataclasses import dataclass

from approvals import Delegation, Identity, new_id
from gateway.config import split_hostport
from gateway.postgres import wire as pg
from gateway.postgres.accept import Accepted, Authenticate, Refused, accept_client
from gateway.postgres.catalog import column_names
from gateway.postgres.client_side import ClientSide
from gateway.postgres.context import Deps, Shared
from gateway.postgres.counting import Counter, InSession, close_quietly
from gateway.postgres.dialect import CatalogNames, Lineage, PgTarget
from gateway.postgres.relay import LiveSession, Relay, fatal, hello
from gateway.postgres.server_side import ServerSide
from gateway.postgres.upstream import (
    CANCEL_TRIES,
    Upstream,
    UpstreamError,
    cancel_until_answered,
    connect_upstream,
    send_cancel,
)
from gateway.sessions import AccessRefused, AuthRefused, Ending, LimitRefused
from store import Unavailable

__all__ = ["Cut", "PostgresListener"]

log = logging.getLogger("airlock.postgres")
# On close, relaying sessions are ended (FATAL 57P01) and get this long to record their end.
CLOSE_GRACE_S = 5.0
CANCEL_ROUNDS = 50  # a session's clean-up is a handful of awaits: then it is let go
# Past [gateway] max_sessions (docs 55.2.1: the server's own words past its max_connections).
TOO_MANY = "53300"
TOO_MANY_CLIENTS = "sorry, too many clients already (Airlock: more than {} connections)"
REFUSE_WITHIN_S, REFUSING = 2.0, 256  # connections past the cap: how long, how many at once
# An ended session's objects form reference cycles (the relay, its lane, its channels and
# transports), which only the cyclic collector frees, and `airlock up` runs its full passes
# rarely (gateway.cli.main._steady_heap): without a collection every COLLECT_EVERY ended
# sessions, ended sessions piled up until one (about 30 KiB each: +30 MiB per 1,000).
COLLECT_EVERY = 100


@dataclass
class Cut:
    """What ``close`` cut off: sessions that had not recorded their end, and how many of them
    were holding a statement whose review was not cancelled yet."""

    sessions: int = 0
    holds: int = 0


class PostgresListener:
    def __init__(self, deps: Deps, listen: str) -> None:
        self.deps, self.core = deps, deps.core  # the core: tokens, access, holds, records
        self.host, self.port = split_hostport(listen)
        self.live: dict[int, LiveSession] = {}
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._refusing = 0  # connections past the cap being answered
        self._ended = 0  # sessions ended since the last collection (COLLECT_EVERY)

    async def start(self) -> asyncio.Server:
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        sock = self._server.sockets[0].getsockname()
        self.port = int(sock[1])
        return self._server

    async def close(self, grace: float = CLOSE_GRACE_S) -> Cut:
        """Stop accepting; end relaying sessions (FATAL 57P01 at once; they record their end and
        cancel a held statement's review within ``grace`` seconds), cancel the rest. Returns
        what was cut off at ``grace``."""
        if self._server is not None:
            self._server.close()
        for live in list(self.live.values()):
            live.end(Ending.SHUTDOWN, "the gateway is shutting down")
        handlers = list(self._handlers)
        cut = Cut()
        if handlers:
            relaying = {live.handler: live for live in self.live.values()}
            for task in handlers:
                if task not in relaying:
                    task.cancel()
            _, pending = await asyncio.wait(handlers, timeout=grace)
            for task in pending:
                late = relaying.get(task)
                if late is not None:
                    cut.sessions += 1
                    cut.holds += late.shared.holding is not None
            await _cancel_tasks(pending)
        if self._server is not None:
            await self._server.wait_closed()
        return cut

    async def serve_tunnel(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        identity: Identity,
        connection: str,
    ) -> None:
        """A stream an SSH session forwarded to ``connection`` (gateway.ssh, docs/ssh.md):
        served like any client, as the SSH session's ``identity`` (the start-up's password is
        asked for, as libpq expects, and not used), on ``connection`` whatever the start-up's
        database names (``connection/otherdb`` still picks another database there)."""

        async def as_tunnel(_password: str) -> Identity:
            return identity

        await self._client(reader, writer, as_tunnel, _Tunnel(self.deps.targets[connection]))

    async def _client(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        authenticate: Authenticate | None = None,
        targets: dict[str, PgTarget] | None = None,
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        ticket = self.core.limits.connection()
        self._handlers.add(task)
        try:
            if ticket is None:  # past 2 x max_sessions connections: answered, not queued
                await self._too_many(reader, writer)
            else:
                await self._session(reader, writer, authenticate, targets)
        except asyncio.CancelledError:
            # The listener is closing. End quietly: Python 3.11's start_server logs an error
            # for a handler task that ends cancelled.
            pass
        except OSError as exc:  # the client reset the connection, or its TLS handshake failed
            log.info("postgres session ended: %s", exc)
        except Exception:
            log.exception("postgres session failed")
        finally:
            if ticket is not None:
                ticket.release()
                self._collect()
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _collect(self) -> None:
        """Every COLLECT_EVERY ended sessions, the cyclic collector frees what they left."""
        self._ended += 1
        if self._ended >= COLLECT_EVERY:
            self._ended = 0
            asyncio.get_running_loop().call_soon(gc.collect)

    async def _too_many(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer a connection past ``2 * max_sessions`` as the server does past its slots: its
        start-up packet is read (an SSLRequest answered 'N': libpq shows no error sent before
        it), then FATAL 53300; within REFUSE_WITHIN_S, and at most REFUSING of them at once
        (past that the connection is closed without a word)."""
        self.core.refuse_connection()
        if self._refusing >= REFUSING:
            writer.transport.abort()
            return
        self._refusing += 1
        try:
            parser = pg.ClientParser()
            async with asyncio.timeout(REFUSE_WITHIN_S):
                while not isinstance(event := parser.next_event(), pg.StartupMessage):
                    if isinstance(event, pg.SSLRequest | pg.GSSENCRequest):
                        writer.write(pg.encode(pg.SSLResponse(accepted=False)))
                        parser.encryption_refused()
                    elif not isinstance(event, pg.NeedData):
                        return  # a CancelRequest, or not a start-up at all
                    elif data := await reader.read(16384):
                        parser.receive_data(data)
                    else:
                        return
                await fatal(
                    writer, TOO_MANY, TOO_MANY_CLIENTS.format(self.core.limits.max_connections)
                )
        except (TimeoutError, OSError, pg.PgWireError):
            pass
        finally:
            self._refusing -= 1

    # -- start-up ------------------------------------------------------------------------

    async def _authenticate(self, password: str) -> Identity:
        try:
            return await self.core.authenticate(password)
        except AuthRefused as exc:
            raise Refused("28P01", f"password authentication failed: {exc.message}") from exc

    async def _authorize(self, identity: Identity, connection: str) -> Delegation | None:
        roles = self.deps.targets[connection].config.roles
        try:
            return await self.core.authorize(identity, connection, roles)
        except AccessRefused as exc:
            raise Refused("42501", exc.message) from exc
        except LimitRefused as exc:  # before anything is opened upstream
            raise Refused(TOO_MANY, exc.message) from exc

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
        await _cancel_upstream(live, within=5)

    async def _session(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        authenticate: Authenticate | None = None,
        targets: dict[str, PgTarget] | None = None,
    ) -> None:
        try:
            accepted = await accept_client(
                reader,
                writer,
                targets=self.deps.targets if targets is None else targets,
                tls=self.deps.tls,
                allow_plaintext=self.deps.allow_plaintext,
                authenticate=authenticate or self._authenticate,
                authorize=self._authorize,
                cancel=self._cancel,
            )
            if accepted is None:
                return
            role = accepted.delegation.role if accepted.delegation is not None else None
            upstream = await connect_upstream(
                accepted.target.config, accepted.database, accepted.params, role
            )
        except (Refused, UpstreamError) as exc:
            await fatal(writer, exc.sqlstate, exc.message)
            return
        except pg.PgWireError as exc:
            await fatal(writer, getattr(exc, "sqlstate", "08P01"), str(exc))
            return
        except TimeoutError:
            await fatal(writer, "08P01", "the start-up took too long")
            return
        except Unavailable as exc:
            await _store_unavailable(writer, exc)
            return
        try:
            catalog = await self._catalog(accepted, upstream)
            await self._relay(accepted, upstream, catalog, reader, writer)
        except (UpstreamError, TimeoutError) as exc:
            await fatal(writer, "08006", f"the upstream server failed: {exc}")
        except Unavailable as exc:  # the session's row could not be written: it never starts
            await _store_unavailable(writer, exc)
        finally:
            upstream.close()

    async def _catalog(self, accepted: Accepted, upstream: Upstream) -> CatalogNames | None:
        """On a connection that masks: the real names of the columns its rules name."""
        masking = accepted.target.masking
        if masking is None:
            return None
        return await column_names(upstream, (rule.split(".")[-1] for rule in masking.columns))

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
        catalog: CatalogNames | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        pid, secret = self._new_key(), secrets.randbits(31)
        shared = Shared(
            id=new_id(),
            identity=accepted.identity,
            connection=accepted.target.name,
            target=accepted.target,
            delegation=accepted.delegation,
            client=writer,
            upstream=upstream.writer,
            catalog=catalog,
        )
        shared.log = self.core.statement_log(shared, accepted.target.redact)
        if accepted.target.masking is not None:
            shared.lineage = Lineage(accepted.target.masking, catalog)
        scs = upstream.parameters.get("standard_conforming_strings", "on") == "on"
        shared.state = type(shared.state)(standard_conforming_strings=scs)
        await self.core.start(shared, writer.get_extra_info("peername"))
        writer.writelines(hello(upstream, pid, secret))
        live = LiveSession(secret, shared, (upstream.process_id, upstream.secret_key))
        self.live[pid] = live
        client = ClientSide(shared, self.deps, accepted.parser)
        role = accepted.delegation.role if accepted.delegation is not None else None
        # Held and limited writes are counted on a second connection with the same credential.
        counter = Counter(accepted.target.config, accepted.database, accepted.params, role)
        client.counting.counter = counter
        server = ServerSide(shared, self.deps, upstream.parser)
        client.counting.in_session = InSession(shared, server)
        outcome = "error"
        try:
            await self.core.attach(live)
            outcome = await Relay(client, server, live, (reader, writer, upstream)).run()
            if outcome in _ENDED_FROM_OUTSIDE and shared.tracker.head is not None:
                # The server notices a closed client only when it next writes: a statement
                # still running there (a revoked session's pg_sleep, a long UPDATE) would run
                # to its end. Cancel it first, again while the server says nothing (it drops a
                # request that finds the statement being parsed). Only then: a shutdown ending
                # a thousand idle sessions opens no thousand cancel connections. (The relay
                # handed the fast lane's request in flight to the tracker when it stopped.)
                ended = await cancel_until_answered(
                    shared.target.config, live.upstream_key, upstream.writer.transport
                )
                if not ended:
                    log.warning(
                        "postgres session %s on %s: its statement still ran upstream after %d "
                        "CancelRequests; the upstream connection is closed",
                        shared.id, shared.target.name, CANCEL_TRIES,
                    )  # fmt: skip
        finally:
            close_quietly(counter)
            self.live.pop(pid, None)
            await self.core.detach(live)
            server.audit_finished()
            await self.core.end(shared, outcome)


_ENDED_FROM_OUTSIDE = frozenset(ending.value for ending in Ending)


class _Tunnel(dict[str, PgTarget]):
    """A forwarded stream's one connection, whatever name the start-up's database gives."""

    def __init__(self, target: PgTarget) -> None:
        super().__init__({target.name: target})
        self.target = target

    def get(self, key: str, default: object = None) -> PgTarget:
        return self.target


async def _cancel_upstream(live: LiveSession, *, within: float) -> None:
    """A CancelRequest for the session's upstream backend (best effort: docs 55.2.7)."""
    await send_cancel(live.shared.target.config, live.upstream_key, within=within)


async def _cancel_tasks(tasks: set[asyncio.Task[None]]) -> None:
    """Cancel the sessions' tasks until they are gone: a cancelled session still runs its
    clean-up (the records of its end), which may wait for the store again."""
    for _ in range(CANCEL_ROUNDS):
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        _, tasks = await asyncio.wait(tasks, timeout=0.1)
    log.error("%d postgres sessions did not end when cancelled", len(tasks))


async def _store_unavailable(writer: asyncio.StreamWriter, exc: Unavailable) -> None:
    """No session without its record: one the store cannot take is refused, in words."""
    log.warning("postgres session refused: the audit store is unavailable: %s", exc)
    message = (
        f"the audit store is unavailable ({exc.reason}): Airlock cannot record this session "
        "now; try again shortly"
    )
    await fatal(writer, "57P03", message)
