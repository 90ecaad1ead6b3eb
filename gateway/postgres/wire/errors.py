"""Errors of the PostgreSQL wire codec.

Every error carries the SQLSTATE the gateway should put in the ErrorResponse it sends before it
closes the connection (PostgreSQL docs, Appendix A "PostgreSQL Error Codes")::

    PgWireError                          (base, never raised itself)
    ├── ProtocolError                    08P01 protocol_violation: the peer broke protocol 3.0
    │   ├── MessageTooLarge              54000 program_limit_exceeded: length word over the cap
    │   ├── MalformedMessage             08P01 bad length word, missing NUL, trailing bytes, ...
    │   ├── UnexpectedMessage            08P01 unknown type byte, or a message out of order
    │   │   └── DataAfterEncryptionRequest 08P01 bytes behind SSLRequest / GSSENCRequest / 'S'
    │   │                                      (CVE-2021-23214, CVE-2021-23222 class)
    │   └── UnsupportedProtocolVersion   0A000 feature_not_supported: not protocol 3.x
    ├── EncodeError                      XX000 internal_error: a message the wire cannot carry
    ├── StateError                       XX000 internal_error: the gateway used the codec out of
    │                                          order (e.g. read on before answering SSLRequest)
    └── UpstreamAuthError                08004 the gateway could not log in to the real server
        ├── UnsupportedAuthMethod        08004 the server asked for a method we will not use
        ├── AuthRejected                 the server's own SQLSTATE (e.g. 28P01), else 08004
        ├── ServerVerificationFailed     08006 SCRAM: the server did not prove the password
        └── AuthProtocolViolation        08P01 malformed or out-of-order authentication message
"""

from __future__ import annotations

__all__ = [
    "AuthProtocolViolation",
    "AuthRejected",
    "DataAfterEncryptionRequest",
    "EncodeError",
    "MalformedMessage",
    "MessageTooLarge",
    "PgWireError",
    "ProtocolError",
    "ServerVerificationFailed",
    "StateError",
    "UnexpectedMessage",
    "UnsupportedAuthMethod",
    "UnsupportedProtocolVersion",
    "UpstreamAuthError",
]


class PgWireError(Exception):
    """Base of every error raised by the wire codec; `sqlstate` is what the client should see."""

    sqlstate: str = "XX000"

    def __init__(self, message: str, *, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if sqlstate is not None:
            self.sqlstate = sqlstate


class ProtocolError(PgWireError):
    """The peer sent bytes that are not valid protocol 3.0; the connection must be closed."""

    sqlstate = "08P01"


class MessageTooLarge(ProtocolError):
    """A length word exceeds the configured cap (checked before any allocation)."""

    sqlstate = "54000"


class MalformedMessage(ProtocolError):
    """A message whose length word or body does not match its format."""


class UnexpectedMessage(ProtocolError):
    """An unknown message type, or a known one where the protocol does not allow it."""


class DataAfterEncryptionRequest(UnexpectedMessage):
    """Bytes were buffered behind an encryption request or answer, before the TLS handshake."""


class UnsupportedProtocolVersion(ProtocolError):
    """A startup packet asking for a protocol other than 3.x."""

    sqlstate = "0A000"


class EncodeError(PgWireError):
    """A message that cannot be put on the wire (NUL in a string, a count or length overflow)."""


class StateError(PgWireError):
    """The gateway called the codec in the wrong order; a bug in the caller, not the peer."""


class UpstreamAuthError(PgWireError):
    """The gateway could not authenticate to the upstream server with the credential it holds."""

    sqlstate = "08004"


class UnsupportedAuthMethod(UpstreamAuthError):
    """The upstream asked for an authentication method that is not allowed or not implemented."""


class AuthRejected(UpstreamAuthError):
    """The upstream answered the credential with an ErrorResponse."""


class ServerVerificationFailed(UpstreamAuthError):
    """SCRAM: the upstream's messages or final signature do not prove it knows the password."""

    sqlstate = "08006"


class AuthProtocolViolation(UpstreamAuthError):
    """The upstream sent a malformed or out-of-order message during authentication."""

    sqlstate = "08P01"
