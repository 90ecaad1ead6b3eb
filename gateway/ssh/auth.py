"""The SSH server side of one client connection: who it is (RFC 4252), what it may open.

The SSH user name names the connection (``ssh pg-box@gateway``). The Airlock token is the
password (RFC 4252 §8) or the answer to one keyboard-interactive prompt (RFC 4256); a public
key registered to an identity (``airlock ssh-key add``, RFC 4252 §7) stands for that
identity. An access refusal is told in a banner (RFC 4252 §5.4) before the method fails, since
SSH's failure message carries no text. Once authenticated the connection's session runs
(:class:`gateway.ssh.listener.SshListener` starts it from ``auth_completed``).

Channels other than sessions: local forwarding (RFC 4254 §7.2 direct-tcpip) only to the
database connections in ``forward_to`` (:mod:`gateway.ssh.tunnel`), remote forwarding (§7.1)
never; refusals are audited. Agent and X11 forwarding are turned off on the server
(``create_server``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import asyncssh

from approvals import AccessNotAllowed, Delegation, Identity, IdentityKind
from gateway.sessions import AuthRefused, Ticket
from gateway.ssh.context import SshDeps, SshSession, SshTarget
from gateway.ssh.tunnel import bridge, resolve
from store import StoreError

__all__ = ["Authenticated", "GatewayServer"]

log = logging.getLogger("airlock.ssh")
REFUSED_DELAY_S = 0.2  # a little friction for guessers of tokens and connection names


@dataclass(frozen=True)
class Authenticated:
    """Who authenticated, for which connection, on which delegation."""

    identity: Identity
    target: SshTarget
    delegation: Delegation | None


class GatewayServer(asyncssh.SSHServer):
    """One client connection's server object (asyncssh makes one per connection)."""

    def __init__(
        self,
        deps: SshDeps,
        started: Callable[[GatewayServer], None],
        refused: Callable[[str, str, Authenticated | None], Coroutine[Any, Any, None]],
    ) -> None:
        self.deps = deps
        self._started, self._refused = started, refused
        self.conn: asyncssh.SSHServerConnection | None = None
        self.who: Authenticated | None = None
        self.session: SshSession | None = None  # once its upstream login and row are done
        self.failure: str | None = None  # why the session could not start, for its channels
        self.ticket: Ticket | None = None  # its place among the connections (limits)
        self.closed = asyncio.Event()
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        """Past ``2 * max_sessions`` connections (authenticated or not) a new one is closed at
        once, before its key exchange costs anything (gateway.sessions.limits)."""
        self.conn = conn
        self.ticket = self.deps.core.limits.connection()
        if self.ticket is None:
            self.deps.core.refuse_connection()
            conn.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ticket is not None:
            self.ticket.release()
        self.closed.set()
        if not self.ready.done():
            self.ready.set_result(False)

    def begin_auth(self, username: str) -> bool:
        return True  # always authenticate: an unknown connection name fails like a bad token

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        return await self._token(username, password)

    def kbdint_auth_supported(self) -> bool:
        return True

    def get_kbdint_challenge(
        self, username: str, lang: str, submethods: str
    ) -> tuple[str, str, str, list[tuple[str, bool]]]:
        return ("Airlock", "Paste your Airlock token.", "", [("Airlock token: ", False)])

    async def validate_kbdint_response(self, username: str, responses: Sequence[str]) -> bool:
        return len(responses) == 1 and await self._token(username, responses[0])

    def auth_completed(self) -> None:
        self._started(self)

    def public_key_auth_supported(self) -> bool:
        return self.deps.keys is not None

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """A public key registered to an identity (RFC 4252 §7; asyncssh checks the
        signature): that identity, authorized as a token's would be."""
        store = self.deps.keys
        if store is None:
            return False
        try:
            found = await store.find(key.get_fingerprint("sha256"))
        except StoreError:
            return False
        if found is None:
            return False
        identity = Identity(
            subject=found.subject, kind=IdentityKind(found.kind), groups=frozenset(found.groups)
        )
        try:  # a revoked person's key is refused as their tokens are
            revoked = await self.deps.core.guard.authenticator.revocations.revoked(
                identity.chain, ()
            )
        except StoreError:
            return False
        if revoked is not None:
            self._banner(f"airlock: access revoked: {revoked}")
            return False
        return await self._admit(username, identity)

    async def _token(self, username: str, secret: str) -> bool:
        """Authenticate the token and authorize it for the connection the user name names."""
        try:
            identity = await self.deps.core.authenticate(secret.strip())
        except AuthRefused:
            await asyncio.sleep(REFUSED_DELAY_S)
            return False
        return await self._admit(username, identity)

    async def _admit(self, username: str, identity: Identity) -> bool:
        """Authorize ``identity`` for the connection the user name names."""
        target = self.deps.targets.get(username)
        if target is None:
            self._banner(f"airlock: no ssh connection named {username!r}")
            await asyncio.sleep(REFUSED_DELAY_S)
            return False
        try:  # the access check of SessionCore.authorize; the session's place under the caps
            # is taken by the task that runs it (SshListener._run), not by this one
            delegation = await self.deps.core.service.authorize_connect(identity, target.name)
        except AccessNotAllowed as exc:
            self._banner(f"airlock: {exc.message}")
            return False
        role = delegation.role if delegation is not None else None
        if role is not None:  # a role picks another upstream login: not served over SSH yet
            self._banner(f"airlock: your access to {target.name} is as role {role!r}; roles "
                         "are not served on ssh connections")  # fmt: skip
            return False
        self.who = Authenticated(identity, target, delegation)
        return True

    def _banner(self, text: str) -> None:
        if self.conn is not None:
            self.conn.send_auth_banner(text + "\r\n")

    # -- channels other than sessions (RFC 4254 §7) -----------------------------------------

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> Any:
        """Local forwarding (direct-tcpip): to a database connection in ``forward_to``, served
        by its protocol's listener logic (:mod:`gateway.ssh.tunnel`); else refused, audited."""
        who = self.who
        name = None
        if who is not None:
            forward_to = who.target.config.forward_to
            name = resolve(forward_to, dict(self.deps.forwards), dest_host, dest_port)
        if who is None or name is None:
            self._refuse("direct-tcpip", f"forward to {dest_host}:{dest_port}")
            return False
        forward, identity = self.deps.forwards[name], who.identity

        async def handler(
            reader: asyncssh.SSHReader[bytes], writer: asyncssh.SSHWriter[bytes]
        ) -> None:
            if not await asyncio.shield(self.ready):
                writer.close()
                return
            await bridge(reader, writer, forward, identity, name)

        return handler

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        """Remote forwarding (tcpip-forward): refused and audited."""
        self._refuse("tcpip-forward", f"remote forward from {listen_host}:{listen_port}")
        return False

    def _refuse(self, kind: str, what: str) -> None:
        task = asyncio.get_running_loop().create_task(self._refused(kind, what, self.who))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
