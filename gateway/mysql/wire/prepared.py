"""The prepared-statement commands (MySQL "Client/Server Protocol", "Prepared Statements":
COM_STMT_PREPARE, COM_STMT_PREPARE_OK, COM_STMT_EXECUTE, COM_STMT_SEND_LONG_DATA,
COM_STMT_FETCH, COM_STMT_CLOSE, COM_STMT_RESET; MariaDB "Binary protocol (prepared
statements)" for COM_STMT_BULK_EXECUTE and the statement id -1).

Each command is a frozen dataclass; ``decode_*`` takes one whole payload (its command byte
first) and raises :class:`MalformedPacket` for anything that is not exactly that command;
:func:`encode` turns any of them back into a payload. Two commands need context the caller
keeps per statement:

- COM_STMT_EXECUTE: the statement's parameter count (from its COM_STMT_PREPARE_OK), the types
  bound by an earlier execute when this one does not send them (new-params-bound flag 0), the
  parameters whose value came by COM_STMT_SEND_LONG_DATA (their value is not in the execute
  packet: the server skips them), and whether CLIENT_QUERY_ATTRIBUTES was negotiated (MySQL
  8.0.23+: an explicit parameter count, flag PARAMETER_COUNT_AVAILABLE, a name per parameter;
  MariaDB has no query attributes).
- COM_STMT_BULK_EXECUTE (MariaDB 10.2.7+, capability MARIADB_CLIENT_STMT_BULK_OPERATIONS):
  the parameter count and the earlier types likewise; rows of parameters, each value preceded
  by an indicator (NONE, NULL, DEFAULT, IGNORE), until the end of the packet.

The listener maps statement ids: :func:`with_statement_id` rebuilds a message with another id,
and :func:`rewrite_statement_id` patches the fixed four-byte id of a command or PREPARE_OK
payload without decoding the rest (MariaDB's id -1, :data:`LAST_STATEMENT_ID`, means "the
statement prepared last" and is left to the listener to handle).

COM_STMT_EXECUTE and COM_STMT_BULK_EXECUTE live in :mod:`gateway.mysql.wire.execute` and are
re-exported here. Parameter values are raw binary values (:mod:`gateway.mysql.wire.binary`);
:meth:`StmtExecute.param_texts` renders them in their text form for the approval binding and
the session record."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TypeVar

from gateway.mysql.wire.basic import Reader, write_int
from gateway.mysql.wire.errors import EncodeError, MalformedPacket
from gateway.mysql.wire.execute import (
    COM_STMT_BULK_EXECUTE,
    COM_STMT_EXECUTE,
    BoundParam,
    BulkFlag,
    BulkIndicator,
    ExecuteFlag,
    StmtBulkExecute,
    StmtExecute,
    decode_bulk_execute,
    decode_execute,
    encode_bulk_execute,
    encode_execute,
)

__all__ = [
    "COM_STMT_BULK_EXECUTE",
    "COM_STMT_CLOSE",
    "COM_STMT_EXECUTE",
    "COM_STMT_FETCH",
    "COM_STMT_PREPARE",
    "COM_STMT_RESET",
    "COM_STMT_SEND_LONG_DATA",
    "LAST_STATEMENT_ID",
    "BoundParam",
    "BulkFlag",
    "BulkIndicator",
    "ExecuteFlag",
    "StmtBulkExecute",
    "StmtClose",
    "StmtExecute",
    "StmtFetch",
    "StmtMessage",
    "StmtPrepare",
    "StmtPrepareOk",
    "StmtReset",
    "StmtSendLongData",
    "decode_bulk_execute",
    "decode_close",
    "decode_execute",
    "decode_fetch",
    "decode_prepare",
    "decode_prepare_ok",
    "decode_reset",
    "decode_send_long_data",
    "encode",
    "encode_bulk_execute",
    "encode_execute",
    "peek_statement_id",
    "rewrite_statement_id",
    "with_statement_id",
]

COM_STMT_PREPARE = 0x16
COM_STMT_SEND_LONG_DATA = 0x18
COM_STMT_CLOSE = 0x19
COM_STMT_RESET = 0x1A
COM_STMT_FETCH = 0x1C
PREPARE_OK = 0x00  # the status byte of COM_STMT_PREPARE_OK
LAST_STATEMENT_ID = 0xFFFFFFFF  # MariaDB 10.2+: "the statement prepared last" (pipelining)

# Payloads that carry a statement id in bytes 1..4.
_WITH_STATEMENT_ID = frozenset(
    (
        PREPARE_OK,
        COM_STMT_EXECUTE,
        COM_STMT_SEND_LONG_DATA,
        COM_STMT_CLOSE,
        COM_STMT_RESET,
        COM_STMT_FETCH,
        COM_STMT_BULK_EXECUTE,
    )
)


@dataclass(frozen=True, slots=True)
class StmtPrepare:
    """COM_STMT_PREPARE: the statement text."""

    query: bytes


@dataclass(frozen=True, slots=True)
class StmtPrepareOk:
    """COM_STMT_PREPARE_OK; ``warnings`` None when the 10-byte form omits it,
    ``metadata_follows`` only with CLIENT_OPTIONAL_RESULTSET_METADATA (MySQL 8)."""

    statement_id: int
    num_columns: int
    num_params: int
    warnings: int | None = 0
    metadata_follows: int | None = None


@dataclass(frozen=True, slots=True)
class StmtSendLongData:
    """COM_STMT_SEND_LONG_DATA: a chunk of one parameter's value (no reply)."""

    statement_id: int
    param_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class StmtClose:
    """COM_STMT_CLOSE (no reply)."""

    statement_id: int


@dataclass(frozen=True, slots=True)
class StmtReset:
    """COM_STMT_RESET: drops long data and an open cursor (OK or ERR)."""

    statement_id: int


@dataclass(frozen=True, slots=True)
class StmtFetch:
    """COM_STMT_FETCH: ``num_rows`` more rows of an open cursor."""

    statement_id: int
    num_rows: int


StmtMessage = (
    StmtPrepare
    | StmtPrepareOk
    | StmtExecute
    | StmtBulkExecute
    | StmtSendLongData
    | StmtClose
    | StmtReset
    | StmtFetch
)

_M = TypeVar(
    "_M",
    StmtPrepareOk,
    StmtExecute,
    StmtBulkExecute,
    StmtSendLongData,
    StmtClose,
    StmtReset,
    StmtFetch,
)


def _open(payload: bytes, command: int, name: str) -> Reader:
    reader = Reader(payload)
    if reader.uint(1) != command:
        raise MalformedPacket(f"not a {name} payload")
    return reader


def decode_prepare(payload: bytes) -> StmtPrepare:
    """COM_STMT_PREPARE: 0x16, the query (``string<EOF>``)."""
    return StmtPrepare(_open(payload, COM_STMT_PREPARE, "COM_STMT_PREPARE").rest())


def decode_prepare_ok(payload: bytes) -> StmtPrepareOk:
    """COM_STMT_PREPARE_OK: 0x00, id<4>, columns<2>, params<2>, filler 0x00, then optionally
    warnings<2> and metadata_follows<1>."""
    reader = _open(payload, PREPARE_OK, "COM_STMT_PREPARE_OK")
    statement_id, columns, params = reader.uint(4), reader.uint(2), reader.uint(2)
    if reader.uint(1) != 0:
        raise MalformedPacket("COM_STMT_PREPARE_OK's filler is not 0x00")
    warnings = reader.uint(2) if not reader.at_end() else None
    metadata = reader.uint(1) if not reader.at_end() else None
    reader.expect_end("COM_STMT_PREPARE_OK")
    return StmtPrepareOk(statement_id, columns, params, warnings, metadata)


def _statement_only(payload: bytes, command: int, name: str) -> int:
    reader = _open(payload, command, name)
    statement_id = reader.uint(4)
    reader.expect_end(name)
    return statement_id


def decode_close(payload: bytes) -> StmtClose:
    """COM_STMT_CLOSE: 0x19, id<4>."""
    return StmtClose(_statement_only(payload, COM_STMT_CLOSE, "COM_STMT_CLOSE"))


def decode_reset(payload: bytes) -> StmtReset:
    """COM_STMT_RESET: 0x1a, id<4>."""
    return StmtReset(_statement_only(payload, COM_STMT_RESET, "COM_STMT_RESET"))


def decode_fetch(payload: bytes) -> StmtFetch:
    """COM_STMT_FETCH: 0x1c, id<4>, num_rows<4>."""
    reader = _open(payload, COM_STMT_FETCH, "COM_STMT_FETCH")
    message = StmtFetch(reader.uint(4), reader.uint(4))
    reader.expect_end("COM_STMT_FETCH")
    return message


def decode_send_long_data(payload: bytes) -> StmtSendLongData:
    """COM_STMT_SEND_LONG_DATA: 0x18, id<4>, param_id<2>, data (``string<EOF>``)."""
    reader = _open(payload, COM_STMT_SEND_LONG_DATA, "COM_STMT_SEND_LONG_DATA")
    return StmtSendLongData(reader.uint(4), reader.uint(2), reader.rest())


def encode(message: StmtMessage, *, query_attributes: bool = False) -> bytes:
    """The payload of ``message`` (``query_attributes`` as negotiated, for COM_STMT_EXECUTE)."""
    match message:
        case StmtPrepare(query):
            return bytes((COM_STMT_PREPARE,)) + query
        case StmtPrepareOk():
            return _encode_prepare_ok(message)
        case StmtExecute():
            return encode_execute(message, query_attributes=query_attributes)
        case StmtBulkExecute():
            return encode_bulk_execute(message)
        case StmtSendLongData(statement_id, param_id, data):
            head = bytes((COM_STMT_SEND_LONG_DATA,)) + write_int(statement_id, 4)
            return head + write_int(param_id, 2) + data
        case StmtClose(statement_id):
            return bytes((COM_STMT_CLOSE,)) + write_int(statement_id, 4)
        case StmtReset(statement_id):
            return bytes((COM_STMT_RESET,)) + write_int(statement_id, 4)
        case StmtFetch(statement_id, num_rows):
            return bytes((COM_STMT_FETCH,)) + write_int(statement_id, 4) + write_int(num_rows, 4)
    raise EncodeError(f"not a prepared-statement message: {type(message).__name__}")


def _encode_prepare_ok(message: StmtPrepareOk) -> bytes:
    parts = [
        bytes((PREPARE_OK,)),
        write_int(message.statement_id, 4),
        write_int(message.num_columns, 2),
        write_int(message.num_params, 2),
        b"\x00",
    ]
    if message.warnings is not None:
        parts.append(write_int(message.warnings, 2))
    if message.metadata_follows is not None:
        if message.warnings is None:
            raise EncodeError("metadata_follows needs the warning count before it")
        parts.append(write_int(message.metadata_follows, 1))
    return b"".join(parts)


def with_statement_id(message: _M, statement_id: int) -> _M:
    """``message`` with another statement id (StmtPrepare has none: EncodeError)."""
    if isinstance(message, StmtPrepare):
        raise EncodeError("COM_STMT_PREPARE carries no statement id")
    return dataclasses.replace(message, statement_id=statement_id)


def peek_statement_id(payload: bytes) -> int:
    """The statement id of a COM_STMT_* command or PREPARE_OK payload, without decoding it."""
    reader = Reader(payload)
    if reader.uint(1) not in _WITH_STATEMENT_ID:
        raise MalformedPacket("this payload carries no statement id")
    return reader.uint(4)


def rewrite_statement_id(payload: bytes, statement_id: int) -> bytes:
    """``payload`` (a COM_STMT_* command or PREPARE_OK) with ``statement_id`` in bytes 1..4;
    the rest of the payload is kept byte for byte."""
    peek_statement_id(payload)  # validates the command byte and the length
    return payload[:1] + write_int(statement_id, 4) + payload[5:]
