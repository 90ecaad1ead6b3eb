"""Encoders from dataclasses to wire bytes, both directions (PostgreSQL docs 55.7).

`encode(message)` refuses anything the wire cannot carry unambiguously, because a string with a
NUL, an empty startup parameter name or a count that wraps would be read differently by the
peer (the message-smuggling class of pgx CVE-2024-27304): such input raises EncodeError. Every
length word is computed from the bytes actually written and checked to fit an Int32.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any, Final

from gateway.postgres.wire import backend as b
from gateway.postgres.wire import frontend as f
from gateway.postgres.wire.errors import EncodeError
from gateway.postgres.wire.framing import STARTUP_PACKET_LIMIT
from gateway.postgres.wire.messages import Message
from gateway.postgres.wire.startup import CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, SSL_REQUEST_CODE

__all__ = ["MAX_LENGTH", "encode"]

MAX_LENGTH: Final = 0x7FFF_FFFF  # the largest Int32 length word
_NULL: Final = b"\xff\xff\xff\xff"  # Int32 -1: a NULL value
_i16 = struct.Struct("!h").pack
_u16 = struct.Struct("!H").pack
_i32 = struct.Struct("!i").pack
_u32 = struct.Struct("!I").pack
_field = struct.Struct("!IhIhih").pack


def _cstr(text: str) -> bytes:
    """A String: UTF-8 (surrogateescape, the inverse of decoding) plus NUL; NUL inside refused."""
    data = text.encode("utf-8", "surrogateescape")
    if b"\0" in data:
        raise EncodeError("a protocol String cannot contain a NUL byte")
    return data + b"\0"


def _typed(tag: bytes, *parts: bytes) -> bytes:
    """Type byte, Int32 length of the body plus itself, body."""
    length = 4 + sum(map(len, parts))
    if length > MAX_LENGTH:
        raise EncodeError(f"message {tag!r} of {length} bytes does not fit an Int32 length")
    return b"".join((tag, _i32(length), *parts))


def _array(fmt: str, items: tuple[int, ...]) -> bytes:
    """Int16 count then the items ('h' Int16, 'I' OID)."""
    return _u16(len(items)) + struct.pack(f"!{len(items)}{fmt}", *items)


def _values(values: tuple[bytes | None, ...]) -> Iterable[bytes]:
    """Int16 count then (Int32 length, bytes) per value; NULL is length -1 and no bytes."""
    parts = [_u16(len(values))]
    append = parts.append
    for value in values:
        if value is None:
            append(_NULL)
        else:
            append(_i32(len(value)))
            append(value)
    return parts


def _kind(kind: str) -> bytes:
    if kind not in ("S", "P"):
        raise EncodeError(f"Describe/Close kind must be 'S' or 'P', not {kind!r}")
    return kind.encode()


def _startup(code: int, body: bytes = b"") -> bytes:
    length = 8 + len(body)
    if length - 4 > STARTUP_PACKET_LIMIT:
        raise EncodeError(f"startup packet of {length} bytes exceeds the 10,000-byte limit")
    return _i32(length) + _i32(code) + body


def _startup_message(m: f.StartupMessage) -> bytes:
    if any(not name for name in m.params):
        raise EncodeError("a startup parameter name cannot be empty (it ends the list)")
    pairs = b"".join(_cstr(k) + _cstr(v) for k, v in m.params.items())
    return _startup(m.protocol_version, pairs + b"\0")


def _bind(m: f.Bind) -> bytes:
    head = _cstr(m.portal) + _cstr(m.statement) + _array("h", m.param_formats)
    return _typed(b"B", head, *_values(m.params), _array("h", m.result_formats))


def _function_call(m: f.FunctionCall) -> bytes:
    head = _u32(m.function_oid) + _array("h", m.arg_formats)
    return _typed(b"F", head, *_values(m.args), _i16(m.result_format))


def _sasl_initial(m: f.SASLInitialResponse) -> bytes:
    data = _NULL if m.data is None else _i32(len(m.data)) + m.data
    return _typed(b"p", _cstr(m.mechanism), data)


def _data_row(m: b.DataRow) -> bytes:
    """The hot path of masking: one list, one join, the length summed in the loop."""
    values = m.values
    parts = [b"", _u16(len(values))]
    append = parts.append
    length = 6
    for value in values:
        if value is None:
            append(_NULL)
            length += 4
        else:
            append(_i32(len(value)))
            append(value)
            length += 4 + len(value)
    if length > MAX_LENGTH:
        raise EncodeError(f"DataRow of {length} bytes does not fit an Int32 length")
    parts[0] = b"D" + _i32(length)
    return b"".join(parts)


def _row_description(m: b.RowDescription) -> bytes:
    parts = [_u16(len(m.fields))]
    for d in m.fields:
        parts.append(_cstr(d.name))
        parts.append(
            _field(d.table_oid, d.column_attr, d.type_oid, d.type_size, d.type_mod, d.format)
        )
    return _typed(b"T", *parts)


def _fields(tag: bytes, fields: dict[str, str]) -> bytes:
    parts = []
    for code, value in fields.items():
        if len(code) != 1 or code == "\0" or not code.isascii():
            raise EncodeError(f"field type must be one non-NUL ASCII character, not {code!r}")
        parts.append(code.encode() + _cstr(value))
    return _typed(tag, *parts, b"\0")


def _authentication(code: int, data: bytes = b"") -> bytes:
    return _typed(b"R", _i32(code), data)


def _md5_request(m: b.AuthenticationMD5Password) -> bytes:
    if len(m.salt) != 4:
        raise EncodeError("AuthenticationMD5Password salt must be 4 bytes")
    return _authentication(5, m.salt)


def _sasl_request(m: b.AuthenticationSASL) -> bytes:
    if any(not name for name in m.mechanisms):
        raise EncodeError("a SASL mechanism name cannot be empty (it ends the list)")
    return _authentication(10, b"".join(map(_cstr, m.mechanisms)) + b"\0")


_READY: Final = {status: b"Z\0\0\0\x05" + status.encode() for status in "ITE"}


def _ready(m: b.ReadyForQuery) -> bytes:
    try:
        return _READY[m.status]
    except KeyError:
        raise EncodeError(f"transaction status must be I, T or E, not {m.status!r}") from None


def _copy_response(tag: bytes) -> Callable[[Any], bytes]:
    def encode(m: b.CopyInResponse | b.CopyOutResponse | b.CopyBothResponse) -> bytes:
        return _typed(tag, bytes((m.format,)), _array("h", m.column_formats))

    return encode


def _negotiate(m: b.NegotiateProtocolVersion) -> bytes:
    options = b"".join(map(_cstr, m.unrecognized_options))
    return _typed(b"v", _u32(m.newest_minor), _u32(len(m.unrecognized_options)), options)


def _nullable(value: bytes | None) -> bytes:
    return _NULL if value is None else _i32(len(value)) + value


def _empty(tag: bytes) -> Callable[[Any], bytes]:
    encoded = _typed(tag)
    return lambda m: encoded


_ENCODERS: Final[dict[type, Callable[[Any], bytes]]] = {
    # Startup phase: untyped packets (55.7 StartupMessage, SSLRequest, GSSENCRequest, ...)
    f.StartupMessage: _startup_message,
    f.SSLRequest: lambda m: _startup(SSL_REQUEST_CODE),
    f.GSSENCRequest: lambda m: _startup(GSSENC_REQUEST_CODE),
    f.CancelRequest: lambda m: _startup(
        CANCEL_REQUEST_CODE, _u32(m.process_id) + _u32(m.secret_key)
    ),
    f.SSLResponse: lambda m: b"S" if m.accepted else b"N",
    # Frontend
    f.Query: lambda m: _typed(b"Q", _cstr(m.text)),
    f.Parse: lambda m: _typed(b"P", _cstr(m.name), _cstr(m.query), _array("I", m.param_types)),
    f.Bind: _bind,
    f.Describe: lambda m: _typed(b"D", _kind(m.kind), _cstr(m.name)),
    f.Execute: lambda m: _typed(b"E", _cstr(m.portal), _i32(m.max_rows)),
    f.Close: lambda m: _typed(b"C", _kind(m.kind), _cstr(m.name)),
    f.Sync: _empty(b"S"),
    f.Flush: _empty(b"H"),
    f.Terminate: _empty(b"X"),
    f.CopyFail: lambda m: _typed(b"f", _cstr(m.message)),
    f.PasswordMessage: lambda m: _typed(b"p", _cstr(m.password)),
    f.SASLInitialResponse: _sasl_initial,
    f.SASLResponse: lambda m: _typed(b"p", m.data),
    f.FunctionCall: _function_call,
    # Both directions
    f.CopyData: lambda m: _typed(b"d", m.data),
    f.CopyDone: _empty(b"c"),
    # Backend
    b.AuthenticationOk: lambda m: _authentication(0),
    b.AuthenticationCleartextPassword: lambda m: _authentication(3),
    b.AuthenticationMD5Password: _md5_request,
    b.AuthenticationSASL: _sasl_request,
    b.AuthenticationSASLContinue: lambda m: _authentication(11, m.data),
    b.AuthenticationSASLFinal: lambda m: _authentication(12, m.data),
    b.AuthenticationUnsupported: lambda m: _authentication(m.code, m.data),
    b.BackendKeyData: lambda m: _typed(b"K", _u32(m.process_id), _u32(m.secret_key)),
    b.ParameterStatus: lambda m: _typed(b"S", _cstr(m.name), _cstr(m.value)),
    b.ReadyForQuery: _ready,
    b.RowDescription: _row_description,
    b.DataRow: _data_row,
    b.CommandComplete: lambda m: _typed(b"C", _cstr(m.tag)),
    b.EmptyQueryResponse: _empty(b"I"),
    b.ErrorResponse: lambda m: _fields(b"E", m.fields),
    b.NoticeResponse: lambda m: _fields(b"N", m.fields),
    b.ParseComplete: _empty(b"1"),
    b.BindComplete: _empty(b"2"),
    b.CloseComplete: _empty(b"3"),
    b.NoData: _empty(b"n"),
    b.PortalSuspended: _empty(b"s"),
    b.ParameterDescription: lambda m: _typed(b"t", _array("I", m.type_oids)),
    b.CopyInResponse: _copy_response(b"G"),
    b.CopyOutResponse: _copy_response(b"H"),
    b.CopyBothResponse: _copy_response(b"W"),
    b.NotificationResponse: lambda m: _typed(
        b"A", _u32(m.process_id), _cstr(m.channel), _cstr(m.payload)
    ),
    b.FunctionCallResponse: lambda m: _typed(b"V", _nullable(m.result)),
    b.NegotiateProtocolVersion: _negotiate,
}


def encode(message: Message) -> bytes:
    """The wire bytes of `message`; raise EncodeError if it cannot be sent as is."""
    try:
        encoder = _ENCODERS[type(message)]
    except KeyError:
        raise EncodeError(f"cannot encode {type(message).__name__}") from None
    try:
        return encoder(message)
    except (struct.error, ValueError, OverflowError) as exc:
        raise EncodeError(f"cannot encode {type(message).__name__}: {exc}") from exc
