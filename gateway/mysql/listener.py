"""The MySQL listener: accept, authenticate, connect upstream, relay, record, clean up.

One asyncio task per client; a malformed packet or a failure ends that one session (an ERR
packet where the protocol still allows one, then the connection closes), never the listener.
Each session gets a gateway-owned connection id (the handshake's thread id, which ``KILL
QUERY`` names: docs/mysql.md, "Ctrl-C"), mapped to the upstream's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from approvals import Delegation, Identity, new_id
from gateway.config import split_hostport
from gateway.mysql import wire as my
from gateway.mysql.accept import Accepted, Authenticate, Refused, accept_client
from gateway.mysql.channel import ByteChannel, Channel, StreamChannel
from gateway.mysql.context import Deps, MySession
from gateway.mysql.control import serve_control
from gateway.mysql.relay import Relay
from gateway.mysql.stream import PacketStream
from gateway.mysql.upstream import (
    SQL_MODE,
    Upstream,
    UpstreamError,
    UpstreamGone,
    connect_upstream,
    kill_upstream,
    query_value,
)
from gateway.sessions import AccessRefused, AuthRefused, Ending, LimitRefused, Target
from store import Unavailable

__all__ = ["CLOSE_GRACE_S", "LiveSession", "MySQLListener"]

log = logging.getLogger("airlock.mysql")
CLOSE_GRACE_S = 5.0
CANCEL_ROUNDS = 50


@dataclass
class LiveSession:
    """A relaying session as the core and the listener see it; ``end`` cancels its task, which
    tells the client why (ERR 1927) and records the end."""

    shared: MySession
    task: asyncio.Task[None]
    upstream_id: int = 0
    message: str | None = None

    @property
    def session(self) -> MySession:
        return self.shared

    def end(self, why: Ending, message: str) -> None:
        self.shared.ending = why
        self.kill(message)

    def kill(self, message: str) -> None:
        """End the session: its task is cancelled, the client told ``message``."""
        self.message = message
        if not self.task.done():
            self.task.cancel()


class MySQLListener:
    def __init__(self, deps: Deps, listen: str) -> None:
        self.deps, self.core = deps, deps.core
        self.host, self.port = split_hostport(listen)
        self.live: dict[int, LiveSession] = {}  # by the gateway's connection id
        self._ids: set[int] = set()  # ids handed out, live or starting
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Channel(self._accepted), self.host, self.port
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self._server

    async def close(self, grace: float = CLOSE_GRACE_S) -> int:
        """Stop accepting; end the relaying sessions (ERR 1927; they record their end and
        cancel a held statement's review within ``grace``), cancel the rest. Returns how many
        sessions were cut off at ``grace``."""
        if self._server is not None:
            self._server.close()
        relaying = {live.task for live in self.live.values()}
        for live in list(self.live.values()):
            live.end(Ending.SHUTDOWN, "the gateway is shutting down")
        cut = 0
        handlers = list(self._handlers)
        if handlers:
            for task in handlers:
                if task not in relaying:
                    task.cancel()
            _, pending = await asyncio.wait(handlers, timeout=grace)
            cut = len(pending & relaying)
            await _cancel_tasks(pending)
        if self._server is not None:
            await self._server.wait_closed()
        return cut

    def _new_id(self) -> int:
        while True:
            thread_id = secrets.randbelow(2**31 - 2) + 1
            if thread_id not in self._ids:
                self._ids.add(thread_id)
                return thread_id

    def _accepted(self, channel: Channel) -> None:
        asyncio.get_running_loop().create_task(self._client(channel))

    async def serve_tunnel(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        identity: Identity,
        connection: str,
    ) -> None:
        """A stream an SSH session forwarded to ``connection`` (gateway.ssh, docs/ssh.md):
        served like any client, as the SSH session's ``identity`` (the handshake's password is
        asked for, as any client expects, and not used), on ``connection`` whatever database
        the handshake names (``name/otherdb`` still picks another database there; none: the
        mysql client's Ctrl-C, gateway.mysql.control, as on the listener)."""

        async def as_tunnel(_token: str) -> Identity:
            return identity

        channel = StreamChannel(reader, writer)
        await self._client(channel, as_tunnel, _Tunnel(self.deps.targets[connection]))

    async def _client(
        self,
        channel: ByteChannel,
        authenticate: Authenticate | None = None,
        targets: dict[str, Target[Any, Any]] | None = None,
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        ticket = self.core.limits.connection()
        self._handlers.add(task)
        thread_id = self._new_id()
        stream = PacketStream(channel)
        try:
            if ticket is None:
                self.core.refuse_connection()
                stream.seq = 0
                stream.write(my.Err(1040, "08004", "Too many connections (Airlock)").encode())
            else:
                await self._session(stream, thread_id, authenticate, targets)
        except asyncio.CancelledError:
            pass  # the listener is closing
        except my.MyWireError as exc:
            log.info("mysql session ended: %s", exc)
            stream.write(my.Err(exc.code, exc.sqlstate, exc.message).encode())
        except OSError as exc:
            log.info("mysql session ended: %s", exc)
        except Exception:
            log.exception("mysql session failed")
        finally:
            if ticket is not None:
                ticket.release()
            self._ids.discard(thread_id)
            self._handlers.discard(task)
            with contextlib.suppress(Exception):
                await stream.drain()
            channel.close()
            with contextlib.suppress(Exception):
                await channel.wait_closed()

    # -- start-up ------------------------------------------------------------------------

    async def _authenticate(self, token: str) -> Identity:
        try:
            return await self.core.authenticate(token)
        except AuthRefused as exc:
            raise Refused(1045, "28000", f"Access denied: {exc.message}") from exc

    async def _authorize(self, identity: Identity, connection: str) -> Delegation | None:
        roles = self.deps.targets[connection].config.roles
        try:
            return await self.core.authorize(identity, connection, roles)
        except AccessRefused as exc:
            raise Refused(1044, "42000", exc.message) from exc
        except LimitRefused as exc:
            raise Refused(1040, "08004", exc.message) from exc

    async def _session(
        self,
        stream: PacketStream,
        thread_id: int,
        authenticate: Authenticate | None = None,
        targets: dict[str, Target[Any, Any]] | None = None,
    ) -> None:
        try:
            accepted = await accept_client(
                stream,
                thread_id=thread_id,
                targets=self.deps.targets if targets is None else targets,
                tls=self.deps.tls,
                allow_plaintext=self.deps.allow_plaintext,
                authenticate=authenticate or self._authenticate,
                authorize=self._authorize,
            )
            if accepted is None:
                return
            if accepted.target is None:  # the mysql client's Ctrl-C (gateway.mysql.control)
                await serve_control(
                    stream, accepted.identity, accepted.capabilities, killer=self,
                    kill_target=self.deps.kill_target, state=self.deps.state(),
                )  # fmt: skip
                return
            role = accepted.delegation.role if accepted.delegation is not None else None
            upstream = await connect_upstream(
                accepted.target.config,
                accepted.database,
                role,
                capabilities=accepted.capabilities,
                charset=accepted.charset,
            )
        except Refused as exc:
            stream.write(exc.error.encode())
            return
        except UpstreamError as exc:
            stream.write(exc.error.encode())
            return
        except TimeoutError:
            stream.write(my.Err(1043, "08S01", "the handshake took too long").encode())
            return
        except Unavailable as exc:
            stream.write(_store_unavailable(exc).encode())
            return
        try:
            await self._relay(accepted, upstream, stream, thread_id)
        except Unavailable as exc:  # the session's row could not be written: it never starts
            stream.write(_store_unavailable(exc).encode())
        except UpstreamGone as exc:  # the client is told, as a server's client would be
            stream.write(my.Err(2013, "HY000", f"Lost connection to the server: {exc}").encode())
        finally:
            upstream.close()

    async def _relay(
        self, accepted: Accepted, upstream: Upstream, client: PacketStream, thread_id: int
    ) -> None:
        target = accepted.target
        assert target is not None  # serve_control serves the connections that name none
        s = MySession(
            id=new_id(),
            identity=accepted.identity,
            connection=target.name,
            delegation=accepted.delegation,
            target=target,
            thread_id=thread_id,
            upstream_id=upstream.connection_id,
            database=accepted.database,
        )
        s.log = self.core.statement_log(s, target.redact)
        s.state = await _initial_state(self.deps.state(), s.database, upstream)
        await self.core.start(s, client.io.get_extra_info("peername"))
        client.write(my.Ok(status=my.Status.AUTOCOMMIT).encode(accepted.capabilities))
        task = asyncio.current_task()
        assert task is not None
        live = LiveSession(s, task, upstream.connection_id)
        relay = Relay(s, self.deps, client, upstream)
        relay.killer = self
        self.live[thread_id] = live
        outcome = "error"
        try:
            await self.core.attach(live)
            outcome = await relay.run()
        except asyncio.CancelledError:
            if live.message is None:
                raise
            task.uncancel()
            outcome = s.ending.value if s.ending is not None else "killed"
            client.write(my.Err(1927, "70100", f"Connection was killed: {live.message}").encode())
            if not relay.tracker.idle:
                # A command is upstream: the server notices a closed client only when it next
                # writes to it, so a revoked session's long UPDATE would run to its end. Kill
                # its thread first. Only then: a shutdown ending a thousand idle sessions opens
                # no thousand connections.
                await kill_upstream(target.config, s.role, upstream.connection_id,
                                    query_only=False, within=1)  # fmt: skip
        except (my.ProtocolError, ConnectionError) as exc:
            outcome = "protocol_error" if isinstance(exc, my.ProtocolError) else "connection_lost"
            raise
        finally:
            self.live.pop(thread_id, None)
            await self.core.detach(live)
            await self.core.end(s, outcome)

    # -- KILL of the gateway's own sessions (the relay's Killer) ---------------------------

    def owned(self, identity: Identity, target: Any) -> LiveSession | None:
        """The session a ``KILL [QUERY] <id>`` (``target``: the dialect's KillTarget) names, if
        it is one of the gateway's and its identity (the whole chain) is the killer's; None
        for anything else (the rules judge it: the default blocks KILL of other sessions)."""
        live = self.live.get(int(target.thread_id))
        if live is None or live.shared.identity.chain != identity.chain:
            return None
        return live

    async def kill(self, by: str, live: LiveSession, target: Any) -> str:
        """Do the KILL: a held statement's review is cancelled (its client gets 1317), a
        running one is killed upstream by the upstream's id, ``KILL <id>`` ends the session.
        Returns the rule it is recorded under."""
        victim = live.shared
        if not target.query_only:
            live.kill(f"KILL {target.thread_id} from the same identity's {by}")
            return "kill/own-session"
        if victim.holding is not None:
            victim.cancel_hold.set()
            return "kill/own-held-statement"
        await kill_upstream(victim.target.config, victim.role, live.upstream_id, query_only=True)
        return "kill/own-running-statement"


class _Tunnel(dict[str, Target[Any, Any]]):
    """A forwarded stream's one connection, whatever name the handshake's database gives."""

    def __init__(self, target: Target[Any, Any]) -> None:
        super().__init__({target.name: target})
        self.target = target

    def get(self, key: str, default: object = None) -> Target[Any, Any]:
        return self.target


async def _initial_state(fresh: Any, database: str, upstream: Upstream) -> Any:
    """The dialect's state of a fresh session: its database and the server's sql_mode (which
    changes how texts are lexed: NO_BACKSLASH_ESCAPES, ANSI_QUOTES)."""
    mode = await query_value(upstream, SQL_MODE)
    state = fresh.with_database(database)
    return state.with_sql_mode((mode or b"").decode("utf-8", "replace"))


async def _cancel_tasks(tasks: set[asyncio.Task[None]]) -> None:
    for _ in range(CANCEL_ROUNDS):
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        _, tasks = await asyncio.wait(tasks, timeout=0.1)
    log.error("%d mysql sessions did not end when cancelled", len(tasks))


def _store_unavailable(exc: Unavailable) -> my.Err:
    log.warning("mysql session refused: the audit store is unavailable: %s", exc)
    return my.Err(
        1105,
        "HY000",
        f"the audit store is unavailable ({exc.reason}): Airlock cannot record this session "
        "now; try again shortly",
    )
