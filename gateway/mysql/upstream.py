"""The server side of the connection phase: the gateway logs in upstream with the credential
it holds for the session's role (``ConnectionConfig.credential``), never the client's.

MySQL "Connection Phase": the server's HandshakeV10, our HandshakeResponse41 with the client's
agreed capabilities (minus what the gateway does not relay: LOCAL INFILE, compression, ...),
first TLS as the connection's ``upstream_tls`` says (disable, prefer, require), then the
method the server asks for: ``mysql_native_password``, ``caching_sha2_password`` (its fast
path; full authentication with the password inside TLS, else through the server's RSA key),
MariaDB's ``client_ed25519`` (``gateway.mysql.wire.ed25519``), through an
AuthSwitchRequest to any of them. ``mysql_clear_password`` only over TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

from gateway.config import ConnectionConfig, split_hostport
from gateway.mysql import wire as my
from gateway.mysql.channel import open_channel
from gateway.mysql.stream import PacketStream
from gateway.mysql.wire.ed25519 import sign_scramble

__all__ = [
    "SESSION_FACTS",
    "SQL_MODE",
    "Upstream",
    "UpstreamError",
    "UpstreamGone",
    "connect_upstream",
    "kill_upstream",
    "query_row",
    "query_value",
]

C = my.Capability
CONNECT_TIMEOUT_S = 10.0
# Never asked of the server: the gateway does not relay these (docs/mysql.md, "Limits").
CLEARED = (
    C.LOCAL_FILES | C.COMPRESS | C.SSL | C.OPTIONAL_RESULTSET_METADATA | C.ZSTD_COMPRESSION
    | C.QUERY_ATTRIBUTES | C.MULTI_FACTOR_AUTHENTICATION | C.CAPABILITY_EXTENSION
    | C.SSL_VERIFY_SERVER_CERT | C.REMEMBER_OPTIONS | C.CAN_HANDLE_EXPIRED_PASSWORDS
)  # fmt: skip
# Capabilities that change a reply's format: the server must agree to what the client did.
FORMAT = C.PROTOCOL_41 | C.DEPRECATE_EOF | C.SESSION_TRACK | C.MULTI_RESULTS | C.PS_MULTI_RESULTS
NATIVE, SHA2, CLEAR = b"mysql_native_password", b"caching_sha2_password", b"mysql_clear_password"
ED25519 = b"client_ed25519"
REQUEST_PUBLIC_KEY = b"\x02"
SQL_MODE = "SELECT @@SESSION.sql_mode"  # read at the start and after COM_RESET_CONNECTION
# What the session state holds, read back from the server when a text that changes it failed
# part-way (a multi-statement text whose SET ran before a later statement's error).
SESSION_FACTS = "SELECT @@SESSION.sql_mode, DATABASE()"


class UpstreamGone(ConnectionError):
    """The upstream server closed the session's connection (restarted, killed it, ...)."""


class UpstreamError(Exception):
    """The gateway could not open the session upstream: ``error`` is what the client is told."""

    def __init__(self, error: my.Err) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class Upstream:
    stream: PacketStream
    connection_id: int
    capabilities: int
    server_version: str

    def close(self) -> None:
        self.stream.io.close()


def _scramble(plugin: bytes, password: bytes, scramble: bytes) -> bytes:
    if plugin == SHA2:
        return my.scramble_caching_sha2(password, scramble)
    return my.scramble_native(password, scramble)


def _rsa_encrypt(password: bytes, scramble: bytes, pem: bytes) -> bytes:
    """caching_sha2 full authentication without TLS: (password + NUL) XOR the scramble,
    RSA-OAEP with the server's key ("caching_sha2_password", "Full Authentication")."""
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: PLC0415

    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise my.UnsupportedAuthMethod("the server's public key is not an RSA key")
    clear = password + b"\0"
    mixed = bytes(b ^ scramble[i % len(scramble)] for i, b in enumerate(clear))
    # The server decrypts with OAEP over SHA-1 (RSA_PKCS1_OAEP_PADDING): its choice, not ours.
    sha1 = hashes.SHA1()  # noqa: S303
    oaep = padding.OAEP(mgf=padding.MGF1(sha1), algorithm=sha1, label=None)
    return key.encrypt(mixed, oaep)


async def _authenticate(
    stream: PacketStream, plugin: bytes, scramble: bytes, password: bytes
) -> None:
    """The server's answers after our response, up to its OK; raises UpstreamAuthError. Over
    TLS the password may go in clear (caching_sha2's full authentication, the cleartext
    plugin); without TLS never (caching_sha2 then goes through the server's RSA key)."""
    while True:
        packet = await stream.expect()
        head = packet.payload[:1]
        if head == b"\x00":
            return
        if head == b"\xff":
            err = my.Err.decode(packet.payload)
            raise my.AuthRejected(err.message, code=err.code, sqlstate=err.sqlstate)
        if head == b"\xfe":
            switch = my.AuthSwitchRequest.decode(packet.payload)
            plugin, scramble = switch.plugin, switch.data
            if plugin == ED25519:  # MariaDB: a signature of its 32-byte scramble
                stream.write(sign_scramble(password, scramble[:32]))
            elif plugin == CLEAR and stream.encrypted:
                stream.write(password + b"\0")
            elif plugin in (NATIVE, SHA2):
                scramble = scramble[:20]  # 20 bytes and a NUL
                stream.write(_scramble(plugin, password, scramble))
            else:
                name = plugin.decode("ascii", "replace")
                raise my.UnsupportedAuthMethod(f"the server asked for {name}, not supported")
        elif head == b"\x01" and plugin == SHA2:
            more = my.AuthMoreData.decode(packet.payload).data
            if more == b"\x03":  # fast authentication succeeded: its OK follows
                continue
            if more == b"\x04" and stream.encrypted:
                stream.write(password + b"\0")
            elif more == b"\x04":
                stream.write(REQUEST_PUBLIC_KEY)
            else:  # the server's public key, in PEM
                stream.write(_rsa_encrypt(password, scramble, more))
        else:
            raise my.UnexpectedPacket("an unexpected packet while logging in upstream")
        await stream.drain()


async def connect_upstream(
    config: ConnectionConfig,
    database: str,
    role: str | None,
    *,
    capabilities: int,
    charset: int,
) -> Upstream:
    """Open and log in; UpstreamError (its ERR for the client) when that fails."""
    host, port = split_hostport(config.upstream)
    user, password = config.credential(role)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            channel = await open_channel(host, port)
            stream = PacketStream(channel)
            try:
                secure = _Secure(config.upstream_tls, host)
                return await _login(
                    stream, user or "", password or "", database, capabilities, charset, secure
                )
            except BaseException:
                channel.close()
                raise
    except my.MyWireError as exc:
        raise UpstreamError(my.Err(exc.code, exc.sqlstate, f"upstream: {exc.message}")) from exc
    except (OSError, TimeoutError) as exc:
        message = f"cannot reach the upstream server of {config.name}: {exc or 'timeout'}"
        raise UpstreamError(my.Err(2013, "HY000", message)) from exc


@dataclass(frozen=True)
class _Secure:
    """The connection's ``upstream_tls``: disable, prefer (encrypt when the server offers TLS,
    unverified, as libmysqlclient's ssl-mode=PREFERRED) or require (refuse a server without
    TLS; verify its certificate against the system's CAs and its name)."""

    mode: str
    host: str

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.mode == "prefer":
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


async def _tls(stream: PacketStream, greeting: my.Handshake, caps: int, charset: int,
               secure: _Secure) -> int:  # fmt: skip
    """The SSLRequest and the TLS handshake when the connection asks for TLS and the server
    offers it ("Connection Phase", "SSL Handshake"); the capabilities, with CLIENT_SSL when
    the session is encrypted."""
    if secure.mode == "disable":
        return caps
    if not greeting.capabilities & C.SSL:
        if secure.mode == "require":
            raise my.UpstreamAuthError(
                "the upstream server offers no TLS and the connection requires it",
                code=2026,
                sqlstate="HY000",
            )
        return caps
    caps |= C.SSL
    stream.write(my.SslRequest(caps, my.DEFAULT_MAX_PAYLOAD, charset).encode())
    try:
        await stream.start_tls(secure.context(), server_side=False, server_hostname=secure.host)
    except ssl.SSLError as exc:
        raise my.UpstreamAuthError(
            f"TLS to the upstream server failed: {exc.reason}", code=2026, sqlstate="HY000"
        ) from exc
    return caps


async def _login(
    stream: PacketStream,
    user: str,
    password: str,
    database: str,
    capabilities: int,
    charset: int,
    secure: _Secure,
) -> Upstream:
    first = await stream.expect()
    if first.payload[:1] == b"\xff":
        err = my.Err.decode(first.payload)
        raise my.AuthRejected(err.message, code=err.code, sqlstate=err.sqlstate)
    greeting = my.Handshake.decode(first.payload)
    caps = int((capabilities & greeting.capabilities & ~CLEARED) | C.LONG_PASSWORD | C.PROTOCOL_41)
    caps |= C.SECURE_CONNECTION | C.PLUGIN_AUTH
    caps = (caps | C.CONNECT_WITH_DB) if database else (caps & ~C.CONNECT_WITH_DB)
    if caps & FORMAT != capabilities & FORMAT:
        missing = C(capabilities & FORMAT & ~caps)
        raise my.UnexpectedPacket(f"the server lacks capabilities the client uses: {missing!r}")
    caps = await _tls(stream, greeting, caps, charset, secure)
    plugin = greeting.auth_plugin if greeting.auth_plugin in (NATIVE, SHA2) else NATIVE
    secret = password.encode()
    response = my.HandshakeResponse(
        capabilities=caps,
        max_packet=my.DEFAULT_MAX_PAYLOAD,
        charset=charset,
        username=user.encode(),
        auth_response=_scramble(plugin, secret, greeting.scramble),
        database=database.encode(),
        auth_plugin=plugin,
        attributes={b"_client_name": b"airlock"},
    )
    stream.write(response.encode())
    await stream.drain()
    await _authenticate(stream, plugin, greeting.scramble, secret)
    return Upstream(
        stream, greeting.connection_id, caps, greeting.server_version.decode("utf-8", "replace")
    )


async def query_value(upstream: Upstream, sql: str) -> bytes | None:
    """Run ``sql`` (one row, one column) on the session's connection, for the gateway itself;
    None when the server answered otherwise."""
    row = await query_row(upstream, sql)
    return row[0] if row else None


async def query_row(upstream: Upstream, sql: str) -> list[bytes | None] | None:
    """Run ``sql`` on the session's connection for the gateway itself: its first row (None
    when it has none, or the server answered an error)."""
    stream = upstream.stream
    stream.seq = 0
    stream.write(b"\x03" + sql.encode())
    try:
        return await _first_row(upstream)
    except ConnectionResetError as exc:
        raise UpstreamGone(str(exc)) from exc


async def _first_row(upstream: Upstream) -> list[bytes | None] | None:
    stream = upstream.stream
    await stream.drain()
    tracker = my.ReplyTracker(upstream.capabilities)
    tracker.begin(my.Expect.RESULTS)
    row: list[bytes | None] | None = None
    while not tracker.idle:
        packet = await stream.expect()
        if tracker.feed(packet.payload) is my.Input.ROW and row is None:
            row = my.decode_text_row(packet.payload, tracker.columns)
    return row


async def kill_upstream(
    config: ConnectionConfig,
    role: str | None,
    thread_id: int,
    *,
    query_only: bool,
    within: float = 5.0,
) -> None:
    """``KILL QUERY <thread_id>`` (``query_only``) or ``KILL <thread_id>`` on a connection of
    its own with the session's credential (best effort, as the mysql client's Ctrl-C). A
    session that ends kills its thread, not its query: the server clears a KILL QUERY that
    lands before the command it meant has started, and a killed connection stays killed."""
    kill = "KILL QUERY" if query_only else "KILL"
    with contextlib.suppress(UpstreamError, my.MyWireError, OSError, TimeoutError):
        async with asyncio.timeout(within):
            upstream = await connect_upstream(
                config, "", role, capabilities=int(FORMAT | C.SECURE_CONNECTION), charset=45
            )
            try:
                await query_value(upstream, f"{kill} {int(thread_id)}")
            finally:
                upstream.close()
