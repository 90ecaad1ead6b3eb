"""Binary resultset rows and binary values (MySQL "Client/Server Protocol", "Binary Protocol
Resultset Row" and "Binary Protocol Value"; MariaDB "Binary Resultset Row" and "Binary
Parameter Encoding", which are the same bytes).

A column or parameter is described by ``(type code, flags)`` (:data:`ColumnSpec`, codes from
:mod:`gateway.mysql.wire.types`). A value is carried as its *raw* bytes: the value's own bytes
without any length prefix, so that one raw form serves rows, parameters and text rendering:

- TINY 1, SHORT and YEAR 2, LONG and INT24 4, LONGLONG 8 bytes (little-endian, two's
  complement; the UNSIGNED flag decides how they read), FLOAT 4 and DOUBLE 8 bytes (IEEE 754);
- DATE, DATETIME, TIMESTAMP: the 0, 4, 7 or 11 bytes after the length byte (year<2>, month,
  day, hour, minute, second, microsecond<4>; shorter forms mean zero for the rest);
- TIME: the 0, 8 or 12 bytes after the length byte (is_negative, days<4>, hour, minute,
  second, microsecond<4>);
- every other type (DECIMAL, NEWDECIMAL, the strings and blobs, JSON, ENUM, SET, GEOMETRY,
  BIT, VARCHAR, VECTOR): the contents of the length-encoded string;
- NULL (a parameter bound to the NULL type): no bytes.

API:

- :func:`decode_row` / :func:`encode_row`: one binary resultset row payload (the 0x00 header,
  the NULL bitmap with its offset of 2, the non-NULL values) to and from a tuple of raw values,
  None for NULL. Every malformed payload raises :class:`MalformedPacket`.
- :func:`read_value` / :func:`write_value`: one value (used for COM_STMT_EXECUTE parameters).
- :func:`read_null_bitmap` / :func:`write_null_bitmap`: a NULL bitmap with a bit offset
  (2 in rows, 0 in COM_STMT_EXECUTE). Unused bits must be zero.
- :func:`to_text` and :func:`from_text` (from :mod:`gateway.mysql.wire.textform`): a raw value
  as the text protocol would send it, and back.

Types the server never sends (NEWDATE, TIMESTAMP2, DATETIME2, TIME2, TYPED_ARRAY, BOOL,
INVALID) and undefined type codes cannot be read: decoding raises MalformedPacket, encoding
raises EncodeError (fail closed: a value the codec cannot delimit cannot be inspected)."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.mysql.wire.basic import Reader, write_lenenc_int
from gateway.mysql.wire.errors import EncodeError, MalformedPacket
from gateway.mysql.wire.textform import from_text, to_text
from gateway.mysql.wire.types import (
    FIXED_SIZES,
    LENENC_TYPES,
    TEMPORAL_SIZES,
    ColumnSpec,
    ColumnType,
)

__all__ = [
    "FIXED_SIZES",
    "LENENC_TYPES",
    "ROW_HEADER",
    "TEMPORAL_SIZES",
    "BinaryRow",
    "decode_row",
    "encode_row",
    "from_text",
    "read_null_bitmap",
    "read_value",
    "to_text",
    "write_null_bitmap",
    "write_value",
]

ROW_HEADER = 0x00  # the first byte of a binary resultset row ("Binary Protocol Resultset Row")
ROW_BITMAP_OFFSET = 2  # the two first bits of a row's NULL bitmap are reserved

# A decoded row: the raw value of each column, None for NULL.
BinaryRow = tuple[bytes | None, ...]

T = ColumnType


def read_value(reader: Reader, type_code: int) -> bytes:
    """Read one binary value of ``type_code`` and return its raw bytes."""
    size = FIXED_SIZES.get(type_code)
    if size is not None:
        return reader.fixed(size)
    sizes = TEMPORAL_SIZES.get(type_code)
    if sizes is not None:
        length = reader.uint(1)
        if length not in sizes:
            raise MalformedPacket(f"a {length}-byte value of type {type_code:#04x}")
        return reader.fixed(length)
    if type_code in LENENC_TYPES:
        value = reader.lenenc_bytes()
        if value is None:  # 0xFB: NULLs of binary rows live in the bitmap, never inline
            raise MalformedPacket("0xfb as the length of a binary value")
        return value
    raise MalformedPacket(f"no binary value has the type {type_code:#04x}")


def write_value(type_code: int, raw: bytes) -> bytes:
    """The wire bytes of the raw value ``raw`` of ``type_code`` (the inverse of read_value)."""
    size = FIXED_SIZES.get(type_code)
    if size is not None:
        if len(raw) != size:
            raise EncodeError(f"a value of type {type_code:#04x} has {size} bytes, not {len(raw)}")
        return raw
    sizes = TEMPORAL_SIZES.get(type_code)
    if sizes is not None:
        if len(raw) not in sizes:
            raise EncodeError(f"a value of type {type_code:#04x} cannot have {len(raw)} bytes")
        return bytes((len(raw),)) + raw
    if type_code in LENENC_TYPES:
        return write_lenenc_int(len(raw)) + raw
    raise EncodeError(f"no binary value has the type {type_code:#04x}")


def read_null_bitmap(reader: Reader, count: int, offset: int) -> tuple[bool, ...]:
    """Read a NULL bitmap of ``count`` entries whose first ``offset`` bits are reserved; True
    marks a NULL. Reserved and trailing bits must be zero (a set one means the column count
    the caller gave is not the sender's)."""
    size = (count + offset + 7) // 8
    bitmap = int.from_bytes(reader.fixed(size), "little")
    used = ((1 << count) - 1) << offset
    if bitmap & ~used:
        raise MalformedPacket("a NULL bitmap has bits set outside its entries")
    return tuple(bool(bitmap >> (offset + i) & 1) for i in range(count))


def write_null_bitmap(nulls: Sequence[bool], offset: int) -> bytes:
    """A NULL bitmap for ``nulls`` with ``offset`` reserved bits."""
    bitmap = 0
    for i, null in enumerate(nulls):
        if null:
            bitmap |= 1 << (offset + i)
    return bitmap.to_bytes((len(nulls) + offset + 7) // 8, "little")


def decode_row(payload: bytes, columns: Sequence[ColumnSpec]) -> BinaryRow:
    """Decode one binary resultset row payload for ``columns`` (type code, flags)."""
    reader = Reader(payload)
    if reader.uint(1) != ROW_HEADER:
        raise MalformedPacket("a binary resultset row does not start with 0x00")
    nulls = read_null_bitmap(reader, len(columns), ROW_BITMAP_OFFSET)
    values: list[bytes | None] = []
    for (type_code, _flags), null in zip(columns, nulls, strict=True):
        if null:
            values.append(None)
        elif type_code == T.NULL:
            raise MalformedPacket("a NULL-typed column is not marked NULL in the bitmap")
        else:
            values.append(read_value(reader, type_code))
    reader.expect_end("a binary resultset row")
    return tuple(values)


def encode_row(values: Sequence[bytes | None], columns: Sequence[ColumnSpec]) -> bytes:
    """Encode one binary resultset row payload: raw values (None for NULL) for ``columns``."""
    if len(values) != len(columns):
        raise EncodeError(f"{len(values)} values for {len(columns)} columns")
    parts = [
        bytes((ROW_HEADER,)),
        write_null_bitmap([v is None for v in values], ROW_BITMAP_OFFSET),
    ]
    for (type_code, _flags), raw in zip(columns, values, strict=True):
        if raw is not None:
            if type_code == T.NULL:
                raise EncodeError("a NULL-typed column can only hold NULL")
            parts.append(write_value(type_code, raw))
    return b"".join(parts)
