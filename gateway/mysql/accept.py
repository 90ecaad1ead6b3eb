"""The client's side of the connection phase: the greeting, TLS, routing and the token.

MySQL "Client/Server Protocol", "Connection Phase". The gateway greets with its own connection
id (its ``thread_id``, which ``KILL QUERY`` names) and ``caching_sha2_password``. The database
named in the handshake is the connection's name (``mysql-app``, or ``mysql-app/otherdb`` for
another database on that target; none: the mysql client's Ctrl-C, ``gateway.mysql.control``);
the password is an Airlock token, which the gateway needs in
clear (docs/mysql.md, "Authentication"):

- over TLS, a client that answered with ``caching_sha2_password`` is asked for "full
  authentication" (AuthMoreData 0x04) and sends its password inside TLS; any other client is
  switched to ``mysql_clear_password`` (AuthSwitchRequest), inside TLS too;
- without TLS, from this host or with ``[listeners] allow_plaintext``, the client is switched
  to ``mysql_clear_password`` (or used it from the start);
- without TLS from elsewhere the connection is refused (3159) before any password is asked.

caching_sha2's RSA path cannot carry a gateway token: RSA-OAEP with a 2048-bit key takes at most
214 bytes, a gateway JWT is about 480.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from approvals import Delegation, Identity
from gateway.mysql import wire as my
from gateway.mysql.stream import PacketStream
from gateway.sessions import Target, is_loopback

__all__ = ["SERVER_CAPABILITIES", "SERVER_VERSION", "Accepted", "Refused", "accept_client"]

C = my.Capability
STARTUP_TIMEOUT_S = 30.0
# The greeting is sent before the client names its connection, so before the gateway knows the
# server: a version every MySQL and MariaDB client treats as the common ground (an "8.0" makes
# mysql-connector ask for utf8mb4_0900_ai_ci, which MariaDB does not know).
SERVER_VERSION = b"5.7.99-Airlock"
# What the gateway offers the client; each must mean the same towards the server (the reply
# formats are relayed as they come). Not offered: compression, LOCAL INFILE, optional result
# set metadata, query attributes, multi-factor auth, MariaDB's extended capabilities.
SERVER_CAPABILITIES = (
    C.LONG_PASSWORD | C.FOUND_ROWS | C.LONG_FLAG | C.CONNECT_WITH_DB | C.IGNORE_SPACE
    | C.PROTOCOL_41 | C.INTERACTIVE | C.TRANSACTIONS | C.SECURE_CONNECTION
    | C.MULTI_STATEMENTS | C.MULTI_RESULTS | C.PS_MULTI_RESULTS | C.PLUGIN_AUTH
    | C.CONNECT_ATTRS | C.PLUGIN_AUTH_LENENC_CLIENT_DATA | C.SESSION_TRACK | C.DEPRECATE_EOF
)  # fmt: skip
# Connection character sets whose multi-byte characters can end in 0x5c, the backslash: the
# server would read a text differently from the gateway, which reads UTF-8 (a backslash
# swallowed by the character before it ends a string early). Handshake collation ids of big5,
# sjis, gbk, cp932 and MySQL 8's gb18030 ("Character Sets and Collations").
UNSAFE_CHARSETS = frozenset({1, 13, 28, 84, 87, 88, 95, 96, 248, 249, 250})
CACHING_SHA2 = b"caching_sha2_password"
CLEAR = b"mysql_clear_password"
FULL_AUTH = b"\x04"  # caching_sha2_password: perform full authentication


class Refused(Exception):
    """The connection phase ends with this ERR packet."""

    def __init__(self, code: int, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.error = my.Err(code, sqlstate, message)


@dataclass
class Accepted:
    identity: Identity
    target: Target[Any, Any] | None  # None: no connection named (a KILL's connection)
    database: str
    user: str
    capabilities: int  # agreed with the client
    charset: int
    tls: bool
    delegation: Delegation | None


Authenticate = Callable[[str], Awaitable[Identity]]
Authorize = Callable[[Identity, str], Awaitable[Delegation | None]]


def _scramble() -> bytes:
    """20 bytes of printable characters, never NUL (clients stop at one)."""
    return bytes(33 + secrets.randbelow(94) for _ in range(20))


async def _secure(stream: PacketStream, tls: ssl.SSLContext | None) -> None:
    """After an SSLRequest: the TLS handshake (every byte behind the request is its own:
    gateway.mysql.stream)."""
    if tls is None:
        raise Refused(1045, "28000", "this gateway offers no TLS")
    try:
        await stream.start_tls(tls)
    except ssl.SSLError as exc:
        raise ConnectionResetError(f"the TLS handshake failed: {exc.reason}") from exc


def _route(
    response: my.HandshakeResponse, targets: dict[str, Target[Any, Any]]
) -> tuple[Target[Any, Any] | None, str]:
    """The connection the handshake's database names, and the upstream database; (None, "")
    when it names none (the mysql client's Ctrl-C connects so: gateway.mysql.control)."""
    requested = (response.database or b"").decode("utf-8", "replace")
    name, _, database = requested.partition("/")
    if not name:
        return None, ""
    target = targets.get(name)
    if target is None:
        raise Refused(1049, "42000", f"no connection named '{name}' on this gateway")
    return target, database or target.config.database or ""


async def _token(stream: PacketStream, response: my.HandshakeResponse, encrypted: bool) -> str:
    """The password the client holds: the Airlock token, in clear (see the module's notes)."""
    if response.auth_plugin == CLEAR:
        data = response.auth_response
    else:
        if encrypted and response.auth_plugin == CACHING_SHA2:
            stream.write(my.AuthMoreData(FULL_AUTH).encode())
        else:
            stream.write(my.AuthSwitchRequest(CLEAR, b"").encode())
        await stream.drain()
        data = (await stream.expect()).payload
    return data.split(b"\0", 1)[0].decode("utf-8", "replace")


async def accept_client(
    stream: PacketStream,
    *,
    thread_id: int,
    targets: dict[str, Target[Any, Any]],
    tls: ssl.SSLContext | None,
    allow_plaintext: bool,
    authenticate: Authenticate,
    authorize: Authorize,
) -> Accepted | None:
    """Run the connection phase up to the token's identity and access; None when the client
    left. Raises Refused (the caller sends its ERR and closes)."""
    caps = SERVER_CAPABILITIES | (C.SSL if tls is not None else 0)
    greeting = my.Handshake(SERVER_VERSION, thread_id, _scramble(), caps, auth_plugin=CACHING_SHA2)
    async with asyncio.timeout(STARTUP_TIMEOUT_S):
        stream.write(greeting.encode())
        await stream.drain()
        first = await stream.read()
        if first is None:
            return None
        encrypted = False
        if my.is_ssl_request(first.payload):
            await _secure(stream, tls)
            encrypted = True
            first = await stream.read()
            if first is None:
                return None
        response = my.HandshakeResponse.decode(first.payload)
        peer = stream.io.get_extra_info("peername")
        if not encrypted and not allow_plaintext and not is_loopback(peer):
            raise Refused(
                3159, "HY000", "connections from other hosts must use TLS (--ssl) through Airlock"
            )
        if response.charset in UNSAFE_CHARSETS:
            raise Refused(
                1115, "42000", "the connection's character set is refused through Airlock: its "
                "multi-byte characters can hide a backslash (use utf8mb4)",
            )  # fmt: skip
        target, database = _route(response, targets)
        token = await _token(stream, response, encrypted)
        identity = await authenticate(token)
        delegation = await authorize(identity, target.name) if target is not None else None
    return Accepted(
        identity=identity,
        target=target,
        database=database,
        user=response.username.decode("utf-8", "replace"),
        capabilities=response.capabilities & caps & ~C.SSL,
        charset=response.charset,
        tls=encrypted,
        delegation=delegation,
    )
