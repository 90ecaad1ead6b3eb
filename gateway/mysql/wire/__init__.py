"""Sans-IO codec for the MySQL client/server protocol (MySQL "Client/Server Protocol"; MariaDB's
"Clients & Connectors / Client/Server Protocol" where MariaDB differs).

No I/O happens here (an import-linter contract forbids asyncio, socket and ssl): the listener
feeds bytes in and writes the bytes the codec returns. ``packets`` frames payloads (16 MB
splitting), ``handshake`` is the connection phase, ``messages`` the generic replies and result
sets, ``state`` where a command's reply stands. Errors, with the MySQL error number and
SQLSTATE to report, are drawn in :mod:`gateway.mysql.wire.errors`."""

from gateway.mysql.wire.basic import (
    NULL_COLUMN,
    Reader,
    write_int,
    write_lenenc_bytes,
    write_lenenc_int,
)
from gateway.mysql.wire.constants import CHARSET_UTF8MB4, MAX_PACKET, Capability, Command, Status
from gateway.mysql.wire.errors import (
    AuthRejected,
    EncodeError,
    MalformedPacket,
    MyWireError,
    OutOfSequence,
    PacketTooLarge,
    ProtocolError,
    UnexpectedPacket,
    UnsupportedAuthMethod,
    UpstreamAuthError,
)
from gateway.mysql.wire.handshake import (
    AuthMoreData,
    AuthSwitchRequest,
    Handshake,
    HandshakeResponse,
    SslRequest,
    is_ssl_request,
    scramble_caching_sha2,
    scramble_native,
)
from gateway.mysql.wire.messages import (
    ColumnDefinition,
    Eof,
    Err,
    Ok,
    decode_text_row,
    encode_text_row,
    is_eof,
    is_terminator,
)
from gateway.mysql.wire.packets import (
    DEFAULT_MAX_PAYLOAD,
    NEED_DATA,
    NeedData,
    Packet,
    PacketReader,
    encode_packet,
    packet_count,
)
from gateway.mysql.wire.state import Expect, Input, Reply, ReplyTracker, transition

__all__ = [
    "CHARSET_UTF8MB4",
    "DEFAULT_MAX_PAYLOAD",
    "MAX_PACKET",
    "NEED_DATA",
    "NULL_COLUMN",
    "AuthMoreData",
    "AuthRejected",
    "AuthSwitchRequest",
    "Capability",
    "ColumnDefinition",
    "Command",
    "EncodeError",
    "Eof",
    "Err",
    "Expect",
    "Handshake",
    "HandshakeResponse",
    "Input",
    "MalformedPacket",
    "MyWireError",
    "NeedData",
    "Ok",
    "OutOfSequence",
    "Packet",
    "PacketReader",
    "PacketTooLarge",
    "ProtocolError",
    "Reader",
    "Reply",
    "ReplyTracker",
    "SslRequest",
    "Status",
    "UnexpectedPacket",
    "UnsupportedAuthMethod",
    "UpstreamAuthError",
    "decode_text_row",
    "encode_packet",
    "encode_text_row",
    "is_eof",
    "is_ssl_request",
    "is_terminator",
    "packet_count",
    "scramble_caching_sha2",
    "scramble_native",
    "transition",
    "write_int",
    "write_lenenc_bytes",
    "write_lenenc_int",
]
