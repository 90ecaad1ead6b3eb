"""Zero-copy framing of protocol 3.0 byte streams (PostgreSQL docs 55.7 "Message Formats").

The read buffer is an immutable `bytes` object plus a read offset. A read that starts at a
message boundary becomes the buffer itself, without a copy; only a message split across reads is
joined, once, when all of it has arrived (so a 1 GiB DataRow in 64 KiB reads costs one join, not
16,000). A `Frame` names one whole message by offsets into a buffer, so a proxy can forward
contiguous runs of frames with one write and decode only the messages it must inspect. Buffers
are never mutated, so frames and memoryviews stay valid for as long as the caller holds them.

Every length word is checked (4 <= length <= cap for that type byte) before anything is joined
or allocated; a type byte with no cap is an unknown message and is refused.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Container, Mapping
from enum import Enum
from typing import Final, NamedTuple

from gateway.postgres.wire.errors import (
    MalformedMessage,
    MessageTooLarge,
    ProtocolError,
    UnexpectedMessage,
)
from gateway.postgres.wire.tags import BackendTag, FrontendTag

__all__ = [
    "AUTH_TOKEN_LIMIT",
    "DEFAULT_CLIENT_MAX_MESSAGE",
    "DEFAULT_SERVER_MAX_MESSAGE",
    "NEED_DATA",
    "SMALL_MESSAGE_LIMIT",
    "SSL_RESPONSE",
    "STARTUP_PACKET",
    "STARTUP_PACKET_LIMIT",
    "Frame",
    "Limits",
    "NeedData",
    "client_limits",
    "server_limits",
]

# Caps on a message body (length word minus 4), named after PostgreSQL's own (src/include/libpq).
SMALL_MESSAGE_LIMIT: Final = 10_000  # PQ_SMALL_MESSAGE_LIMIT: Sync, Describe, Execute, ...
AUTH_TOKEN_LIMIT: Final = 65_535  # PG_MAX_AUTH_TOKEN_LENGTH: 'p' and 'R' messages
STARTUP_PACKET_LIMIT: Final = 10_000  # MAX_STARTUP_PACKET_LENGTH
# Client → gateway: Query/Parse/Bind/FunctionCall are decoded and inspected, so they get a
# tighter default than the server's 1 GiB; CopyData shares it (raise it for bulk COPY FROM).
DEFAULT_CLIENT_MAX_MESSAGE: Final = 64 * 1024 * 1024
# Server → gateway: DataRow, CopyData, ErrorResponse can be as large as the server allows
# (MaxAllocSize, 1 GiB - 1).
DEFAULT_SERVER_MAX_MESSAGE: Final = 0x3FFF_FFFF

# Frame.tag values outside the byte range, for the untyped packets of the startup phase.
STARTUP_PACKET: Final = -1  # Int32 length, Int32 code, ...: StartupMessage, SSLRequest, ...
SSL_RESPONSE: Final = -2  # the single byte 'S' / 'N' answering an SSLRequest

_I32 = struct.Struct("!i")
unpack_i32 = _I32.unpack_from


class NeedData(Enum):
    """Sentinel type: the buffer does not yet hold a whole message."""

    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = NeedData.NEED_DATA


class Frame(NamedTuple):
    """One whole message at `buffer[start:end]`; `tag` is its type byte (or a startup kind)."""

    tag: int
    buffer: bytes
    start: int
    end: int

    @property
    def raw(self) -> memoryview:
        """The message as sent, header included, without a copy."""
        return memoryview(self.buffer)[self.start : self.end]

    @property
    def body(self) -> memoryview:
        """The message after its type byte and length word (after the length for startup)."""
        tag = self.tag
        header = 5 if tag >= 0 else (4 if tag == STARTUP_PACKET else 0)
        return memoryview(self.buffer)[self.start + header : self.end]


# tuple.__new__ skips the Python-level NamedTuple constructor: half the cost per frame.
new_frame: Final = tuple.__new__


Limits = tuple[int, ...]


def _table(caps: Mapping[int, int]) -> Limits:
    """256 maximum length words (body cap + 4), indexed by type byte; 0 = unknown type."""
    table = [0] * 256
    for tag, body_cap in caps.items():
        table[tag] = body_cap + 4
    return tuple(table)


@functools.cache
def client_limits(max_message: int = DEFAULT_CLIENT_MAX_MESSAGE) -> Limits:
    """Length caps for typed frontend messages; `max_message` applies to Q, P, B, F, d."""
    t = FrontendTag
    caps: dict[int, int] = {tag: SMALL_MESSAGE_LIMIT for tag in t}
    caps.update({tag: max_message for tag in (t.QUERY, t.PARSE, t.BIND, t.FUNCTION_CALL)})
    caps[t.COPY_DATA] = max_message
    caps[t.PASSWORD] = AUTH_TOKEN_LIMIT
    return _table(caps)


@functools.cache
def server_limits(max_message: int = DEFAULT_SERVER_MAX_MESSAGE) -> Limits:
    """Length caps for backend messages; fixed-size messages get their exact body size."""
    t = BackendTag
    caps: dict[int, int] = {tag: max_message for tag in t}
    fixed = (t.PARSE_COMPLETE, t.BIND_COMPLETE, t.CLOSE_COMPLETE, t.NO_DATA, t.PORTAL_SUSPENDED)
    caps.update(dict.fromkeys((*fixed, t.EMPTY_QUERY_RESPONSE, t.COPY_DONE), 0))
    caps[t.READY_FOR_QUERY] = 1
    caps[t.BACKEND_KEY_DATA] = 8
    caps[t.AUTHENTICATION] = AUTH_TOKEN_LIMIT
    return _table(caps)


def bad_header(tag: int, length: int, limits: Limits) -> ProtocolError:
    """The error for a typed header that failed `4 <= length <= limits[tag]`."""
    if limits[tag] == 0:
        return UnexpectedMessage(f"unknown message type {chr(tag)!r}")
    if length < 4:
        return MalformedMessage(f"invalid length {length} in message {chr(tag)!r}")
    return MessageTooLarge(f"message {chr(tag)!r} of {length} bytes exceeds {limits[tag]}")


class Reader:
    """The read buffer shared by both parsers: receive_data, pending_bytes, joins and runs."""

    def __init__(self, limits: Limits) -> None:
        # pending_bytes() is 0 exactly when _pos == len(_buf) and _chunks_len == 0: the compiled
        # fast lane reads these three fields for it (gateway/postgres/_lane.c, reader_empty).
        self._buf = b""
        self._pos = 0
        self._chunks: list[bytes] = []
        self._chunks_len = 0
        self._limits = limits

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes read from the peer (copied only if not `bytes`)."""
        if type(data) is not bytes:
            data = bytes(data)
        if not data:
            return
        if self._pos == len(self._buf) and not self._chunks:
            self._buf = data
            self._pos = 0
        else:
            self._chunks.append(data)
            self._chunks_len += len(data)

    @property
    def limits(self) -> Limits:
        """The length caps this reader checks headers against, by type byte."""
        return self._limits

    def pending_bytes(self) -> int:
        """How many received bytes have not been returned as part of a frame."""
        return len(self._buf) - self._pos + self._chunks_len

    def _fill(self, need: int) -> bool:
        """Make `need` bytes contiguous at the read offset; False if they have not arrived."""
        available = len(self._buf) - self._pos
        if available >= need:
            return True
        if available + self._chunks_len < need:
            return False
        self._buf = b"".join([memoryview(self._buf)[self._pos :], *self._chunks])
        self._pos = 0
        self._chunks.clear()
        self._chunks_len = 0
        return True

    def _take_run(self, inspect: Container[int]) -> memoryview:
        """Consume whole, valid frames whose tag is not in `inspect`; return them as one view."""
        buf = self._buf
        start = pos = self._pos
        size = len(buf)
        limits = self._limits
        while pos + 5 <= size:
            tag = buf[pos]
            if tag in inspect:
                break
            (length,) = unpack_i32(buf, pos + 1)
            if not 4 <= length <= limits[tag] or pos + 1 + length > size:
                break  # a bad header is reported by the next next_frame() call
            pos += 1 + length
        self._pos = pos
        return memoryview(buf)[start:pos]
