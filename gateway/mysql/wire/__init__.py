"""Sans-IO codec for the MySQL client/server protocol (MySQL "Client/Server Protocol"; MariaDB's
"Clients & Connectors / Client/Server Protocol" where MariaDB differs).

No I/O happens here (an import-linter contract forbids asyncio, socket and ssl): the listener
feeds bytes in and writes the bytes the codec returns. Errors, with the MySQL error number and
SQLSTATE to report, are drawn in :mod:`gateway.mysql.wire.errors`."""

from gateway.mysql.wire.basic import (
    NULL_COLUMN,
    Reader,
    write_int,
    write_lenenc_bytes,
    write_lenenc_int,
)
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

__all__ = [
    "NULL_COLUMN",
    "AuthRejected",
    "EncodeError",
    "MalformedPacket",
    "MyWireError",
    "OutOfSequence",
    "PacketTooLarge",
    "ProtocolError",
    "Reader",
    "UnexpectedPacket",
    "UnsupportedAuthMethod",
    "UpstreamAuthError",
    "write_int",
    "write_lenenc_bytes",
    "write_lenenc_int",
]
