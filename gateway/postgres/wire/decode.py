"""Decoders from message bodies to dataclasses (PostgreSQL docs 55.7 "Message Formats").

Each decoder reads `buf[pos:end]` (the body, after type byte and length word) straight from the
read buffer, so values are sliced once and never copied twice. A body must be consumed exactly:
a missing NUL, a short field or trailing bytes is a MalformedMessage, as in the server's
pq_getmsgend(). Counts are unsigned Int16, lengths signed Int32 with -1 meaning NULL.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final, TypeVar

from gateway.postgres.wire import backend as b
from gateway.postgres.wire import frontend as f
from gateway.postgres.wire.errors import MalformedMessage
from gateway.postgres.wire.messages import BackendMessage, FrontendMessage, Message

__all__ = [
    "BACKEND_DECODERS",
    "FRONTEND_DECODERS",
    "Decoder",
    "cstr",
    "decode_body",
    "decode_password",
    "decode_sasl_initial_response",
    "decode_sasl_response",
    "done",
    "utf8_error",
]


_u16 = struct.Struct("!H").unpack_from
_i32 = struct.Struct("!i").unpack_from
_u32 = struct.Struct("!I").unpack_from
_u32x2 = struct.Struct("!II").unpack_from
_field = struct.Struct("!IhIhih").unpack_from  # RowDescription, after the name

M = TypeVar("M", bound=Message)
Decoder = Callable[[bytes, int, int], M]


def cstr(buf: bytes, pos: int, end: int) -> tuple[str, int]:
    """A NUL-terminated String at pos, and the offset after its NUL."""
    nul = buf.index(0, pos, end)
    return buf[pos:nul].decode("utf-8", "surrogateescape"), nul + 1


def utf8_error(text: str) -> str | None:
    """For text that ``cstr`` decoded: None when its bytes were UTF-8, else PostgreSQL's message
    for them (``invalid byte sequence for encoding "UTF8": 0xe9 0x27``; SQLSTATE 22021)."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        at = len(text[: exc.start].encode("utf-8", "surrogateescape"))
        raw = text.encode("utf-8", "surrogateescape")[at : at + 2]
        shown = " ".join(f"0x{byte:02x}" for byte in raw)
        return f'invalid byte sequence for encoding "UTF8": {shown}'
    return None


def done(pos: int, end: int) -> None:
    """Refuse a body that was not consumed exactly (pq_getmsgend)."""
    if pos != end:
        raise MalformedMessage("message length does not match its contents")


_ARRAYS: dict[tuple[str, int], Callable[[bytes, int], tuple[int, ...]]] = {}


def _array(code: str, size: int, buf: bytes, pos: int) -> tuple[tuple[int, ...], int]:
    """An Int16 count followed by that many `code` items (h: Int16, I: OID)."""
    (count,) = _u16(buf, pos)
    if count == 0:
        return (), pos + 2
    unpack = _ARRAYS.get((code, count))
    if unpack is None:
        unpack = struct.Struct(f"!{count}{code}").unpack_from
        if count <= 16:  # a bounded cache of the common small arrays
            _ARRAYS[code, count] = unpack
    return unpack(buf, pos + 2), pos + 2 + count * size


def _values(buf: bytes, pos: int, end: int) -> tuple[tuple[bytes | None, ...], int]:
    """An Int16 count of (Int32 length, bytes) values; length -1 is NULL. Hot path (DataRow).

    Overruns are checked once, after the loop; the count check first bounds the work by the
    body size."""
    (count,) = _u16(buf, pos)
    pos += 2
    if count * 4 > end - pos:
        raise MalformedMessage(f"{count} values cannot fit in the message")
    values: list[bytes | None] = []
    append = values.append
    for _ in range(count):
        (n,) = _i32(buf, pos)
        pos += 4
        if n >= 0:
            append(buf[pos : pos + n])
            pos += n
        elif n == -1:
            append(None)
        else:
            raise MalformedMessage(f"invalid value length {n}")
    if pos > end:
        raise MalformedMessage("value runs past the end of the message")
    return tuple(values), pos


def _empty(cls: Callable[[], M]) -> Decoder[M]:
    def decode(buf: bytes, pos: int, end: int) -> M:
        done(pos, end)
        return cls()

    return decode


def _one_string(cls: Callable[[str], M]) -> Decoder[M]:
    def decode(buf: bytes, pos: int, end: int) -> M:
        text, pos = cstr(buf, pos, end)
        done(pos, end)
        return cls(text)

    return decode


# --- Frontend ----------------------------------------------------------------------------------


def _parse(buf: bytes, pos: int, end: int) -> f.Parse:
    name, pos = cstr(buf, pos, end)
    query, pos = cstr(buf, pos, end)
    types, pos = _array("I", 4, buf, pos)
    done(pos, end)
    return f.Parse(name, query, types)


def _bind(buf: bytes, pos: int, end: int) -> f.Bind:
    portal, pos = cstr(buf, pos, end)
    statement, pos = cstr(buf, pos, end)
    param_formats, pos = _array("h", 2, buf, pos)
    params, pos = _values(buf, pos, end)
    result_formats, pos = _array("h", 2, buf, pos)
    done(pos, end)
    return f.Bind(portal, statement, param_formats, params, result_formats)


def _kind_and_name(buf: bytes, pos: int, end: int) -> tuple[str, str]:
    kind = buf[pos : pos + 1]
    if kind not in (b"S", b"P"):
        raise MalformedMessage(f"invalid Describe/Close kind {kind!r}")
    name, pos = cstr(buf, pos + 1, end)
    done(pos, end)
    return kind.decode(), name


def _describe(buf: bytes, pos: int, end: int) -> f.Describe:
    kind, name = _kind_and_name(buf, pos, end)
    return f.Describe("S" if kind == "S" else "P", name)


def _close(buf: bytes, pos: int, end: int) -> f.Close:
    kind, name = _kind_and_name(buf, pos, end)
    return f.Close("S" if kind == "S" else "P", name)


def _execute(buf: bytes, pos: int, end: int) -> f.Execute:
    portal, pos = cstr(buf, pos, end)
    (max_rows,) = _i32(buf, pos)
    done(pos + 4, end)
    return f.Execute(portal, max_rows)


def _function_call(buf: bytes, pos: int, end: int) -> f.FunctionCall:
    (oid,) = _u32(buf, pos)
    formats, pos = _array("h", 2, buf, pos + 4)
    args, pos = _values(buf, pos, end)
    (result_format,) = struct.unpack_from("!h", buf, pos)
    done(pos + 2, end)
    return f.FunctionCall(oid, formats, args, result_format)


def _copy_data(buf: bytes, pos: int, end: int) -> f.CopyData:
    return f.CopyData(buf[pos:end])


def decode_password(buf: bytes, pos: int, end: int) -> f.PasswordMessage:
    """PasswordMessage ('p'), the default reading of a 'p' message."""
    password, pos = cstr(buf, pos, end)
    done(pos, end)
    return f.PasswordMessage(password)


def decode_sasl_initial_response(buf: bytes, pos: int, end: int) -> f.SASLInitialResponse:
    """SASLInitialResponse ('p'): mechanism, Int32 length (-1 = none), data."""
    mechanism, pos = cstr(buf, pos, end)
    (n,) = _i32(buf, pos)
    pos += 4
    if n < -1 or pos + max(n, 0) != end:
        raise MalformedMessage("invalid SASLInitialResponse data length")
    return f.SASLInitialResponse(mechanism, None if n == -1 else buf[pos:end])


def decode_sasl_response(buf: bytes, pos: int, end: int) -> f.SASLResponse:
    """SASLResponse ('p'): the rest of the message is SASL data."""
    return f.SASLResponse(buf[pos:end])


# --- Backend -----------------------------------------------------------------------------------


def _authentication(buf: bytes, pos: int, end: int) -> BackendMessage:
    (code,) = _i32(buf, pos)
    pos += 4
    data = buf[pos:end]
    if code in (0, 3):
        done(pos, end)
        return b.AuthenticationOk() if code == 0 else b.AuthenticationCleartextPassword()
    if code == 5:
        if len(data) != 4:
            raise MalformedMessage("AuthenticationMD5Password needs a 4-byte salt")
        return b.AuthenticationMD5Password(data)
    if code == 10:
        return b.AuthenticationSASL(_sasl_mechanisms(buf, pos, end))
    if code == 11:
        return b.AuthenticationSASLContinue(data)
    if code == 12:
        return b.AuthenticationSASLFinal(data)
    if code in (2, 7, 8, 9):
        return b.AuthenticationUnsupported(code, data)
    raise MalformedMessage(f"unknown authentication request {code}")


def _sasl_mechanisms(buf: bytes, pos: int, end: int) -> tuple[str, ...]:
    names: list[str] = []
    while True:
        name, pos = cstr(buf, pos, end)
        if not name:
            done(pos, end)
            return tuple(names)
        names.append(name)


def _backend_key_data(buf: bytes, pos: int, end: int) -> b.BackendKeyData:
    done(pos + 8, end)
    return b.BackendKeyData(*_u32x2(buf, pos))


def _parameter_status(buf: bytes, pos: int, end: int) -> b.ParameterStatus:
    name, pos = cstr(buf, pos, end)
    value, pos = cstr(buf, pos, end)
    done(pos, end)
    return b.ParameterStatus(name, value)


def _ready_for_query(buf: bytes, pos: int, end: int) -> b.ReadyForQuery:
    status = buf[pos : pos + 1]
    done(pos + 1, end)
    if status == b"I":
        return b.ReadyForQuery("I")
    if status == b"T":
        return b.ReadyForQuery("T")
    if status == b"E":
        return b.ReadyForQuery("E")
    raise MalformedMessage(f"invalid transaction status {status!r}")


def _row_description(buf: bytes, pos: int, end: int) -> b.RowDescription:
    (count,) = _u16(buf, pos)
    pos += 2
    fields = []
    for _ in range(count):
        name, pos = cstr(buf, pos, end)
        fields.append(b.FieldDescription(name, *_field(buf, pos)))
        pos += 18
    done(pos, end)
    return b.RowDescription(tuple(fields))


def _data_row(buf: bytes, pos: int, end: int) -> b.DataRow:
    values, pos = _values(buf, pos, end)
    done(pos, end)
    return b.DataRow(values)


def _response_fields(buf: bytes, pos: int, end: int) -> dict[str, str]:
    """ErrorResponse/NoticeResponse fields (55.8); a repeated code keeps the last, as libpq."""
    fields: dict[str, str] = {}
    while True:
        code = buf[pos]
        if code == 0:
            done(pos + 1, end)
            return fields
        fields[chr(code)], pos = cstr(buf, pos + 1, end)


def _error(buf: bytes, pos: int, end: int) -> b.ErrorResponse:
    return b.ErrorResponse(_response_fields(buf, pos, end))


def _notice(buf: bytes, pos: int, end: int) -> b.NoticeResponse:
    return b.NoticeResponse(_response_fields(buf, pos, end))


def _parameter_description(buf: bytes, pos: int, end: int) -> b.ParameterDescription:
    oids, pos = _array("I", 4, buf, pos)
    done(pos, end)
    return b.ParameterDescription(oids)


CopyResponse = TypeVar("CopyResponse", b.CopyInResponse, b.CopyOutResponse, b.CopyBothResponse)


def _copy_response(cls: type[CopyResponse]) -> Decoder[CopyResponse]:
    def decode(buf: bytes, pos: int, end: int) -> CopyResponse:
        overall = buf[pos]
        formats, pos = _array("h", 2, buf, pos + 1)
        done(pos, end)
        return cls(overall, formats)

    return decode


def _notification(buf: bytes, pos: int, end: int) -> b.NotificationResponse:
    (pid,) = _u32(buf, pos)
    channel, pos = cstr(buf, pos + 4, end)
    payload, pos = cstr(buf, pos, end)
    done(pos, end)
    return b.NotificationResponse(pid, channel, payload)


def _function_call_response(buf: bytes, pos: int, end: int) -> b.FunctionCallResponse:
    (n,) = _i32(buf, pos)
    pos += 4
    if n < -1 or pos + max(n, 0) != end:
        raise MalformedMessage("invalid FunctionCallResponse length")
    return b.FunctionCallResponse(None if n == -1 else buf[pos:end])


def _negotiate(buf: bytes, pos: int, end: int) -> b.NegotiateProtocolVersion:
    minor, count = _u32x2(buf, pos)
    pos += 8
    options = []
    for _ in range(count):
        option, pos = cstr(buf, pos, end)
        options.append(option)
    done(pos, end)
    return b.NegotiateProtocolVersion(minor, tuple(options))


def _table(entries: dict[str, Decoder[M]]) -> list[Decoder[M] | None]:
    table: list[Decoder[M] | None] = [None] * 256
    for char, decoder in entries.items():
        table[ord(char)] = decoder
    return table


FRONTEND_DECODERS: Final[list[Decoder[FrontendMessage] | None]] = _table(
    {
        "Q": _one_string(f.Query),
        "P": _parse,
        "B": _bind,
        "D": _describe,
        "E": _execute,
        "C": _close,
        "S": _empty(f.Sync),
        "H": _empty(f.Flush),
        "X": _empty(f.Terminate),
        "d": _copy_data,
        "c": _empty(f.CopyDone),
        "f": _one_string(f.CopyFail),
        "p": decode_password,
        "F": _function_call,
    }
)

BACKEND_DECODERS: Final[list[Decoder[BackendMessage] | None]] = _table(
    {
        "R": _authentication,
        "K": _backend_key_data,
        "S": _parameter_status,
        "Z": _ready_for_query,
        "T": _row_description,
        "D": _data_row,
        "C": _one_string(b.CommandComplete),
        "I": _empty(b.EmptyQueryResponse),
        "E": _error,
        "N": _notice,
        "1": _empty(b.ParseComplete),
        "2": _empty(b.BindComplete),
        "3": _empty(b.CloseComplete),
        "n": _empty(b.NoData),
        "s": _empty(b.PortalSuspended),
        "t": _parameter_description,
        "G": _copy_response(b.CopyInResponse),
        "H": _copy_response(b.CopyOutResponse),
        "W": _copy_response(b.CopyBothResponse),
        "d": _copy_data,
        "c": _empty(f.CopyDone),
        "A": _notification,
        "V": _function_call_response,
        "v": _negotiate,
    }
)


def decode_body(decoder: Decoder[M] | None, tag: int, buf: bytes, pos: int, end: int) -> M:
    """Run `decoder` on a body; every structural failure becomes MalformedMessage."""
    if decoder is None:
        raise MalformedMessage(f"no decoder for message type {tag}")
    try:
        return decoder(buf, pos, end)
    except (struct.error, ValueError, IndexError) as exc:
        kind = repr(chr(tag)) if tag >= 0 else "startup packet"
        raise MalformedMessage(f"malformed message {kind}: {exc}") from exc
