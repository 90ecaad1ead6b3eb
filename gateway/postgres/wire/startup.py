"""Untyped packets of the startup phase (PostgreSQL docs 55.2.1 "Start-up", 55.7 "Message
Formats": StartupMessage, SSLRequest, GSSENCRequest, CancelRequest) and the one-byte answer to
SSLRequest (55.2.10 "SSL Session Encryption")."""

from __future__ import annotations

import struct
from typing import Final

from gateway.postgres.wire import frontend as f
from gateway.postgres.wire.decode import cstr, done
from gateway.postgres.wire.errors import MalformedMessage, UnsupportedProtocolVersion
from gateway.postgres.wire.messages import BackendMessage, FrontendMessage

__all__ = [
    "CANCEL_REQUEST_CODE",
    "GSSENC_REQUEST_CODE",
    "SSL_REQUEST_CODE",
    "decode_ssl_response",
    "decode_startup_packet",
]

SSL_REQUEST_CODE: Final = 80877103  # (1234 << 16) | 5679
GSSENC_REQUEST_CODE: Final = 80877104  # (1234 << 16) | 5680
CANCEL_REQUEST_CODE: Final = 80877102  # (1234 << 16) | 5678

_i32 = struct.Struct("!i").unpack_from
_u32x2 = struct.Struct("!II").unpack_from


def decode_startup_packet(buf: bytes, pos: int, end: int) -> FrontendMessage:
    """The body of an untyped startup-phase packet (after its length word)."""
    (code,) = _i32(buf, pos)
    pos += 4
    if code == SSL_REQUEST_CODE:
        done(pos, end)
        return f.SSLRequest()
    if code == GSSENC_REQUEST_CODE:
        done(pos, end)
        return f.GSSENCRequest()
    if code == CANCEL_REQUEST_CODE:
        done(pos + 8, end)
        return f.CancelRequest(*_u32x2(buf, pos))
    if code >> 16 != 3:
        raise UnsupportedProtocolVersion(
            f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}"
        )
    return f.StartupMessage(_startup_params(buf, pos, end), code)


def _startup_params(buf: bytes, pos: int, end: int) -> dict[str, str]:
    """Name/value Strings ended by an empty name, which must be the last byte (55.7)."""
    params: dict[str, str] = {}
    while True:
        name, pos = cstr(buf, pos, end)
        if not name:
            done(pos, end)
            return params
        if name in params:
            raise MalformedMessage(f"startup parameter {name!r} given twice")
        params[name], pos = cstr(buf, pos, end)


def decode_ssl_response(buf: bytes, pos: int, end: int) -> BackendMessage:
    """The one-byte answer to SSLRequest: 'S' accepted, 'N' refused (55.2.10)."""
    answer = buf[pos:end]
    if answer not in (b"S", b"N"):
        raise MalformedMessage(f"invalid answer {answer!r} to SSLRequest")
    return f.SSLResponse(answer == b"S")
