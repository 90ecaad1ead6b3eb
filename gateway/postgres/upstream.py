"""Log in to the real PostgreSQL server with the credential the gateway holds.

TLS as the connection says (``disable`` | ``prefer`` | ``require``), then StartupMessage, then
md5 or SCRAM-SHA-256 (docs 55.2.1, "Start-up"); collects the server's ParameterStatus values and
its BackendKeyData until the first ReadyForQuery. The client never sees the user or password.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from gateway.config import ConnectionConfig, split_hostport
from gateway.postgres import wire as pg

__all__ = [
    "CANCEL_TRIES",
    "CANCEL_WAIT_S",
    "Upstream",
    "UpstreamError",
    "cancel_until",
    "cancel_until_answered",
    "connect_upstream",
    "read_event",
    "send_cancel",
    "simple_query",
]

CONNECT_TIMEOUT_S = 10.0
# A statement cancelled for good: a CancelRequest, then this long for the server to answer on
# the statement's connection, and again, this many requests in all (cancel_until_answered).
CANCEL_TRIES = 3
CANCEL_WAIT_S = 2.0
# PostgreSQL's default is 4096 (scram_iterations); OWASP's advice for PBKDF2-SHA256 is 600,000.
MAX_SCRAM_ITERATIONS = 1_000_000


class UpstreamError(Exception):
    """The upstream is unreachable or refused the held credential (with the client SQLSTATE)."""

    def __init__(self, message: str, sqlstate: str = "08001") -> None:
        super().__init__(message)
        self.message, self.sqlstate = message, sqlstate


@dataclass
class Upstream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    parser: pg.ServerParser
    parameters: dict[str, str] = field(default_factory=dict)
    process_id: int = 0
    secret_key: int = 0
    status: str = "I"

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


async def send_cancel(config: ConnectionConfig, key: tuple[int, int], *, within: float) -> None:
    """One CancelRequest for the backend ``key`` names (process id, secret: its
    BackendKeyData), on a connection of its own (docs 55.2.7); best effort, silent. The server
    answers nothing, and drops a request that finds the backend between two messages."""
    host, port = split_hostport(config.upstream)
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(within):
            _, writer = await asyncio.open_connection(host, port)
            writer.write(pg.encode(pg.CancelRequest(*key)))
            await writer.drain()
            writer.close()


class _Answer(asyncio.Protocol):
    """A connection nobody reads any more, watched for the server's next word or its end."""

    def __init__(self) -> None:
        self.heard = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.heard.set()

    def eof_received(self) -> bool:
        self.heard.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.heard.set()


async def cancel_until_answered(
    config: ConnectionConfig, key: tuple[int, int], transport: asyncio.BaseTransport
) -> bool:
    """End the statement running on ``transport``'s backend (``key``: its BackendKeyData)
    before the connection is closed; False when it still ran after ``CANCEL_TRIES`` requests.

    The server notices a closed client only when it next writes, so a statement that writes
    nothing until its end (a lock wait, a long UPDATE, pg_sleep) would run on; and it drops a
    CancelRequest that lands while the backend is between two messages (a statement still being
    parsed and bound is one: postgres.c ignores the interrupt at its next read of the client).
    So the request is sent again until the server says anything on the statement's connection
    (the cancel's ErrorResponse, the statement's end) or closes it. Whatever it says is
    dropped: the connection is closed next. A statement that streams rows meanwhile has ended
    for this purpose too: its next write after the close fails it (docs 55.2.7)."""
    answer = _Answer()
    transport.set_protocol(answer)
    if transport.is_closing():
        return True
    if isinstance(transport, asyncio.ReadTransport):
        with contextlib.suppress(RuntimeError):  # a relay's back-pressure may have paused it
            transport.resume_reading()
    return await cancel_until(partial(send_cancel, config, key, within=1), answer.heard.wait)


async def cancel_until(
    send: Callable[[], Awaitable[None]], answered: Callable[[], Awaitable[object]]
) -> bool:
    """``send`` a CancelRequest, then wait ``CANCEL_WAIT_S`` for ``answered`` to return (the
    statement's end as the caller reads it), and again, ``CANCEL_TRIES`` requests in all;
    False when it never did. What ``answered`` raises but a timeout is the caller's."""
    for _ in range(CANCEL_TRIES):
        await send()
        try:
            async with asyncio.timeout(CANCEL_WAIT_S):
                await answered()
            return True
        except TimeoutError:
            continue
    return False


async def read_event(up: Upstream, when: str = "during login") -> pg.BackendMessage:
    """The next message from the upstream server (UpstreamError when it closes, ``when``)."""
    while True:
        event = up.parser.next_event()
        if event is not pg.NEED_DATA:
            assert not isinstance(event, pg.NeedData)
            return event
        data = await up.reader.read(65536)
        if not data:
            raise UpstreamError(f"the upstream server closed the connection {when}")
        up.parser.receive_data(data)


async def _negotiate_tls(up: Upstream, mode: str, host: str) -> None:
    up.parser.expect_ssl_response()
    up.writer.write(pg.encode(pg.SSLRequest()))
    answer = await read_event(up)
    if not isinstance(answer, pg.SSLResponse):
        raise UpstreamError("the upstream server answered SSLRequest with something else")
    if not answer.accepted:
        up.parser.encryption_refused()
        if mode == "require":
            raise UpstreamError(
                "the upstream server does not offer TLS and the connection requires it"
            )
        return
    context = ssl.create_default_context()
    if mode == "prefer":
        # "prefer" encrypts without verifying, as libpq's sslmode=prefer does.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    await up.writer.start_tls(context, server_hostname=host)
    up.parser.encryption_accepted()


async def connect_upstream(
    conn: ConnectionConfig, database: str, client_params: dict[str, str], role: str | None = None
) -> Upstream:
    """Connect and log in, as ``role``'s credential when given (else the connection's own);
    raises UpstreamError with a message safe to show the client."""
    host, port = split_hostport(conn.upstream)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(host, port)
            up = Upstream(reader, writer, pg.ServerParser())
            try:
                await _login(up, conn, database, client_params, host, role)
            except BaseException:
                up.close()
                raise
            return up
    except TimeoutError as exc:
        raise UpstreamError(f"connection {conn.name}: the upstream server did not answer") from exc
    except OSError as exc:
        raise UpstreamError(f"connection {conn.name}: cannot reach the upstream server") from exc
    except pg.AuthRejected as exc:
        raise UpstreamError(
            f"connection {conn.name}: the upstream server refused the gateway's credential",
            "08004",
        ) from exc
    except pg.PgWireError as exc:
        raise UpstreamError(
            f"connection {conn.name}: upstream login failed: {exc}", "08004"
        ) from exc


async def _login(
    up: Upstream,
    conn: ConnectionConfig,
    database: str,
    client_params: dict[str, str],
    host: str,
    role: str | None,
) -> None:
    username, password = conn.credential(role)
    if conn.upstream_tls != "disable":
        await _negotiate_tls(up, conn.upstream_tls, host)
    user = username or "postgres"
    params = {**client_params, "user": user, "database": database}
    up.writer.write(pg.encode(pg.StartupMessage(params)))
    auth = pg.UpstreamAuth(user, password or "")
    while True:
        event = await read_event(up)
        if isinstance(event, pg.ErrorResponse):
            raise UpstreamError(
                f"connection {conn.name}: upstream refused the session: {event.message or ''}",
                event.sqlstate or "08004",
            )
        if isinstance(event, pg.ParameterStatus):
            up.parameters[event.name] = event.value
        elif isinstance(event, pg.BackendKeyData):
            up.process_id, up.secret_key = event.process_id, event.secret_key
        elif isinstance(event, pg.ReadyForQuery):
            up.status = event.status
            return
        elif isinstance(event, pg.AuthenticationSASLContinue):
            # PBKDF2 with the server's iteration count: capped, and off the event loop, so a
            # hostile upstream cannot stall every other session (SCRAM, RFC 5802 section 5.1).
            _check_iterations(event.data)
            reply = await asyncio.to_thread(auth.handle, event)
            up.writer.write(pg.encode(reply))  # type: ignore[arg-type]
        elif not isinstance(event, pg.NoticeResponse | pg.NegotiateProtocolVersion):
            reply = auth.handle(event)
            if reply is not None:
                up.writer.write(pg.encode(reply))


def _check_iterations(server_first: bytes) -> None:
    for attribute in server_first.split(b","):
        count = attribute[2:]
        if not (attribute.startswith(b"i=") and count.isdigit()):
            continue
        if len(count) > 9 or int(count) > MAX_SCRAM_ITERATIONS:
            raise pg.AuthProtocolViolation(
                f"the upstream asked for {count[:20].decode()} SCRAM iterations "
                f"(at most {MAX_SCRAM_ITERATIONS} are accepted)"
            )


async def simple_query(up: Upstream, sql: str) -> list[tuple[bytes | None, ...]]:
    """Run one gateway-own query on the session's upstream before the client's first message;
    its rows (none when it failed). Nothing of it reaches the client."""
    up.writer.write(pg.encode(pg.Query(sql)))
    rows: list[tuple[bytes | None, ...]] = []
    failed = False
    async with asyncio.timeout(CONNECT_TIMEOUT_S):
        while True:
            event = await read_event(up)
            if isinstance(event, pg.DataRow):
                rows.append(event.values)
            elif isinstance(event, pg.ErrorResponse):
                failed = True
            elif isinstance(event, pg.ReadyForQuery):
                up.status = event.status
                return [] if failed else rows
