"""DataRow bodies: strict parsing and encoding (PostgreSQL docs "Message Formats", DataRow).

Body layout: Int16 column count, then per column Int32 length (-1 = NULL, no bytes follow) and
that many bytes. A message is Byte1('D'), Int32 length of itself (counting the length field, not
the type byte), then the body.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from gateway.postgres.dialect.errors import MalformedDataRowError

__all__ = ["MAX_MESSAGE_LENGTH", "encode_datarow", "parse_datarow_body"]

MAX_MESSAGE_LENGTH = 0x7FFFFFFF  # an Int32 length field
_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")


def parse_datarow_body(body: bytes) -> tuple[bytes | None, ...]:
    """The column values of a DataRow body; MalformedDataRowError when it is inconsistent."""
    n = len(body)
    if n < 2:
        raise MalformedDataRowError("DataRow body shorter than its column count")
    count = _I16.unpack_from(body, 0)[0]
    if count < 0:
        raise MalformedDataRowError(f"negative DataRow column count {count}")
    values: list[bytes | None] = []
    pos = 2
    for i in range(count):
        if pos + 4 > n:
            raise MalformedDataRowError(f"DataRow ends inside the length of column {i}")
        length = _I32.unpack_from(body, pos)[0]
        pos += 4
        if length == -1:
            values.append(None)
            continue
        if length < 0 or pos + length > n:
            raise MalformedDataRowError(f"DataRow column {i} length {length} out of range")
        values.append(body[pos : pos + length])
        pos += length
    if pos != n:
        raise MalformedDataRowError(f"{n - pos} trailing bytes after DataRow column {count - 1}")
    return tuple(values)


def encode_datarow(values: Sequence[bytes | None]) -> bytes:
    """A complete DataRow message (type byte, fresh length) for ``values``."""
    if len(values) > 0x7FFF:
        raise MalformedDataRowError(f"{len(values)} columns do not fit an Int16 count")
    parts = [b"D", b"", _I16.pack(len(values))]
    size = 4 + 2
    for v in values:
        if v is None:
            parts.append(b"\xff\xff\xff\xff")
            size += 4
        else:
            parts.append(_I32.pack(len(v)))
            parts.append(v)
            size += 4 + len(v)
    if size > MAX_MESSAGE_LENGTH:
        raise MalformedDataRowError(f"DataRow of {size} bytes exceeds the Int32 length")
    parts[1] = _I32.pack(size)
    return b"".join(parts)
