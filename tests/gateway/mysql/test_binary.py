"""Binary resultset rows and binary values (MySQL "Binary Protocol Resultset Row", "Binary
Protocol Value"): one table of cases for encode and decode, every truncation, the text forms,
and Hypothesis over random bytes and random values."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.mysql.wire import EncodeError, MalformedPacket, Reader
from gateway.mysql.wire.binary import (
    FIXED_SIZES,
    LENENC_TYPES,
    TEMPORAL_SIZES,
    decode_row,
    encode_row,
    from_text,
    read_null_bitmap,
    read_value,
    to_text,
    write_null_bitmap,
    write_value,
)
from gateway.mysql.wire.types import MASKED_COLUMN_TYPE, ColumnFlag, ColumnSpec, ColumnType

T = ColumnType
U = ColumnFlag.UNSIGNED

# (columns, raw values, the row payload): 0x00, the NULL bitmap (offset 2), the values.
ROWS: list[tuple[list[ColumnSpec], list[bytes | None], bytes]] = [
    ([], [], b"\x00\x00"),
    ([(T.TINY, 0)], [b"\x80"], b"\x00\x00\x80"),
    ([(T.TINY, 0)], [None], b"\x00\x04"),
    (
        [(T.LONGLONG, U), (T.VAR_STRING, 0)],
        [b"\xff" * 8, b"hi"],
        b"\x00\x00" + b"\xff" * 8 + b"\x02hi",
    ),
    (
        [(T.SHORT, 0), (T.YEAR, U), (T.LONG, 0), (T.INT24, 0)],
        [b"\x01\x00", b"\xe8\x07", None, b"\x07\x00\x00\x00"],
        b"\x00\x10\x01\x00\xe8\x07\x07\x00\x00\x00",
    ),
    (
        [(T.FLOAT, 0), (T.DOUBLE, 0)],
        [struct.pack("<f", 1.5), struct.pack("<d", -2.25)],
        b"\x00\x00" + struct.pack("<f", 1.5) + struct.pack("<d", -2.25),
    ),
    (
        [(T.DATE, 0), (T.DATETIME, 0), (T.TIMESTAMP, 0)],
        [b"", b"\xe8\x07\x01\x02", b"\xe8\x07\x01\x02\x03\x04\x05"],
        b"\x00\x00\x00\x04\xe8\x07\x01\x02\x07\xe8\x07\x01\x02\x03\x04\x05",
    ),
    (
        [(T.DATETIME, 0)],
        [b"\xe8\x07\x01\x02\x03\x04\x05\x40\xe2\x01\x00"],
        b"\x00\x00\x0b\xe8\x07\x01\x02\x03\x04\x05\x40\xe2\x01\x00",
    ),
    (
        [(T.TIME, 0), (T.TIME, 0), (T.TIME, 0)],
        [b"", b"\x01\x22\x00\x00\x00\x16\x3b\x3b", b"\x00" * 8 + b"\x01\x00\x00\x00"],
        b"\x00\x00\x00\x08\x01\x22\x00\x00\x00\x16\x3b\x3b\x0c" + b"\x00" * 8 + b"\x01\x00\x00\x00",
    ),
    (
        [(T.NEWDECIMAL, 0), (T.BLOB, 0), (T.BIT, U), (T.JSON, 0), (T.GEOMETRY, 0)],
        [b"-1.50", b"", b"\x02\xaa", b"{}", None],
        b"\x00\x40\x05-1.50\x00\x02\x02\xaa\x02{}",
    ),
    ([(T.NULL, 0), (T.STRING, 0)], [None, b"x" * 300], b"\x00\x04\xfc\x2c\x01" + b"x" * 300),
    ([(T.TINY, 0)] * 7, [None] * 7, b"\x00\xfc\x01"),
]


@pytest.mark.parametrize(("columns", "values", "payload"), ROWS)
def test_row_table(columns: list[ColumnSpec], values: list[bytes | None], payload: bytes) -> None:
    """Each row encodes to its bytes, decodes back, and every cut of it is MalformedPacket."""
    assert encode_row(values, columns) == payload
    assert decode_row(payload, columns) == tuple(values)
    for cut in range(len(payload)):
        with pytest.raises(MalformedPacket):
            decode_row(payload[:cut], columns)
    with pytest.raises(MalformedPacket):
        decode_row(payload + b"\x00", columns)


@pytest.mark.parametrize(
    ("payload", "columns"),
    [
        (b"\x01\x00\x01", [(T.TINY, 0)]),  # header 0x01
        (b"\x00\x01\x05", [(T.TINY, 0)]),  # a reserved bit set
        (b"\x00\x08\x05", [(T.TINY, 0)]),  # a bit past the last column set
        (b"\x00\x00", [(T.NULL, 0)]),  # a NULL-typed column marked not NULL
        (b"\x00\x00\x05", [(T.DATE, 0)]),  # a 5-byte date
        (b"\x00\x00\x04\x00\x00\x00\x00", [(T.TIME, 0)]),  # a 4-byte time
        (b"\x00\x00\xfb", [(T.VAR_STRING, 0)]),  # 0xFB as a length
        (b"\x00\x00\xff", [(T.BLOB, 0)]),  # 0xFF as a length
        (b"\x00\x00\x00", [(T.NEWDATE, 0)]),  # a type the server never sends
        (b"\x00\x00\x00", [(0x42, 0)]),  # no such type
    ],
)
def test_malformed_rows(payload: bytes, columns: list[ColumnSpec]) -> None:
    """Bytes that are no row of these columns are MalformedPacket."""
    with pytest.raises(MalformedPacket):
        decode_row(payload, columns)


def test_encode_refuses_what_the_wire_cannot_carry() -> None:
    """Wrong sizes, a value in a NULL-typed column, unknown types and a count mismatch fail."""
    cases: list[tuple[list[ColumnSpec], list[bytes | None]]] = [
        ([(T.LONG, 0)], [b"\x00"]),
        ([(T.DATE, 0)], [b"\x00" * 5]),
        ([(T.NULL, 0)], [b""]),
        ([(0x42, 0)], [b""]),
        ([(T.TINY, 0)], []),
    ]
    for columns, values in cases:
        with pytest.raises(EncodeError):
            encode_row(values, columns)


def test_null_bitmap_offsets() -> None:
    """Bitmaps size to (count + offset + 7) / 8 bytes and refuse stray bits."""
    assert write_null_bitmap([True] * 7, 2) == b"\xfc\x01"
    assert write_null_bitmap([True, False, True], 0) == b"\x05"
    assert write_null_bitmap([], 0) == b""
    assert read_null_bitmap(Reader(b"\x05"), 3, 0) == (True, False, True)
    with pytest.raises(MalformedPacket):
        read_null_bitmap(Reader(b"\x09"), 3, 0)


# (type, flags, raw, decimals, text): text forms measured on MariaDB 10.11's text protocol.
TEXTS: list[tuple[int, int, bytes, int | None, bytes]] = [
    (T.TINY, 0, b"\x80", None, b"-128"),
    (T.TINY, U, b"\x80", None, b"128"),
    (T.SHORT, 0, b"\x00\x80", None, b"-32768"),
    (T.INT24, 0, b"\x00\x00\x80\xff", None, b"-8388608"),
    (T.INT24, U, b"\xff\xff\xff\x00", None, b"16777215"),
    (T.LONG, U, b"\xff\xff\xff\xff", None, b"4294967295"),
    (T.LONGLONG, 0, b"\x00" * 7 + b"\x80", None, b"-9223372036854775808"),
    (T.LONGLONG, U, b"\xff" * 8, None, b"18446744073709551615"),
    (T.YEAR, U, b"\x00\x00", None, b"0000"),
    (T.YEAR, U, b"\xe8\x07", None, b"2024"),
    (T.DATE, 0, b"", None, b"0000-00-00"),
    (T.DATE, 0, b"\xe8\x07\x02\x1d", None, b"2024-02-29"),
    (T.DATETIME, 0, b"", 0, b"0000-00-00 00:00:00"),
    (T.DATETIME, 0, b"\xe8\x07\x01\x02", 3, b"2024-01-02 00:00:00.000"),
    (T.DATETIME, 0, b"\xe8\x07\x01\x02\x03\x04\x05\xc0\xd4\x01\x00", 3, b"2024-01-02 03:04:05.120"),
    (T.TIMESTAMP, 0, b"\xf6\x07\x01\x13\x03\x0e\x07?B\x0f\x00", 6, b"2038-01-19 03:14:07.999999"),
    (
        T.TIMESTAMP,
        0,
        b"\xf6\x07\x01\x13\x03\x0e\x07?B\x0f\x00",
        None,
        b"2038-01-19 03:14:07.999999",
    ),
    (T.TIME, 0, b"", 0, b"00:00:00"),
    (T.TIME, 0, b'\x01"\x00\x00\x00\x16;;', 0, b"-838:59:59"),
    (T.TIME, 0, b'\x00\x00\x00\x00\x00\x0c"8\xe0\xe6\x0b\x00', 2, b"12:34:56.78"),
    (T.TIME, 0, b"\x01\x00\x00\x00\x00\x00\x00\x01 \xa1\x07\x00", 2, b"-00:00:01.50"),
    (T.NEWDECIMAL, 0, b"-12345678901234.123456", 6, b"-12345678901234.123456"),
    (T.BIT, U, b"\x02\xaa", 0, b"\x02\xaa"),
    (T.VAR_STRING, 0, b"a\x00b", 0, b"a\x00b"),
]


@pytest.mark.parametrize(("type_code", "flags", "raw", "decimals", "text"), TEXTS)
def test_text_table(
    type_code: int, flags: int, raw: bytes, decimals: int | None, text: bytes
) -> None:
    """A raw value renders as the text protocol sends it, and that text parses back to it."""
    assert to_text(type_code, flags, raw, decimals=decimals) == text
    assert from_text(type_code, flags, text) == raw


# Doubles and floats as MariaDB 10.11 prints them (measured with the mysql client).
FLOATS: list[tuple[int, float, int | None, bytes]] = [
    (T.DOUBLE, 0.30000000000000004, None, b"0.30000000000000004"),
    (T.DOUBLE, 1e20, None, b"1e20"),
    (T.DOUBLE, 1e15, None, b"1e15"),
    (T.DOUBLE, 123456789012345.0, None, b"123456789012345"),
    (T.DOUBLE, 1.2345678901234567e19, None, b"1.2345678901234567e19"),
    (T.DOUBLE, 1e-15, None, b"0.000000000000001"),
    (T.DOUBLE, 1e-16, None, b"1e-16"),
    (T.DOUBLE, 1.2345e-16, None, b"1.2345e-16"),
    (T.DOUBLE, 2.5e-308, None, b"2.5e-308"),
    (T.DOUBLE, -1.5, None, b"-1.5"),
    (T.DOUBLE, 0.0, None, b"0"),
    (T.DOUBLE, 3.14159, 2, b"3.14"),
    (T.FLOAT, 1.1, 31, b"1.1"),
    (T.FLOAT, 1234567.0, None, b"1234570"),
    (T.FLOAT, 3.4028234e38, None, b"3.40282e38"),
    (T.FLOAT, 1.17549435e-38, None, b"1.17549e-38"),
    (T.FLOAT, 1e-38, None, b"1e-38"),
    (T.FLOAT, 0.000012345, None, b"0.000012345"),
    (T.FLOAT, 1.1, 4, b"1.1000"),
]


@pytest.mark.parametrize(("type_code", "value", "decimals", "text"), FLOATS)
def test_float_text(type_code: int, value: float, decimals: int | None, text: bytes) -> None:
    """FLOAT and DOUBLE render as MariaDB's my_gcvt does."""
    raw = struct.pack("<d" if type_code == T.DOUBLE else "<f", value)
    assert to_text(type_code, 0, raw, decimals=decimals) == text


@pytest.mark.parametrize(
    ("type_code", "flags", "text"),
    [
        (T.TINY, 0, b"128"),
        (T.TINY, U, b"-1"),
        (T.INT24, 0, b"8388608"),
        (T.LONG, 0, b"1_000"),
        (T.LONG, 0, b"0x10"),
        (T.DOUBLE, 0, b"nan"),
        (T.FLOAT, 0, b"1e39"),
        (T.NEWDECIMAL, 0, b"1.2.3"),
        (T.DATE, 0, b"2024-13-01"),
        (T.DATE, 0, b"2024-01-01 10:00:00"),
        (T.DATETIME, 0, b"2024-01-01 24:00:00"),
        (T.TIME, 0, b"10:60:00"),
        (T.TIME, 0, b"ten o'clock"),
        (T.NULL, 0, b""),
    ],
)
def test_from_text_refuses_foreign_text(type_code: int, flags: int, text: bytes) -> None:
    """A text that is no value of the type is EncodeError (the listener then re-types)."""
    with pytest.raises(EncodeError):
        from_text(type_code, flags, text)


def test_masked_column_type_carries_any_text() -> None:
    """The re-typing target is VAR_STRING, whose raw value is the text itself."""
    assert MASKED_COLUMN_TYPE == T.VAR_STRING
    assert from_text(MASKED_COLUMN_TYPE, 0, b"****1881") == b"****1881"
    assert decode_row(encode_row([b"****"], [(MASKED_COLUMN_TYPE, 0)]), [(MASKED_COLUMN_TYPE, 0)])


def test_to_text_refuses_wrong_sizes() -> None:
    """A raw value of the wrong size for its type is MalformedPacket, never struct.error."""
    for type_code, raw in [
        (T.LONG, b"\x00"),
        (T.DOUBLE, b""),
        (T.DATE, b"\x00"),
        (T.TIME, b"\x00"),
    ]:
        with pytest.raises(MalformedPacket):
            to_text(type_code, 0, raw)
    with pytest.raises(MalformedPacket):
        to_text(T.TIME, 0, b"\x02" + bytes(7))
    with pytest.raises(MalformedPacket):
        to_text(T.NULL, 0, b"")


READABLE = sorted(set(FIXED_SIZES) | set(TEMPORAL_SIZES) | set(LENENC_TYPES))
SPECS = st.tuples(st.sampled_from([*READABLE, T.NEWDATE, 0x42]), st.sampled_from([0, int(U)]))


@given(st.lists(SPECS, max_size=12), st.binary(max_size=80))
def test_random_bytes_raise_only_malformed(columns: list[ColumnSpec], payload: bytes) -> None:
    """Random bytes decode or raise MalformedPacket; what decodes re-encodes to the same row."""
    try:
        row = decode_row(b"\x00" + payload, columns)
    except MalformedPacket:
        return
    assert decode_row(encode_row(row, columns), columns) == row


def _value(type_code: int) -> st.SearchStrategy[bytes]:
    """Random raw values of ``type_code`` in canonical form (shortest temporal values, INT24
    within its three bytes, as the server sends them)."""
    if type_code == T.INT24:
        return st.integers(-(1 << 23), (1 << 23) - 1).map(
            lambda v: v.to_bytes(4, "little", signed=True)
        )
    if type_code in FIXED_SIZES:
        return st.binary(min_size=FIXED_SIZES[type_code], max_size=FIXED_SIZES[type_code])
    if type_code == T.TIME:
        return st.builds(
            lambda neg, days, h, m, s, us: from_text(
                T.TIME, 0, b"%s%d:%02d:%02d.%06d" % (b"-" if neg else b"", days * 24 + h, m, s, us)
            ),
            st.booleans(),
            st.integers(0, 34),
            st.integers(0, 23),
            st.integers(0, 59),
            st.integers(0, 59),
            st.integers(0, 999_999),
        )
    if type_code in TEMPORAL_SIZES:
        return st.builds(
            lambda y, mo, d, h, mi, s, us: from_text(
                T.DATETIME, 0, b"%04d-%02d-%02d %02d:%02d:%02d.%06d" % (y, mo, d, h, mi, s, us)
            ),
            st.integers(0, 9999),
            st.integers(0, 12),
            st.integers(0, 31),
            st.integers(0, 23),
            st.integers(0, 59),
            st.integers(0, 59),
            st.integers(0, 999_999),
        )
    return st.binary(max_size=300)


@st.composite
def _rows(draw: st.DrawFn) -> tuple[list[ColumnSpec], list[bytes | None]]:
    types = draw(st.lists(st.sampled_from(sorted(set(READABLE) - {T.NULL, T.DATE})), max_size=10))
    columns = [(t, draw(st.sampled_from([0, int(U)]))) for t in types]
    values = [draw(st.none() | _value(t)) for t in types]
    return columns, values


@given(_rows())
def test_random_values_round_trip(row: tuple[list[ColumnSpec], list[bytes | None]]) -> None:
    """Any row of valid raw values survives encode and decode."""
    columns, values = row
    assert decode_row(encode_row(values, columns), columns) == tuple(values)


@given(
    st.sampled_from(
        sorted(set(READABLE) - {T.NULL, T.FLOAT, T.DECIMAL, T.NEWDECIMAL, T.DATE})
    ).flatmap(lambda t: st.tuples(st.just(t), st.sampled_from([0, int(U)]), _value(t)))
)
def test_text_round_trip(case: tuple[int, int, bytes]) -> None:
    """A canonical raw value's text parses back to it (FLOAT's six digits are lossy)."""
    type_code, flags, raw = case
    if type_code == T.INT24 and flags:
        raw = raw[:3] + b"\x00"  # an unsigned MEDIUMINT: 0 .. 2**24 - 1
    if type_code == T.DOUBLE and struct.unpack("<d", raw)[0] != struct.unpack("<d", raw)[0]:
        return  # NaN has no text form a column could hold
    if type_code == T.DOUBLE and abs(struct.unpack("<d", raw)[0]) == float("inf"):
        return
    assert from_text(type_code, flags, to_text(type_code, flags, raw)) == raw


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float_text_is_stable(value: float) -> None:
    """A FLOAT's six-digit text parses to a FLOAT whose text is the same."""
    text = to_text(T.FLOAT, 0, struct.pack("<f", value))
    assert to_text(T.FLOAT, 0, from_text(T.FLOAT, 0, text)) == text


def test_read_and_write_value_agree() -> None:
    """read_value consumes exactly what write_value wrote, for each kind of type."""
    for type_code, raw in [
        (T.NULL, b""),
        (T.LONG, b"\x01\x02\x03\x04"),
        (T.TIME, b""),
        (T.ENUM, b"b"),
    ]:
        reader = Reader(write_value(type_code, raw) + b"tail")
        assert read_value(reader, type_code) == raw
        assert reader.rest() == b"tail"


ANY_TYPE = st.sampled_from([*READABLE, T.NEWDATE, 0x42])


@given(
    ANY_TYPE, st.sampled_from([0, int(U)]), st.binary(max_size=16), st.none() | st.integers(0, 255)
)
def test_to_text_raises_only_malformed(
    type_code: int, flags: int, raw: bytes, decimals: int | None
) -> None:
    """Whatever the raw bytes and decimals, to_text renders or raises MalformedPacket."""
    with contextlib.suppress(MalformedPacket):
        assert isinstance(to_text(type_code, flags, raw, decimals=decimals), bytes)


TEXTISH = st.one_of(
    st.binary(max_size=30),
    st.from_regex(rb"\A-?[0-9]{1,20}(\.[0-9]{0,8})?(e-?[0-9]{1,4})?\Z"),
    st.from_regex(rb"\A[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?)?\Z"),
    st.from_regex(rb"\A-?[0-9]{1,9}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?\Z"),
)


@given(ANY_TYPE, st.sampled_from([0, int(U)]), TEXTISH)
def test_from_text_raises_only_encode_error(type_code: int, flags: int, text: bytes) -> None:
    """Any text gives a raw value the wire accepts, or raises EncodeError."""
    try:
        raw = from_text(type_code, flags, text)
    except EncodeError:
        return
    assert read_value(Reader(write_value(type_code, raw)), type_code) == raw
