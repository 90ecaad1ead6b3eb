"""The SSH listener: accept, authenticate, log in upstream, run channels, record, clean up.

One asyncssh server (RFC 4253 transport, RFC 4252 authentication, RFC 4254 channels). Each
authenticated connection is one session of the core: it takes its place under the caps, logs
in upstream with the connection's key (the upstream's host key checked: refused and audited
when it is not the configured one), writes its row, is watched for revocation (``Live.end``
disconnects it, RFC 4253 §11.1, saying why) and records its end when the connection closes.
Session channels run :class:`gateway.ssh.exec.ExecChannel`; subsystems (sftp) and shells are
refused for now and say so. A malformed packet ends that one connection, never the listener
(asyncssh closes it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh

from approvals import AuditEntry, new_id
from gateway.config import split_hostport
from gateway.sessions import Ending, LimitRefused
from gateway.ssh.auth import Authenticated, GatewayServer
from gateway.ssh.context import SshDeps, SshSession
from gateway.ssh.errors import HostKeyRefused, UpstreamError
from gateway.ssh.exec import EXIT_REFUSED, EXIT_UPSTREAM_FAILED, ExecChannel
from gateway.ssh.interactive import ShellChannel
from gateway.ssh.recording import Recorder
from gateway.ssh.sftp import SftpProxy, SftpRefused
from gateway.ssh.upstream import connect_upstream
from store import StoreError, Unavailable

__all__ = ["SshListener", "load_host_key"]

log = logging.getLogger("airlock.ssh")
LOGIN_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 15.0  # a channel waits this long for its session's upstream login
# AES-GCM (AES-NI, one AEAD call per packet) and no ChaCha20-Poly1305 (two ChaCha20 and a
# Poly1305 per packet in asyncssh): the gateway encrypts every byte twice, to the client and to
# the upstream (tests/bench/ssh_bench.py). AES-CTR for clients without GCM.
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr")
WINDOW = 8 << 20  # channel window (RFC 4254 §5.2): bulk data waits less for window adjusts
END_FLUSH_S = 0.1  # an ended session's channels get this long to carry the reason
FAILED_LINGER_S = 5.0  # a session that cannot run closes this long after saying why


def load_host_key(path: str | None) -> asyncssh.SSHKey:
    """The listener's host key: read from ``path``, made there (Ed25519, 0600) when missing;
    a fresh one each start when ``path`` is None."""
    if path is None:
        return asyncssh.generate_private_key("ssh-ed25519")
    file = Path(path)
    if not file.exists():
        key = asyncssh.generate_private_key("ssh-ed25519")
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.export_private_key())
        return key
    return asyncssh.read_private_key(file)


class _Live:
    """The core's handle on a running SSH session: ending it disconnects the client."""

    def __init__(self, session: SshSession, server: GatewayServer) -> None:
        self._session, self._server = session, server

    @property
    def session(self) -> SshSession:
        return self._session

    def end(self, why: Ending, message: str) -> None:
        """Every open channel is told why, then the connection is closed (a disconnect's own
        message is not shown by every client, OpenSSH's at its default log level neither)."""
        self._session.ending = why
        self._session.left.set()
        for tell in list(self._session.tell):
            with contextlib.suppress(Exception):
                tell(message)
        conn = self._server.conn
        if conn is not None:
            text = f"airlock: {message}"
            loop = asyncio.get_running_loop()
            loop.call_later(END_FLUSH_S, conn.disconnect, asyncssh.DISC_BY_APPLICATION, text)


class SshListener:
    def __init__(self, deps: SshDeps, listen: str, host_key: asyncssh.SSHKey) -> None:
        self.deps, self.core = deps, deps.core
        self.host, self.port = split_hostport(listen)
        self.host_key = host_key
        self.live: dict[str, _Live] = {}
        self._server: asyncssh.SSHAcceptor | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncssh.create_server(
            self._connection,
            self.host,
            self.port,
            server_host_keys=[self.host_key],
            process_factory=self._process,
            sftp_factory=self._sftp,
            encoding=None,
            line_editor=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
            login_timeout=LOGIN_TIMEOUT_S,
            window=WINDOW,
            encryption_algs=CIPHERS,
            config=None,
        )
        sockets = self._server.sockets
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def close(self, grace: float = 5.0) -> None:
        """Stop accepting; end the sessions (disconnected, saying why); wait up to ``grace``."""
        if self._server is not None:
            self._server.close()
        for live in list(self.live.values()):
            live.end(Ending.SHUTDOWN, "the gateway is shutting down")
        if self._sessions:
            _, pending = await asyncio.wait(self._sessions, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _connection(self) -> GatewayServer:
        return GatewayServer(self.deps, self._authenticated, self._refused)

    def _authenticated(self, server: GatewayServer) -> None:
        task = asyncio.get_running_loop().create_task(self._session(server))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _session(self, server: GatewayServer) -> None:
        """The session of one authenticated connection, from its upstream login to its end."""
        who, conn = server.who, server.conn
        assert who is not None and conn is not None
        try:
            await self._run(server, who, conn)
        except Exception:
            log.exception("ssh session failed")
            conn.disconnect(asyncssh.DISC_BY_APPLICATION, "airlock: the session failed")
        finally:
            if not server.ready.done():
                server.ready.set_result(False)

    async def _run(
        self, server: GatewayServer, who: Authenticated, conn: asyncssh.SSHServerConnection
    ) -> None:
        target = who.target
        try:
            self.core.admit(who.identity, target.name)  # this task holds the place
        except LimitRefused as exc:
            conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS, f"airlock: {exc.message}")
            return
        session = SshSession(
            id=new_id(), identity=who.identity, connection=target.name,
            delegation=who.delegation, target=target,
        )  # fmt: skip
        try:
            session.upstream = await connect_upstream(
                target.config, self.deps.upstream_keys[target.name]
            )
        except UpstreamError as exc:
            await self._upstream_refused(who, exc)
            await self._fail(server, conn, exc.message)
            return
        session.log = self.core.statement_log(session, target.redact)
        try:
            await self.core.start(session, conn.get_extra_info("peername"))
        except Unavailable as exc:
            session.upstream.close()
            conn.disconnect(
                asyncssh.DISC_BY_APPLICATION,
                f"airlock: the audit store is unavailable ({exc.reason}); try again shortly",
            )
            return
        live = _Live(session, server)
        self.live[session.id] = live
        outcome = "closed"
        try:
            await self.core.attach(live)
            server.session = session
            if not server.ready.done():
                server.ready.set_result(True)
            await server.closed.wait()
            outcome = session.ending.value if session.ending is not None else "closed"
        finally:
            session.left.set()
            session.upstream.close()
            self.live.pop(session.id, None)
            await self.core.detach(live)
            await self.core.end(session, outcome)

    async def _fail(
        self, server: GatewayServer, conn: asyncssh.SSHServerConnection, message: str
    ) -> None:
        """The session cannot run: its channels say why on stderr (a disconnect message is
        not shown by every client); the connection is closed after FAILED_LINGER_S."""
        server.failure = message
        if not server.ready.done():
            server.ready.set_result(False)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FAILED_LINGER_S):
                await server.closed.wait()
        conn.disconnect(asyncssh.DISC_BY_APPLICATION, f"airlock: {message}")

    async def _upstream_refused(self, who: Authenticated, exc: UpstreamError) -> None:
        """An upstream login that failed is audited; a wrong host key with its fingerprint."""
        details: dict[str, Any] = {"reason": exc.message, "edge": "ssh"}
        outcome = "upstream_failed"
        if isinstance(exc, HostKeyRefused):
            outcome = "host_key_refused"
            details["fingerprint"] = exc.fingerprint
        log.warning("ssh upstream of %s refused: %s", who.target.name, exc.message)
        self._audit("ssh.upstream_refused", who, outcome, details)

    async def _refused(self, kind: str, what: str, who: Authenticated | None) -> None:
        """A channel the connection may not open, audited."""
        if who is not None:
            self._audit("ssh.channel_refused", who, "refused", {"channel": kind, "what": what})

    def _audit(
        self, action: str, who: Authenticated, outcome: str, details: dict[str, Any]
    ) -> None:
        entry = AuditEntry(
            action=action, actor=who.identity, target=who.target.name, outcome=outcome,
            at=datetime.now(UTC), connection=who.target.name, details=details,
        )  # fmt: skip
        try:
            self.core.audit.submit(entry, urgent=True)
        except StoreError as error:
            log.warning("could not record %s: %s", action, error)

    # -- channels ------------------------------------------------------------------------

    def _sftp(self, chan: asyncssh.SSHServerChannel[bytes]) -> asyncssh.SFTPServer:
        """The sftp subsystem: proxied upstream and recorded (``allow_sftp = true``), else
        every operation refused, and the refusal audited."""
        server = chan.get_connection().get_owner()
        assert isinstance(server, GatewayServer)
        who = server.who
        if who is None or not who.target.config.allow_sftp:
            if who is not None:
                self._audit("ssh.channel_refused", who, "refused",
                            {"channel": "session", "what": "subsystem sftp"})  # fmt: skip
            return SftpRefused(chan)

        async def session_for() -> SshSession | None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(READY_TIMEOUT_S):
                    if await asyncio.shield(server.ready):
                        return server.session
            return None

        return SftpProxy(chan, session_for)

    async def _shell(self, session: SshSession, process: asyncssh.SSHServerProcess[bytes]) -> int:
        """An interactive shell on a pty: recorded (asciicast v2) and held per line."""
        session.shells += 1
        width, height = process.term_size[:2]
        recorder = Recorder(
            self.core.audit, session.id, session.shells, session.next_row,
            width=width or 80, height=height or 24, term=process.term_type or "xterm",
            record_input=session.target.config.record_input,
        )  # fmt: skip
        return await ShellChannel(self.core, session, process, recorder).run()

    async def _process(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        server = process.get_extra_info("connection").get_owner()
        assert isinstance(server, GatewayServer)
        ready = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(READY_TIMEOUT_S):
                ready = await asyncio.shield(server.ready)
        session = server.session
        if not ready or session is None:
            why = server.failure or "the session could not start"
            process.stderr.write(f"airlock: {why}\r\n".encode())
            process.exit(EXIT_UPSTREAM_FAILED)
            return
        channel = ExecChannel(self.core, session, process)
        if process.command is None and process.subsystem is None and process.term_type:
            process.exit(await self._shell(session, process))
            return
        if process.subsystem is not None or process.command is None:
            what = (
                f"subsystem {process.subsystem}"
                if process.subsystem
                else "an interactive shell without a terminal (ssh -T)"
            )
            if server.who is not None:
                self._audit("ssh.channel_refused", server.who, "refused",
                            {"channel": "session", "what": what})  # fmt: skip
            channel.say(f"{what} is not allowed on {session.connection}")
            process.exit(EXIT_REFUSED)
            return
        await channel.run(process.command)
