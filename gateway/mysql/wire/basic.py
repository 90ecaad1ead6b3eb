"""The protocol's basic data types (MySQL "Client/Server Protocol", "Basic Data Types"):
fixed-length little-endian integers, length-encoded integers and strings, NUL-terminated and
rest-of-packet strings. ``Reader`` walks one payload and raises ``MalformedPacket`` when a field
runs past its end; the ``write_*`` functions build payloads."""

from __future__ import annotations

from gateway.mysql.wire.errors import EncodeError, MalformedPacket

__all__ = [
    "NULL_COLUMN",
    "Reader",
    "write_int",
    "write_lenenc_bytes",
    "write_lenenc_int",
]

NULL_COLUMN = 0xFB  # a NULL column value in a text resultset row ("Text Resultset Row")


class Reader:
    """A cursor over one packet payload; every read checks its bounds."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes | bytearray | memoryview, pos: int = 0) -> None:
        self.data = bytes(data)
        self.pos = pos

    def remaining(self) -> int:
        """How many bytes are left."""
        return len(self.data) - self.pos

    def at_end(self) -> bool:
        """True when the whole payload was read."""
        return self.pos >= len(self.data)

    def expect_end(self, what: str) -> None:
        """Raise MalformedPacket when bytes are left after the last field of ``what``."""
        if not self.at_end():
            raise MalformedPacket(f"{self.remaining()} trailing bytes after {what}")

    def peek(self) -> int:
        """The next byte, not consumed."""
        if self.pos >= len(self.data):
            raise MalformedPacket("a field runs past the end of the packet")
        return self.data[self.pos]

    def fixed(self, n: int) -> bytes:
        """``n`` bytes (``string<fix>``)."""
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise MalformedPacket(f"a {n}-byte field runs past the end of the packet")
        value = self.data[self.pos : end]
        self.pos = end
        return value

    def uint(self, n: int) -> int:
        """A little-endian unsigned integer of ``n`` bytes (``int<1..8>``)."""
        return int.from_bytes(self.fixed(n), "little")

    def lenenc_int(self) -> int | None:
        """A length-encoded integer (``int<lenenc>``); None for 0xFB, the NULL of text rows.
        0xFF is never a valid first byte (it starts an ERR packet)."""
        first = self.uint(1)
        if first < 0xFB:
            return first
        if first == 0xFC:
            return self.uint(2)
        if first == 0xFD:
            return self.uint(3)
        if first == 0xFE:
            return self.uint(8)
        if first == NULL_COLUMN:
            return None
        raise MalformedPacket("0xff is not a length-encoded integer")

    def lenenc_bytes(self) -> bytes | None:
        """A length-encoded string (``string<lenenc>``); None for the NULL marker 0xFB."""
        length = self.lenenc_int()
        if length is None:
            return None
        return self.fixed(length)

    def nul_bytes(self) -> bytes:
        """A NUL-terminated string (``string<NUL>``), without its NUL."""
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise MalformedPacket("a NUL-terminated string has no NUL")
        value = self.data[self.pos : end]
        self.pos = end + 1
        return value

    def rest(self) -> bytes:
        """The rest of the payload (``string<EOF>``)."""
        value = self.data[self.pos :]
        self.pos = len(self.data)
        return value


def write_int(value: int, n: int) -> bytes:
    """``value`` as a little-endian unsigned integer of ``n`` bytes."""
    if value < 0 or value >= 1 << (8 * n):
        raise EncodeError(f"{value} does not fit in {n} bytes")
    return value.to_bytes(n, "little")


def write_lenenc_int(value: int) -> bytes:
    """``value`` as a length-encoded integer, in its shortest form."""
    if value < 0 or value >= 1 << 64:
        raise EncodeError(f"{value} is not a length-encoded integer")
    if value < 0xFB:
        return bytes((value,))
    if value < 1 << 16:
        return b"\xfc" + value.to_bytes(2, "little")
    if value < 1 << 24:
        return b"\xfd" + value.to_bytes(3, "little")
    return b"\xfe" + value.to_bytes(8, "little")


def write_lenenc_bytes(value: bytes | None) -> bytes:
    """``value`` as a length-encoded string; None as the NULL marker 0xFB of text rows."""
    if value is None:
        return bytes((NULL_COLUMN,))
    return write_lenenc_int(len(value)) + value
