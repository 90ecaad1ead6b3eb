"""The client's side of the start-up: TLS, cancel requests, routing, token authentication.

Docs 55.2.1 ("Start-up") and 55.2.10 ("SSL Session Encryption"). The startup ``database`` names
the connection (``pg-prod``, or ``pg-prod/otherdb`` for another database on that target); the
password is an Airlock token; the user name is informational. Plaintext is accepted on loopback
only, unless ``[listeners] allow_plaintext`` says otherwise. Startup ``options`` and
``replication`` are refused: both change what the server does below the statement level.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from approvals import Delegation, Identity
from gateway.postgres import wire as pg
from gateway.postgres.dialect import PgTarget
from gateway.sessions import is_loopback

__all__ = ["Accepted", "Refused", "accept_client"]

STARTUP_TIMEOUT_S = 30.0
# Parameters a client may pass on to the server; everything else is dropped.
FORWARDED = frozenset(
    {"application_name", "DateStyle", "TimeZone", "extra_float_digits", "IntervalStyle"}
)


class Refused(Exception):
    """The start-up ends with this ErrorResponse (FATAL)."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.sqlstate, self.message = sqlstate, message


@dataclass
class Accepted:
    identity: Identity
    target: PgTarget
    database: str
    params: dict[str, str]
    user: str
    parser: pg.ClientParser
    tls: bool
    delegation: Delegation | None


Authenticate = Callable[[str], Awaitable[Identity]]
Authorize = Callable[[Identity, str], Awaitable[Delegation | None]]
Cancel = Callable[[int, int], Awaitable[None]]


def _unencrypted_data(reader: asyncio.StreamReader, parser: pg.ClientParser) -> bool:
    """Bytes that arrived behind an SSLRequest before the TLS handshake (CVE-2021-23214 class):
    in the parser (read together with the request) or in the stream's buffer."""
    return bool(parser.pending_bytes() or getattr(reader, "_buffer", b""))


async def _event(
    reader: asyncio.StreamReader, parser: pg.ClientParser
) -> pg.FrontendMessage | None:
    while True:
        event = parser.next_event()
        if not isinstance(event, pg.NeedData):
            return event
        data = await reader.read(16384)
        if not data:
            return None
        parser.receive_data(data)


async def _startup(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    parser: pg.ClientParser,
    tls: ssl.SSLContext | None,
    cancel: Cancel,
) -> tuple[pg.StartupMessage | None, bool]:
    encrypted = False
    while True:
        event = await _event(reader, parser)
        if event is None:
            return None, encrypted
        if isinstance(event, pg.SSLRequest) and tls is not None and not encrypted:
            # Bytes sent in clear behind the SSLRequest are never read. They are looked for
            # before the handshake: after it, the stream's buffer holds decrypted data.
            if _unencrypted_data(reader, parser):
                raise Refused("08P01", "received unencrypted data after SSL request")
            writer.write(pg.encode(pg.SSLResponse(accepted=True)))
            await writer.drain()
            if _unencrypted_data(reader, parser):
                raise Refused("08P01", "received unencrypted data after SSL request")
            await writer.start_tls(tls)
            parser.encryption_accepted()
            encrypted = True
        elif isinstance(event, pg.SSLRequest | pg.GSSENCRequest):
            writer.write(pg.encode(pg.SSLResponse(accepted=False)))
            parser.encryption_refused()
        elif isinstance(event, pg.CancelRequest):
            await cancel(event.process_id, event.secret_key)
            return None, encrypted
        elif isinstance(event, pg.StartupMessage):
            return event, encrypted
        else:
            raise Refused("08P01", "expected a startup message")


def _route(
    startup: pg.StartupMessage, targets: dict[str, PgTarget]
) -> tuple[PgTarget, str, dict[str, str]]:
    params = startup.params
    if startup.protocol_version != pg.PROTOCOL_3_0:
        raise Refused("0A000", "only protocol 3.0 is supported")
    if params.get("replication", "false").lower() not in ("false", "0", "off", "no"):
        raise Refused("0A000", "replication connections are not allowed through Airlock")
    if params.get("options", "").strip():
        raise Refused("0A000", "startup options are not allowed through Airlock (use SET)")
    requested = params.get("database") or params.get("user") or ""
    name, _, database = requested.partition("/")
    target = targets.get(name)
    if target is None:
        raise Refused("3D000", f'no connection named "{name}" on this gateway')
    forwarded = {k: v for k, v in params.items() if k in FORWARDED}
    forwarded["client_encoding"] = "UTF8"
    return target, database or target.config.database or name, forwarded


async def accept_client(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    targets: dict[str, PgTarget],
    tls: ssl.SSLContext | None,
    allow_plaintext: bool,
    authenticate: Authenticate,
    authorize: Authorize,
    cancel: Cancel,
) -> Accepted | None:
    """Run the start-up; None when the client left or sent a CancelRequest. Raises Refused."""
    parser = pg.ClientParser()
    async with asyncio.timeout(STARTUP_TIMEOUT_S):
        startup, encrypted = await _startup(reader, writer, parser, tls, cancel)
        if startup is None:
            return None
        if (
            not encrypted
            and not allow_plaintext
            and not is_loopback(writer.get_extra_info("peername"))
        ):
            raise Refused("28000", "TLS is required for connections from other hosts")
        target, database, params = _route(startup, targets)
        writer.write(pg.encode(pg.AuthenticationCleartextPassword()))
        parser.expect_password_message(pg.PasswordMessage)
        event = await _event(reader, parser)
        if event is None:
            return None
        if not isinstance(event, pg.PasswordMessage):
            raise Refused("08P01", "expected a password message")
        identity = await authenticate(event.password)
        delegation = await authorize(identity, target.config.name)
    return Accepted(
        identity=identity,
        target=target,
        database=database,
        params=params,
        user=startup.params.get("user", ""),
        parser=parser,
        tls=encrypted,
        delegation=delegation,
    )
