"""The bytes of one socket, for a PacketStream: read, write, drain, close.

``Channel`` is an asyncio protocol (the listener's and the upstream connections'): reads are
buffered from ``data_received`` and handed out by ``read``, as a StreamReader would, but a
``tap`` sees each read first, in the callback itself. The fast lane (gateway.mysql.lane) is
that tap: it answers a session's steady state without waking the session's task, and every
read it does not take reaches the task as it came, in order. While the lane has a command in
flight it ``hold``s the client's channel: what the client sends meanwhile waits for the lane's
``release``, so the task never reads a command before the reply to the one before it is done.

``StreamChannel`` is the same interface over an asyncio stream pair (an SSH forward's end of
its socket pair, gateway.ssh.tunnel); it has no tap.

Once a session's TLS handshake is done (``PacketStream.start_tls``, on memory BIOs) the channel
carries the TLS itself (``secure``): reads are decrypted as they arrive, before the tap sees
them, and writes are encrypted, so that the lane and the task both see the session in clear.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from typing import Any, Protocol

__all__ = [
    "READ_SIZE", "ByteChannel", "Channel", "StreamChannel", "Tap", "TlsLayer", "open_channel",
]  # fmt: skip

READ_SIZE = 65536
PAUSE_ABOVE = 4 * READ_SIZE  # bytes buffered unread before the socket's reading is paused


class Tap(Protocol):
    """What sees a Channel's reads first (gateway.mysql.lane)."""

    def received(self, channel: Channel, data: bytes) -> bool:
        """Take ``data`` (True: the task never sees it) or leave it (False)."""
        ...

    def lost(self, channel: Channel) -> None:
        """The peer closed the connection or it broke."""
        ...


class TlsLayer:
    """A finished TLS handshake's connection on memory BIOs: ciphertext in, plaintext out."""

    def __init__(self, tls: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO):
        self.tls, self.incoming, self.outgoing = tls, incoming, outgoing

    def open(self, raw: bytes) -> tuple[bytes, bool]:
        """The plaintext ``raw`` completes (with what was received before it), and whether the
        peer closed the TLS connection (close_notify); what TLS sends back (tickets, key
        updates) waits in ``sent``. Raises ssl.SSLError for what does not decrypt."""
        if raw:
            self.incoming.write(raw)
        parts: list[bytes] = []
        while True:
            try:
                part = self.tls.read(READ_SIZE)
            except ssl.SSLWantReadError:
                return b"".join(parts), False
            except ssl.SSLZeroReturnError:
                return b"".join(parts), True
            if not part:
                return b"".join(parts), True
            parts.append(part)

    def seal(self, plain: bytes) -> bytes:
        if plain:
            self.tls.write(plain)
        return self.outgoing.read()

    def sent(self) -> bytes:
        return self.outgoing.read() if self.outgoing.pending else b""


class ByteChannel(Protocol):
    """The interface a PacketStream reads and writes through."""

    async def read(self) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def write_buffer_size(self) -> int: ...

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...

    def secure(self, layer: TlsLayer) -> None:
        """Carry TLS from now on (the handshake is done)."""
        ...


class Channel(asyncio.Protocol):
    def __init__(self, on_made: Callable[[Channel], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.tap: Tap | None = None
        self._on_made = on_made
        self._chunks: list[bytes] = []
        self._size = 0
        self._eof = False
        self._lost = False
        self._error: BaseException | None = None  # what broke the connection
        self._failure: BaseException | None = None  # what ``fail`` was given
        self._held = False
        self._reading_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._writing_paused = False
        self._drained: list[asyncio.Future[None]] = []
        self._on_drained: list[Callable[[], None]] = []
        self._closed: asyncio.Future[None] | None = None
        self._tls: TlsLayer | None = None

    def secure(self, layer: TlsLayer) -> None:
        # Whatever arrived and was not read yet is TLS too, and nothing is read in clear
        # from here on (the CVE-2021-23214 class: bytes sent in clear behind the handshake).
        raw = b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        self._tls = layer
        plain, closed = layer.open(raw)  # and what came right behind the handshake
        self._send(layer.sent())
        if plain:
            self._chunks.append(plain)
            self._size += len(plain)
        if closed:
            self._eof = True

    # -- the protocol's callbacks ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self._closed = asyncio.get_running_loop().create_future()
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._on_made is not None:
            self._on_made(self)

    def data_received(self, data: bytes) -> None:
        layer = self._tls
        if layer is not None:
            try:
                data, closed = layer.open(data)
            except ssl.SSLError as exc:  # not TLS from this peer: the session ends
                self._error = self._error or exc
                self._eof = True
                self._wake()
                self.close()
                return
            self._send(layer.sent())
            if closed:
                self._eof = True
                self._wake()
            if not data:
                return
        tap = self.tap
        if tap is not None and not self._chunks and tap.received(self, data):
            return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > PAUSE_ABOVE and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        if not self._held:
            self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = self._lost = True
        if exc is not None and self._error is None:
            self._error = exc
        self._wake()  # a held read stays held: the lane's reply is still recorded
        for waiter in self._drained:
            if not waiter.done():
                waiter.set_exception(ConnectionResetError("the connection was lost"))
        self._drained.clear()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        if self.tap is not None:
            self.tap.lost(self)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        for waiter in self._drained:
            if not waiter.done():
                waiter.set_result(None)
        self._drained.clear()
        callbacks, self._on_drained = self._on_drained, []
        for callback in callbacks:
            callback()

    # -- reading -----------------------------------------------------------------------------

    async def read(self) -> bytes:
        """What was received and not yet read (b"": the peer closed the connection); raises
        what broke the connection, or what ``fail`` was given."""
        while True:
            if not self._held:
                if self._failure is not None:
                    raise self._failure
                if self._chunks:
                    return self._take()
                if self._error is not None:
                    raise self._error
                if self._eof:
                    return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _take(self) -> bytes:
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._size = 0
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    @property
    def waiting(self) -> bool:
        """A read is waiting and nothing is buffered for it."""
        return self._waiter is not None and not self._chunks

    @property
    def buffered(self) -> int:
        return self._size

    @property
    def ended(self) -> bool:
        """The peer closed the connection, or it broke: a read has nothing more to wait for."""
        return self._eof or self._error is not None

    def hold(self) -> None:
        """Keep what arrives from the waiting read until ``release``."""
        self._held = True

    def release(self) -> None:
        self._held = False
        if self._chunks or self.ended or self._failure is not None:
            self._wake()  # else the waiting read waits on (a wake-up per statement costs)

    def fail(self, error: BaseException) -> None:
        """The waiting (or next) read raises ``error``: what the tap found wrong ends the
        task's session as if the task had found it."""
        if self._failure is None:
            self._failure = error
        self._chunks.clear()  # the session ends: nothing more is read
        self._size = 0
        self._held = False
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- writing -----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self._send(self._tls.seal(data) if self._tls is not None else data)

    def _send(self, data: bytes) -> None:
        transport = self.transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    async def drain(self) -> None:
        if self._lost:
            raise ConnectionResetError("the connection was lost")
        if not self._writing_paused:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._drained.append(waiter)
        await waiter

    def when_drained(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the transport takes writes again (now, if it does)."""
        if self._writing_paused:
            self._on_drained.append(callback)
        else:
            callback()

    def write_buffer_size(self) -> int:
        transport = self.transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def pause_reading(self) -> None:
        if self.transport is not None and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and self._reading_paused and self._size <= PAUSE_ABOVE:
            self._reading_paused = False
            self.transport.resume_reading()

    # -- the connection ----------------------------------------------------------------------

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def wait_closed(self) -> None:
        if self._closed is not None:
            await self._closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if self.transport is None:
            return default
        return self.transport.get_extra_info(name, default)


class StreamChannel:
    """A ByteChannel over an asyncio stream pair."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self._tls: TlsLayer | None = None

    def secure(self, layer: TlsLayer) -> None:
        self._tls = layer

    async def read(self) -> bytes:
        layer = self._tls
        if layer is None:
            return await self.reader.read(READ_SIZE)
        raw = b""
        while True:
            plain, closed = layer.open(raw)
            sent = layer.sent()
            if sent:
                self.writer.write(sent)
            if plain or closed:
                return plain
            raw = await self.reader.read(READ_SIZE)
            if not raw:
                return b""

    def write(self, data: bytes) -> None:
        data = self._tls.seal(data) if self._tls is not None else data
        if data:
            self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    def write_buffer_size(self) -> int:
        return self.writer.transport.get_write_buffer_size()

    def close(self) -> None:
        self.writer.close()

    async def wait_closed(self) -> None:
        await self.writer.wait_closed()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.writer.get_extra_info(name, default)


async def open_channel(host: str, port: int) -> Channel:
    """A Channel connected to ``host:port``."""
    _, channel = await asyncio.get_running_loop().create_connection(Channel, host, port)
    return channel
