"""The MySQL basic data types (MySQL "Client/Server Protocol", "Basic Data Types")."""

from __future__ import annotations

import pymysql
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.mysql.wire import (
    EncodeError,
    MalformedPacket,
    Reader,
    write_int,
    write_lenenc_bytes,
    write_lenenc_int,
)
from tests.conftest import maria_admin

LENENC = [
    (0, b"\x00"),
    (250, b"\xfa"),
    (251, b"\xfc\xfb\x00"),
    (0xFFFF, b"\xfc\xff\xff"),
    (0x10000, b"\xfd\x00\x00\x01"),
    (0xFFFFFF, b"\xfd\xff\xff\xff"),
    (0x1000000, b"\xfe\x00\x00\x00\x01\x00\x00\x00\x00"),
]


@pytest.mark.parametrize(("value", "wire"), LENENC)
def test_lenenc_int_table(value: int, wire: bytes) -> None:
    """A length-encoded integer is written in its shortest form and read back."""
    assert write_lenenc_int(value) == wire
    reader = Reader(wire + b"tail")
    assert reader.lenenc_int() == value
    assert reader.rest() == b"tail"


@pytest.mark.parametrize(("value", "wire"), LENENC[1:])
def test_truncated_lenenc_int_is_malformed(value: int, wire: bytes) -> None:
    """A length-encoded integer cut anywhere is MalformedPacket, never an IndexError."""
    for cut in range(len(wire)):
        with pytest.raises(MalformedPacket):
            Reader(wire[:cut]).lenenc_int()


def test_null_and_ff() -> None:
    """0xFB is the NULL of text rows; 0xFF is no length-encoded integer."""
    assert Reader(b"\xfb").lenenc_bytes() is None
    assert write_lenenc_bytes(None) == b"\xfb"
    with pytest.raises(MalformedPacket):
        Reader(b"\xff").lenenc_int()


def test_strings_and_bounds() -> None:
    """NUL strings need their NUL; fixed fields and integers check their bounds."""
    reader = Reader(b"abc\0" + write_lenenc_bytes(b"xy") + write_int(7, 3))
    assert reader.nul_bytes() == b"abc"
    assert reader.lenenc_bytes() == b"xy"
    assert reader.uint(3) == 7
    reader.expect_end("the test payload")
    with pytest.raises(MalformedPacket):
        Reader(b"abc").nul_bytes()
    with pytest.raises(MalformedPacket):
        Reader(b"\x05ab").lenenc_bytes()
    with pytest.raises(MalformedPacket):
        Reader(b"x").expect_end("nothing")
    with pytest.raises(EncodeError):
        write_int(256, 1)
    with pytest.raises(EncodeError):
        write_lenenc_int(-1)


@given(st.binary(max_size=64))
def test_random_bytes_raise_only_malformed(data: bytes) -> None:
    """Whatever the bytes, a read returns or raises MalformedPacket."""
    reader = Reader(data)
    try:
        while not reader.at_end():
            reader.lenenc_bytes()
    except MalformedPacket:
        pass


@given(st.binary(max_size=300))
def test_lenenc_bytes_round_trip(value: bytes) -> None:
    """Any string survives a round trip."""
    assert Reader(write_lenenc_bytes(value)).lenenc_bytes() == value


def test_maria_fixture_reaches_a_fresh_database(maria_database: str) -> None:
    """The shared fixture gives each test its own empty MariaDB database."""
    admin = maria_admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s",
                (maria_database,),
            )
            assert cursor.fetchone() == (0,)
    finally:
        admin.close()
    assert isinstance(admin, pymysql.connections.Connection)
