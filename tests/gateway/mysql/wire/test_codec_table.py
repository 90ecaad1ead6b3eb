"""Encode and decode every message of the case table, whole and one byte at a time through
the packet reader (MySQL "Client/Server Protocol": the bytes each case lists are the spec's
layout of that packet)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.mysql import wire as my

C = my.Capability
CAPS = int(C.PROTOCOL_41 | C.DEPRECATE_EOF | C.SECURE_CONNECTION | C.PLUGIN_AUTH)
TRACK = CAPS | C.SESSION_TRACK
LENENC = CAPS | C.PLUGIN_AUTH_LENENC_CLIENT_DATA | C.CONNECT_WITH_DB | C.CONNECT_ATTRS


@dataclass(frozen=True)
class Case:
    id: str
    message: Any
    payload: bytes
    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]


def _ok(caps: int) -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    return (lambda p: my.Ok.decode(p, caps)), (lambda m: m.encode(caps))


def _plain(cls: Any) -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    return cls.decode, (lambda m: m.encode())


CASES = [
    Case("ok", my.Ok(1, 7, 2, 0), b"\x00\x01\x07\x02\x00\x00\x00", *_ok(CAPS)),
    Case(
        "ok-info", my.Ok(0, 0, 2, 1, b"Rows matched: 1"),
        b"\x00\x00\x00\x02\x00\x01\x00Rows matched: 1", *_ok(CAPS),
    ),
    Case(
        "ok-tracked", my.Ok(0, 0, 0x4002, 0, b"", b"\x01\x03\x02db"),
        b"\x00\x00\x00\x02\x40\x00\x00\x00\x05\x01\x03\x02db", *_ok(TRACK),
    ),
    Case("ok-eof", my.Ok(header=0xFE), b"\xfe\x00\x00\x02\x00\x00\x00", *_ok(CAPS)),
    Case(
        "err", my.Err(1227, "42000", "denied"), b"\xff\xcb\x04#42000denied", *_plain(my.Err)
    ),
    Case("eof", my.Eof(1, 0x0A), b"\xfe\x01\x00\x0a\x00", *_plain(my.Eof)),
    Case(
        "column",
        my.ColumnDefinition(b"db", b"t", b"t0", b"n", b"name", 45, 160, 253, 0, 0),
        b"\x03def\x02db\x01t\x02t0\x01n\x04name\x0c\x2d\x00\xa0\x00\x00\x00\xfd\x00\x00\x00\x00\x00",
        *_plain(my.ColumnDefinition),
    ),
    Case(
        "handshake",
        my.Handshake(b"5.7.99-Airlock", 7, b"abcdefgh" + b"ijklmnopqrst", CAPS, 45, 2,
                     b"caching_sha2_password"),
        b"\x0a5.7.99-Airlock\x00\x07\x00\x00\x00abcdefgh\x00"
        + (CAPS & 0xFFFF).to_bytes(2, "little") + b"\x2d\x02\x00"
        + (CAPS >> 16).to_bytes(2, "little") + b"\x15" + b"\x00" * 10
        + b"ijklmnopqrst\x00caching_sha2_password\x00",
        *_plain(my.Handshake),
    ),
    Case(
        "response",
        my.HandshakeResponse(LENENC, 1 << 24, 45, b"alice", b"tok", b"my-app",
                             b"mysql_clear_password", {b"_client_name": b"x"}),
        LENENC.to_bytes(4, "little") + b"\x00\x00\x00\x01\x2d" + b"\x00" * 23
        + b"alice\x00\x03tok" + b"my-app\x00mysql_clear_password\x00"
        + b"\x0f\x0c_client_name\x01x",
        *_plain(my.HandshakeResponse),
    ),
    Case(
        "auth-switch", my.AuthSwitchRequest(b"mysql_clear_password", b""),
        b"\xfemysql_clear_password\x00", *_plain(my.AuthSwitchRequest),
    ),
    Case("auth-more", my.AuthMoreData(b"\x04"), b"\x01\x04", *_plain(my.AuthMoreData)),
]  # fmt: skip
ids = [case.id for case in CASES]
TRAILER = b"\x05\x00\x00"  # the start of a next packet, kept in the reader


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_encode(case: Case) -> None:
    """encode() produces exactly the payload the protocol documentation lays out."""
    assert case.encode(case.message) == case.payload


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_decode(case: Case) -> None:
    """decode() reads the payload back into the case."""
    assert case.decode(case.payload) == case.message


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_packet_byte_at_a_time(case: Case) -> None:
    """Fed one byte at a time, the reader says NEED_DATA until the packet is whole; the
    next packet's bytes are kept."""
    reader = my.PacketReader()
    wire = my.encode_packet(case.payload, 3)
    for byte in wire[:-1]:
        reader.receive_data(bytes([byte]))
        assert reader.next_packet() is my.NEED_DATA
    reader.receive_data(wire[-1:] + TRAILER)
    packet = reader.next_packet()
    assert isinstance(packet, my.Packet)
    assert (packet.seq, packet.payload, packet.next_seq) == (3, case.payload, 4)
    assert case.decode(packet.payload) == case.message
    assert reader.pending_bytes() == len(TRAILER)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_truncated_payload_is_malformed(case: Case) -> None:
    """A payload cut short is MalformedPacket (never IndexError), or decodes to less. (A
    greeting whose last NUL is missing is read whole: servers with MySQL bug #59453 omit it.)"""
    for cut in range(1, len(case.payload)):
        if case.id == "handshake" and cut == len(case.payload) - 1:
            continue
        try:
            decoded = case.decode(case.payload[:cut])
        except my.MalformedPacket:
            continue
        assert decoded != case.message


def test_sixteen_megabyte_split() -> None:
    """A payload of 0xFFFFFF bytes or more is split, with an empty last packet for an exact
    multiple; the reader joins them and counts the sequence ids on."""
    for size in (my.MAX_PACKET - 1, my.MAX_PACKET, my.MAX_PACKET + 5):
        payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        wire = my.encode_packet(payload, 255)
        reader = my.PacketReader()
        reader.receive_data(wire)
        packet = reader.next_packet()
        assert isinstance(packet, my.Packet)
        assert packet.payload == payload
        assert packet.parts == my.packet_count(size)
        assert packet.next_seq == (255 + packet.parts) % 256


def test_continuation_out_of_sequence() -> None:
    """A continuation packet whose sequence id does not follow is OutOfSequence."""
    first = b"\xff\xff\xff\x00" + b"a" * my.MAX_PACKET
    reader = my.PacketReader()
    reader.receive_data(first + b"\x01\x00\x00\x05b")
    with pytest.raises(my.OutOfSequence):
        reader.next_packet()


def test_cap_is_checked_before_buffering() -> None:
    """A header announcing more than the cap is refused before its payload arrives."""
    reader = my.PacketReader(max_payload=1000)
    reader.receive_data(b"\xe9\x03\x00\x00")
    with pytest.raises(my.PacketTooLarge):
        reader.next_packet()


def test_scrambles() -> None:
    """mysql_native_password and caching_sha2_password scramble as the servers check (values
    computed with PyMySQL's reference implementation)."""
    from pymysql import _auth

    salt = b"abcdefghijklmnopqrst"
    assert my.scramble_native(b"secret", salt) == _auth.scramble_native_password(b"secret", salt)
    assert my.scramble_caching_sha2(b"secret", salt) == _auth.scramble_caching_sha2(b"secret", salt)
    assert my.scramble_native(b"", salt) == b""
