"""A fake upstream PostgreSQL server that speaks just enough protocol for one misbehaviour.

Used only where the real server cannot be made to misbehave: malformed SCRAM, a huge SCRAM
iteration count, ErrorResponses without the usual fields.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from gateway.postgres import wire as pg

__all__ = ["Peer", "fake_upstream", "login_ok", "scram_garbage", "scram_iterations"]


class Peer:
    """The gateway, as the fake server sees it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = pg.ClientParser()

    async def read(self) -> pg.FrontendMessage | None:
        """The next message, or None when the gateway closed the connection."""
        while (event := self.parser.next_event()) is pg.NEED_DATA:
            data = await self.reader.read(65536)
            if not data:
                return None
            self.parser.receive_data(data)
        assert not isinstance(event, pg.NeedData)
        return event

    def send(self, *messages: pg.BackendMessage) -> None:
        self.writer.write(b"".join(pg.encode(m) for m in messages))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def until_closed(self) -> None:
        while await self.read() is not None:
            pass


Script = Callable[[Peer], Awaitable[None]]


@contextlib.asynccontextmanager
async def fake_upstream(script: Script) -> AsyncIterator[int]:
    """Serve ``script`` for every connection; yields the port."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer)
        try:
            startup = await peer.read()
            if isinstance(startup, pg.StartupMessage):
                await script(peer)
        except (ConnectionError, pg.PgWireError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def login_ok(peer: Peer) -> None:
    """Trust login: AuthenticationOk, a few parameters, a key, ReadyForQuery."""
    peer.send(
        pg.AuthenticationOk(),
        pg.ParameterStatus("server_version", "15.0"),
        pg.ParameterStatus("standard_conforming_strings", "on"),
        pg.BackendKeyData(4242, 4343),
        pg.ReadyForQuery("I"),
    )


async def _sasl_start(peer: Peer) -> str | None:
    """Offer SCRAM; return the client's nonce from its client-first-message."""
    peer.send(pg.AuthenticationSASL(("SCRAM-SHA-256",)))
    peer.parser.expect_password_message(pg.SASLInitialResponse)
    first = await peer.read()
    if not isinstance(first, pg.SASLInitialResponse) or first.data is None:
        return None
    return first.data.decode().rpartition("r=")[2]


async def scram_garbage(peer: Peer) -> None:
    """A server-first-message that is not SCRAM at all."""
    await _sasl_start(peer)
    peer.send(pg.AuthenticationSASLContinue(b"\xff\x00garbage,,=="))
    await peer.until_closed()


async def scram_iterations(peer: Peer) -> None:
    """A well-formed server-first-message asking for nine million PBKDF2 iterations (scramp
    itself accepts up to ten million: seconds of CPU on the event loop)."""
    nonce = await _sasl_start(peer)
    salt = base64.b64encode(b"0123456789abcdef").decode()
    peer.send(pg.AuthenticationSASLContinue(f"r={nonce}xyz,s={salt},i=9000000".encode()))
    await peer.until_closed()
