"""Packets: a 3-byte little-endian payload length and a 1-byte sequence id before each payload
(MySQL "Client/Server Protocol", "MySQL Packets"). A payload of 0xFFFFFF bytes or more is sent
as packets of 0xFFFFFF bytes each followed by the rest, which may be empty; their sequence ids
count on by one (mod 256). :class:`PacketReader` joins them back into one :class:`Packet` and
checks the cap before it buffers a byte past it; :func:`encode_packet` splits."""

from __future__ import annotations

from typing import Final, NamedTuple

from gateway.mysql.wire.constants import MAX_PACKET
from gateway.mysql.wire.errors import OutOfSequence, PacketTooLarge

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "NEED_DATA",
    "NeedData",
    "Packet",
    "PacketReader",
    "encode_packet",
]

DEFAULT_MAX_PAYLOAD = 64 * 1024 * 1024  # a logical payload past this closes the connection


class NeedData:
    """More bytes are needed before the next packet is whole."""

    _instance: NeedData | None = None

    def __new__(cls) -> NeedData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()


class Packet(NamedTuple):
    """One logical payload: ``seq`` is the sequence id of its first wire packet, ``parts`` how
    many wire packets carried it (the next sequence id is ``(seq + parts) % 256``). A named
    tuple, immutable like a frozen dataclass: made for every packet relayed, it costs a
    fraction of one."""

    seq: int
    payload: bytes
    parts: int = 1

    @property
    def next_seq(self) -> int:
        return (self.seq + self.parts) % 256


class PacketReader:
    """Sans-IO: ``receive_data(bytes)``, then ``next_packet()`` until it says NEED_DATA."""

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        # What was received: the last read itself (bytes, sliced without a second copy) when
        # nothing was left over before it, else a bytearray the reads are appended to.
        self._buf: bytes | bytearray = b""
        self._pos = 0

    def receive_data(self, data: bytes) -> None:
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            self._buf, self._pos = data, 0
            return
        if isinstance(buf, bytes):
            buf = bytearray(buf[pos:])
            self._pos = 0
        elif pos > 65536:  # drop what was handed out, now and then
            del buf[:pos]
            self._pos = 0
        buf += data
        self._buf = buf

    def pending_bytes(self) -> int:
        """Bytes received and not yet handed out as a packet."""
        return len(self._buf) - self._pos

    def mark(self) -> int:
        """Where the next packet starts: ``since(mark)`` gives the wire bytes handed out from
        there on, valid until the next ``receive_data``."""
        return self._pos

    def since(self, mark: int, end: int | None = None) -> bytes:
        """The wire bytes (headers included) of the packets handed out since ``mark`` (up to
        the mark ``end``)."""
        return bytes(self._buf[mark : self._pos if end is None else end])

    def take_pending(self) -> bytes:
        """The bytes received and not handed out (a relay that stops parsing takes them)."""
        rest = bytes(self._buf[self._pos :])
        self._buf, self._pos = b"", 0
        return rest

    def next_packet(self) -> Packet | NeedData:
        """The next whole logical payload, or NEED_DATA; PacketTooLarge past the cap,
        OutOfSequence when a continuation's sequence id does not follow its predecessor's."""
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 4:
            return NEED_DATA
        length = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
        if length < MAX_PACKET:  # the common case: one wire packet
            if length > self.max_payload:
                raise PacketTooLarge(f"a packet of more than {self.max_payload} bytes")
            end = pos + 4 + length
            if end > len(buf):
                return NEED_DATA
            payload = buf[pos + 4 : end]
            self._pos = end
            return Packet(buf[pos + 3], payload if isinstance(payload, bytes) else bytes(payload))
        return self._continued(buf, pos)

    def _continued(self, buf: bytes | bytearray, pos: int) -> Packet | NeedData:
        """A payload of 0xFFFFFF bytes or more, in several wire packets."""
        total, count, first_seq, parts = 0, 0, -1, []
        while True:
            if len(buf) - pos < 4:
                return NEED_DATA
            length = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
            seq = buf[pos + 3]
            if first_seq < 0:
                first_seq = seq
            elif seq != (first_seq + count) % 256:
                raise OutOfSequence(
                    f"a continuation packet has sequence id {seq}, not {(first_seq + count) % 256}"
                )
            total += length
            if total > self.max_payload:
                raise PacketTooLarge(f"a packet of more than {self.max_payload} bytes")
            if len(buf) - pos - 4 < length:
                return NEED_DATA
            parts.append((pos + 4, pos + 4 + length))
            pos += 4 + length
            count += 1
            if length < MAX_PACKET:
                break
        self._pos = pos
        return Packet(first_seq, b"".join(bytes(buf[s:e]) for s, e in parts), count)


def encode_packet(payload: bytes, seq: int) -> bytes:
    """``payload`` as wire packets from sequence id ``seq`` on (split at 0xFFFFFF bytes; a
    payload that is an exact multiple of it ends with an empty packet)."""
    size = len(payload)
    if size < MAX_PACKET:
        return bytes((size & 0xFF, size >> 8 & 0xFF, size >> 16, seq % 256)) + payload
    out = bytearray()
    pos = 0
    while True:
        chunk = payload[pos : pos + MAX_PACKET]
        n = len(chunk)
        out += bytes((n & 0xFF, n >> 8 & 0xFF, n >> 16, seq % 256)) + chunk
        seq += 1
        pos += n
        if n < MAX_PACKET:
            return bytes(out)


def packet_count(size: int) -> int:
    """How many wire packets a payload of ``size`` bytes takes."""
    return size // MAX_PACKET + 1
