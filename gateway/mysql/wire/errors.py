"""Errors of the MySQL wire codec.

Every error carries the MySQL error number and SQLSTATE the gateway puts in the ERR packet it
sends before it closes the connection (MySQL "Server Error Message Reference")::

    MyWireError                        (base, never raised itself)
    ├── ProtocolError                  1835 / 08S01 the peer broke the client/server protocol
    │   ├── PacketTooLarge             1153 / 08S01 a payload over the max_allowed_packet cap
    │   ├── MalformedPacket            1835 / 08S01 a field runs past the end of its payload
    │   ├── OutOfSequence              1156 / 08S01 a sequence id other than the expected one
    │   └── UnexpectedPacket           1047 / 08S01 a command or reply where none may come
    ├── EncodeError                    1105 / HY000 a value the wire cannot carry (the caller's bug)
    └── UpstreamAuthError              1045 / 28000 the gateway could not log in to the real server
        ├── UnsupportedAuthMethod      1251 / 08004 the server asked for a plugin we will not use
        └── AuthRejected               the server's own error number and SQLSTATE
"""

from __future__ import annotations

__all__ = [
    "AuthRejected",
    "EncodeError",
    "MalformedPacket",
    "MyWireError",
    "OutOfSequence",
    "PacketTooLarge",
    "ProtocolError",
    "UnexpectedPacket",
    "UnsupportedAuthMethod",
    "UpstreamAuthError",
]


class MyWireError(Exception):
    """Base of every error the codec raises; ``code`` and ``sqlstate`` are what the client sees."""

    code: int = 1105  # ER_UNKNOWN_ERROR
    sqlstate: str = "HY000"

    def __init__(self, message: str, *, code: int | None = None, sqlstate: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if sqlstate is not None:
            self.sqlstate = sqlstate


class ProtocolError(MyWireError):
    """The peer sent bytes that are not valid protocol; the connection must be closed."""

    code = 1835  # ER_MALFORMED_PACKET
    sqlstate = "08S01"


class PacketTooLarge(ProtocolError):
    """A payload over the cap (checked before it is buffered)."""

    code = 1153  # ER_NET_PACKET_TOO_LARGE


class MalformedPacket(ProtocolError):
    """A field runs past the end of its payload, or a payload has bytes its format does not."""


class OutOfSequence(ProtocolError):
    """A packet's sequence id is not the next one of its exchange."""

    code = 1156  # ER_NET_PACKETS_OUT_OF_ORDER


class UnexpectedPacket(ProtocolError):
    """An unknown command byte, or a packet where the protocol allows none."""

    code = 1047  # ER_UNKNOWN_COM_ERROR


class EncodeError(MyWireError):
    """A value that cannot be put on the wire (an integer out of range, a NUL in a NUL string)."""


class UpstreamAuthError(MyWireError):
    """The gateway could not authenticate upstream with the credential it holds."""

    code = 1045  # ER_ACCESS_DENIED_ERROR
    sqlstate = "28000"


class UnsupportedAuthMethod(UpstreamAuthError):
    """The upstream asked for an authentication plugin that is not allowed or not implemented."""

    code = 1251  # ER_NOT_SUPPORTED_AUTH_MODE
    sqlstate = "08004"


class AuthRejected(UpstreamAuthError):
    """The upstream answered the credential with an ERR packet (its code and state kept)."""
