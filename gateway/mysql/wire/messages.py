"""Generic response packets and result sets (MySQL "Client/Server Protocol": "OK_Packet",
"ERR_Packet", "EOF_Packet", "Column Definition", "Text Resultset Row"). Every message is a frozen
dataclass with ``encode(...) -> payload`` and a ``decode(payload, ...)`` that raises
MalformedPacket for a payload its format does not allow. The capability flags the two sides
agreed on decide some fields (``caps``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.mysql.wire.basic import Reader, write_int, write_lenenc_bytes, write_lenenc_int
from gateway.mysql.wire.constants import Capability, Status
from gateway.mysql.wire.errors import MalformedPacket

__all__ = [
    "ColumnDefinition",
    "Eof",
    "Err",
    "Ok",
    "decode_text_row",
    "encode_text_row",
    "is_eof",
    "is_terminator",
]

_TRACK = Capability.SESSION_TRACK


@dataclass(frozen=True, slots=True)
class Ok:
    """OK_Packet; ``header`` 0xFE for the OK that ends a result set under DEPRECATE_EOF.
    ``session_state`` is the raw session-state-change block (SESSION_TRACK)."""

    affected_rows: int = 0
    last_insert_id: int = 0
    status: int = Status.AUTOCOMMIT
    warnings: int = 0
    info: bytes = b""
    session_state: bytes = b""
    header: int = 0x00

    def encode(self, caps: int) -> bytes:
        out = bytes((self.header,)) + write_lenenc_int(self.affected_rows)
        out += write_lenenc_int(self.last_insert_id)
        out += write_int(self.status, 2) + write_int(self.warnings, 2)
        if caps & _TRACK:
            if self.info or self.status & Status.SESSION_STATE_CHANGED:
                out += write_lenenc_bytes(self.info)
            if self.status & Status.SESSION_STATE_CHANGED:
                out += write_lenenc_bytes(self.session_state)
            return out
        return out + self.info

    @classmethod
    def decode(cls, payload: bytes, caps: int) -> Ok:
        r = Reader(payload)
        header = r.uint(1)
        if header not in (0x00, 0xFE):
            raise MalformedPacket(f"an OK packet starts with 0x{header:02x}")
        affected, last = r.lenenc_int(), r.lenenc_int()
        if affected is None or last is None:
            raise MalformedPacket("an OK packet's counts are NULL")
        status, warnings = r.uint(2), r.uint(2)
        info, state = b"", b""
        if caps & _TRACK:
            if not r.at_end():
                info = r.lenenc_bytes() or b""
            if status & Status.SESSION_STATE_CHANGED and not r.at_end():
                state = r.lenenc_bytes() or b""
        else:
            info = r.rest()
        return cls(affected, last, status, warnings, info, state, header)


@dataclass(frozen=True, slots=True)
class Err:
    """ERR_Packet: the error number, its SQLSTATE and its message."""

    code: int
    sqlstate: str
    message: str

    def encode(self) -> bytes:
        state = self.sqlstate.encode("ascii", "replace")[:5].ljust(5, b"0")
        text = self.message.encode("utf-8", "surrogateescape")
        return b"\xff" + write_int(self.code, 2) + b"#" + state + text

    @classmethod
    def decode(cls, payload: bytes) -> Err:
        r = Reader(payload)
        if r.uint(1) != 0xFF:
            raise MalformedPacket("an ERR packet starts with 0xff")
        code = r.uint(2)
        state = "HY000"
        if not r.at_end() and r.peek() == ord("#"):
            r.fixed(1)
            state = r.fixed(5).decode("ascii", "replace")
        return cls(code, state, r.rest().decode("utf-8", "surrogateescape"))


@dataclass(frozen=True, slots=True)
class Eof:
    """EOF_Packet (before DEPRECATE_EOF): warnings and status."""

    warnings: int = 0
    status: int = Status.AUTOCOMMIT

    def encode(self) -> bytes:
        return b"\xfe" + write_int(self.warnings, 2) + write_int(self.status, 2)

    @classmethod
    def decode(cls, payload: bytes) -> Eof:
        if not is_eof(payload):
            raise MalformedPacket("not an EOF packet")
        r = Reader(payload, 1)
        if r.remaining() < 4:
            return cls(0, 0)
        return cls(r.uint(2), r.uint(2))


def is_eof(payload: bytes) -> bool:
    """An EOF packet: 0xFE and fewer than 9 bytes (a longer 0xFE payload is a row or an OK)."""
    return len(payload) < 9 and payload[:1] == b"\xfe"


def is_terminator(payload: bytes) -> bool:
    """The packet that ends a result set's rows: an EOF, or under DEPRECATE_EOF an OK with
    header 0xFE (a row can start with 0xFE only when its first value is 16 MB or longer)."""
    return payload[:1] == b"\xfe" and len(payload) < 0xFFFFFF


@dataclass(frozen=True, slots=True)
class ColumnDefinition:
    """Column Definition (protocol 4.1): where the column comes from (``org_table`` and
    ``org_name`` survive aliases) and its type. ``default`` only in COM_FIELD_LIST replies."""

    schema: bytes
    table: bytes
    org_table: bytes
    name: bytes
    org_name: bytes
    charset: int
    length: int
    column_type: int
    flags: int = 0
    decimals: int = 0
    catalog: bytes = b"def"
    default: bytes | None = None

    def encode(self) -> bytes:
        out = b"".join(
            write_lenenc_bytes(v)
            for v in (
                self.catalog, self.schema, self.table, self.org_table, self.name, self.org_name
            )
        )  # fmt: skip
        out += b"\x0c" + write_int(self.charset, 2) + write_int(self.length, 4)
        out += write_int(self.column_type, 1) + write_int(self.flags, 2)
        out += write_int(self.decimals, 1) + b"\0\0"
        if self.default is not None:
            out += write_lenenc_bytes(self.default)
        return out

    @classmethod
    def decode(cls, payload: bytes) -> ColumnDefinition:
        r = Reader(payload)
        names = []
        for _ in range(6):
            value = r.lenenc_bytes()
            if value is None:
                raise MalformedPacket("a column definition's name is NULL")
            names.append(value)
        fixed = r.lenenc_int()
        if fixed is None or fixed < 0x0C:
            raise MalformedPacket("a column definition's fixed fields are cut short")
        charset, length = r.uint(2), r.uint(4)
        column_type, flags, decimals = r.uint(1), r.uint(2), r.uint(1)
        r.fixed(fixed - 10)
        default = r.lenenc_bytes() if not r.at_end() else None
        catalog, schema, table, org_table, name, org_name = names
        return cls(
            schema, table, org_table, name, org_name, charset, length, column_type, flags,
            decimals, catalog, default,
        )  # fmt: skip


def decode_text_row(payload: bytes, columns: int) -> list[bytes | None]:
    """A text result set row of ``columns`` values (None: NULL); MalformedPacket when it has
    more or fewer."""
    r = Reader(payload)
    values = [r.lenenc_bytes() for _ in range(columns)]
    r.expect_end("a text row")
    return values


def encode_text_row(values: Sequence[bytes | None]) -> bytes:
    return b"".join(write_lenenc_bytes(v) for v in values)
