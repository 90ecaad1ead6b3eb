"""COM_STMT_EXECUTE and MariaDB's COM_STMT_BULK_EXECUTE (MySQL "Client/Server Protocol",
"COM_STMT_EXECUTE"; MariaDB "COM_STMT_EXECUTE" and "COM_STMT_BULK_EXECUTE"). Re-exported by
:mod:`gateway.mysql.wire.prepared`, whose docstring describes the context a caller passes."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from gateway.mysql.wire.basic import Reader, write_int, write_lenenc_bytes, write_lenenc_int
from gateway.mysql.wire.binary import (
    read_null_bitmap,
    read_value,
    write_null_bitmap,
    write_value,
)
from gateway.mysql.wire.errors import EncodeError, MalformedPacket
from gateway.mysql.wire.textform import to_text
from gateway.mysql.wire.types import PARAM_UNSIGNED, ColumnFlag, ColumnType

__all__ = [
    "COM_STMT_BULK_EXECUTE",
    "COM_STMT_EXECUTE",
    "MAX_PARAMS",
    "BoundParam",
    "BulkFlag",
    "BulkIndicator",
    "ExecuteFlag",
    "StmtBulkExecute",
    "StmtExecute",
    "decode_bulk_execute",
    "decode_execute",
    "encode_bulk_execute",
    "encode_execute",
]

COM_STMT_EXECUTE = 0x17
COM_STMT_BULK_EXECUTE = 0xFA  # MariaDB
# A statement has at most 65535 placeholders (COM_STMT_PREPARE_OK's num_params is int<2>); an
# explicit count (query attributes) above it is refused before anything is sized by it.
MAX_PARAMS = 0xFFFF


class ExecuteFlag(IntFlag):
    """COM_STMT_EXECUTE ``flags`` (``enum_cursor_type``)."""

    NO_CURSOR = 0
    READ_ONLY = 1
    FOR_UPDATE = 2
    SCROLLABLE = 4
    PARAMETER_COUNT_AVAILABLE = 8  # MySQL 8.0.26+, with CLIENT_QUERY_ATTRIBUTES


class BulkFlag(IntFlag):
    """COM_STMT_BULK_EXECUTE ``bulk flags`` (MariaDB)."""

    SEND_UNIT_RESULTS = 64
    SEND_TYPES_TO_SERVER = 128


class BulkIndicator(IntEnum):
    """The indicator before each COM_STMT_BULK_EXECUTE value (MariaDB); NONE: a value follows."""

    NONE = 0
    NULL = 1
    DEFAULT = 2
    IGNORE = 3


@dataclass(frozen=True, slots=True)
class BoundParam:
    """One COM_STMT_EXECUTE parameter: its type byte, its flag byte (0x80 unsigned), its raw
    value (None for NULL, or when ``long_data``: the value came by COM_STMT_SEND_LONG_DATA),
    and its name (query attributes only)."""

    type_code: int
    flag: int
    value: bytes | None
    name: bytes = b""
    long_data: bool = False

    @property
    def unsigned(self) -> bool:
        """True when the flag byte marks an unsigned integer."""
        return bool(self.flag & PARAM_UNSIGNED)


@dataclass(frozen=True, slots=True)
class StmtExecute:
    """COM_STMT_EXECUTE. ``new_params_bound`` False: the types are the earlier ones (kept in
    ``params`` for rendering, not re-sent by :func:`encode`)."""

    statement_id: int
    flags: int
    params: tuple[BoundParam, ...]
    new_params_bound: bool = True
    iteration_count: int = 1

    def param_texts(self, long_data: Mapping[int, bytes] | None = None) -> tuple[bytes | None, ...]:
        """Every parameter in its text form (None for NULL); a long-data parameter is the data
        the caller gathered from COM_STMT_SEND_LONG_DATA (``long_data``, by parameter index;
        EncodeError when it is missing, rather than binding an approval to nothing). A raw
        value its type cannot hold (a TIME sign byte of 2) is MalformedPacket."""
        texts: list[bytes | None] = []
        for index, param in enumerate(self.params):
            if param.long_data:
                gathered = (long_data or {}).get(index)
                if gathered is None:
                    raise EncodeError(
                        f"parameter {index} came as long data the caller did not give"
                    )
                texts.append(gathered)
            elif param.value is None or param.type_code == ColumnType.NULL:
                texts.append(None)
            else:
                flags = ColumnFlag.UNSIGNED if param.unsigned else 0
                texts.append(to_text(param.type_code, flags, param.value))
        return tuple(texts)


@dataclass(frozen=True, slots=True)
class StmtBulkExecute:
    """COM_STMT_BULK_EXECUTE (MariaDB): ``types`` (type, flag) per parameter, sent when
    ``flags`` has SEND_TYPES_TO_SERVER; each row holds a raw value or an indicator."""

    statement_id: int
    flags: int
    types: tuple[tuple[int, int], ...]
    rows: tuple[tuple[bytes | BulkIndicator, ...], ...]


def _open(payload: bytes, command: int, name: str) -> Reader:
    reader = Reader(payload)
    if reader.uint(1) != command:
        raise MalformedPacket(f"not a {name} payload")
    return reader


def decode_execute(
    payload: bytes,
    *,
    num_params: int,
    previous_types: Sequence[tuple[int, int]] | None = None,
    long_data: Collection[int] = (),
    query_attributes: bool = False,
) -> StmtExecute:
    """COM_STMT_EXECUTE for a statement of ``num_params`` parameters (see the module doc)."""
    reader = _open(payload, COM_STMT_EXECUTE, "COM_STMT_EXECUTE")
    statement_id, flags, iterations = reader.uint(4), reader.uint(1), reader.uint(4)
    count = num_params
    if query_attributes and (num_params > 0 or flags & ExecuteFlag.PARAMETER_COUNT_AVAILABLE):
        sent = reader.lenenc_int()
        if sent is None or not num_params <= sent <= MAX_PARAMS:
            raise MalformedPacket(f"a parameter count of {sent} for {num_params} parameters")
        count = sent
    if count == 0:
        reader.expect_end("COM_STMT_EXECUTE")
        return StmtExecute(statement_id, flags, (), True, iterations)
    nulls = read_null_bitmap(reader, count, 0)
    bound = reader.uint(1)
    if bound > 1:
        raise MalformedPacket("COM_STMT_EXECUTE's new-params-bound flag is neither 0 nor 1")
    names = [b""] * count
    if bound:
        types = []
        for index in range(count):
            types.append((reader.uint(1), reader.uint(1)))
            if query_attributes:
                names[index] = _lenenc(reader)
    elif previous_types is None or len(previous_types) != count:
        raise MalformedPacket("COM_STMT_EXECUTE reuses parameter types that were never bound")
    else:
        types = list(previous_types)
    params = []
    for index, ((type_code, flag), null) in enumerate(zip(types, nulls, strict=True)):
        if index in long_data:
            params.append(BoundParam(type_code, flag, None, names[index], long_data=True))
        elif null:
            params.append(BoundParam(type_code, flag, None, names[index]))
        else:
            value = read_value(reader, type_code)
            params.append(BoundParam(type_code, flag, value, names[index]))
    reader.expect_end("COM_STMT_EXECUTE")
    return StmtExecute(statement_id, flags, tuple(params), bool(bound), iterations)


def _lenenc(reader: Reader) -> bytes:
    value = reader.lenenc_bytes()
    if value is None:
        raise MalformedPacket("0xfb as the length of a parameter name")
    return value


def decode_bulk_execute(
    payload: bytes, *, num_params: int, previous_types: Sequence[tuple[int, int]] | None = None
) -> StmtBulkExecute:
    """COM_STMT_BULK_EXECUTE (MariaDB) for a statement of ``num_params`` parameters."""
    reader = _open(payload, COM_STMT_BULK_EXECUTE, "COM_STMT_BULK_EXECUTE")
    statement_id, flags = reader.uint(4), reader.uint(2)
    if flags & BulkFlag.SEND_TYPES_TO_SERVER:
        types = tuple((reader.uint(1), reader.uint(1)) for _ in range(num_params))
    elif previous_types is None or len(previous_types) != num_params:
        raise MalformedPacket("COM_STMT_BULK_EXECUTE reuses types that were never bound")
    else:
        types = tuple(previous_types)
    rows: list[tuple[bytes | BulkIndicator, ...]] = []
    while num_params and not reader.at_end():
        row: list[bytes | BulkIndicator] = []
        for type_code, _flag in types:
            indicator = reader.uint(1)
            if indicator == BulkIndicator.NONE:
                row.append(read_value(reader, type_code))
            elif indicator in (BulkIndicator.NULL, BulkIndicator.DEFAULT, BulkIndicator.IGNORE):
                row.append(BulkIndicator(indicator))
            else:
                raise MalformedPacket(f"bulk indicator {indicator} is not one of 0..3")
        rows.append(tuple(row))
    reader.expect_end("COM_STMT_BULK_EXECUTE")
    return StmtBulkExecute(statement_id, flags, types, tuple(rows))


def encode_execute(message: StmtExecute, *, query_attributes: bool = False) -> bytes:
    """The payload of a COM_STMT_EXECUTE (``query_attributes`` as negotiated)."""
    params = message.params
    parts = [
        bytes((COM_STMT_EXECUTE,)),
        write_int(message.statement_id, 4),
        write_int(message.flags, 1),
        write_int(message.iteration_count, 4),
    ]
    if query_attributes and (params or message.flags & ExecuteFlag.PARAMETER_COUNT_AVAILABLE):
        parts.append(write_lenenc_int(len(params)))
    if not params:
        return b"".join(parts)
    parts.append(write_null_bitmap([p.value is None and not p.long_data for p in params], 0))
    parts.append(b"\x01" if message.new_params_bound else b"\x00")
    if message.new_params_bound:
        for param in params:
            parts.append(write_int(param.type_code, 1) + write_int(param.flag, 1))
            if query_attributes:
                parts.append(write_lenenc_bytes(param.name))
    for param in params:
        if param.value is not None and not param.long_data:
            parts.append(write_value(param.type_code, param.value))
    return b"".join(parts)


def encode_bulk_execute(message: StmtBulkExecute) -> bytes:
    """The payload of a COM_STMT_BULK_EXECUTE."""
    parts = [
        bytes((COM_STMT_BULK_EXECUTE,)),
        write_int(message.statement_id, 4),
        write_int(message.flags, 2),
    ]
    if message.flags & BulkFlag.SEND_TYPES_TO_SERVER:
        parts.extend(write_int(t, 1) + write_int(f, 1) for t, f in message.types)
    for row in message.rows:
        if len(row) != len(message.types):
            raise EncodeError(f"a bulk row of {len(row)} values for {len(message.types)} types")
        for (type_code, _flag), value in zip(message.types, row, strict=True):
            if isinstance(value, BulkIndicator):
                if value == BulkIndicator.NONE:
                    raise EncodeError("the NONE indicator needs a value, not an indicator")
                parts.append(bytes((value,)))
            else:
                parts.append(b"\x00" + write_value(type_code, value))
    return b"".join(parts)
