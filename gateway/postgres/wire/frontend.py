"""Frontend messages and the untyped startup-phase packets (PostgreSQL docs 55.7 "Message
Formats"). Conventions are described in gateway.postgres.wire.messages; import from there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PROTOCOL_3_0 = 196608  # (3 << 16) | 0, "StartupMessage"


# --- Startup phase (untyped packets) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartupMessage:
    """StartupMessage: protocol version and the name/value parameters (user, database, ...)."""

    params: dict[str, str]
    protocol_version: int = PROTOCOL_3_0


@dataclass(frozen=True, slots=True)
class SSLRequest:
    """SSLRequest (code 80877103); answered with one byte, see SSLResponse."""


@dataclass(frozen=True, slots=True)
class GSSENCRequest:
    """GSSENCRequest (code 80877104); answered with one byte 'G' or 'N'."""


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """CancelRequest (code 80877102), sent on a fresh connection."""

    process_id: int
    secret_key: int


@dataclass(frozen=True, slots=True)
class SSLResponse:
    """The single byte 'S' (accepted) or 'N' (refused) that answers an SSLRequest (55.2.10)."""

    accepted: bool


# --- Frontend, typed ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """Query ('Q'): simple query protocol, possibly several statements."""

    text: str


@dataclass(frozen=True, slots=True)
class Parse:
    """Parse ('P'): prepare `query` as statement `name` ('' = unnamed)."""

    name: str
    query: str
    param_types: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Bind:
    """Bind ('B'): bind parameter values to a statement, creating a portal."""

    portal: str
    statement: str
    param_formats: tuple[int, ...] = ()
    params: tuple[bytes | None, ...] = ()
    result_formats: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Describe:
    """Describe ('D'): describe a prepared statement ('S') or a portal ('P')."""

    kind: Literal["S", "P"]
    name: str


@dataclass(frozen=True, slots=True)
class Execute:
    """Execute ('E'): run a portal; `max_rows` 0 means no limit."""

    portal: str
    max_rows: int = 0


@dataclass(frozen=True, slots=True)
class Close:
    """Close ('C'): close a prepared statement ('S') or a portal ('P')."""

    kind: Literal["S", "P"]
    name: str


@dataclass(frozen=True, slots=True)
class Sync:
    """Sync ('S'): end of an extended-query batch."""


@dataclass(frozen=True, slots=True)
class Flush:
    """Flush ('H'): ask the server to send what it has buffered."""


@dataclass(frozen=True, slots=True)
class Terminate:
    """Terminate ('X'): the client is closing the connection."""


@dataclass(frozen=True, slots=True)
class CopyFail:
    """CopyFail ('f'): the client aborts COPY FROM STDIN."""

    message: str


@dataclass(frozen=True, slots=True)
class PasswordMessage:
    """PasswordMessage ('p'): cleartext or md5-hashed password."""

    password: str


@dataclass(frozen=True, slots=True)
class SASLInitialResponse:
    """SASLInitialResponse ('p'): chosen mechanism and client-first-message (None = absent)."""

    mechanism: str
    data: bytes | None


@dataclass(frozen=True, slots=True)
class SASLResponse:
    """SASLResponse ('p'): further SASL data, e.g. SCRAM client-final-message."""

    data: bytes


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """FunctionCall ('F'): the legacy fast-path function-call sub-protocol."""

    function_oid: int
    arg_formats: tuple[int, ...]
    args: tuple[bytes | None, ...]
    result_format: int


# --- Both directions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CopyData:
    """CopyData ('d'): a chunk of COPY data, sent by either side."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CopyDone:
    """CopyDone ('c'): end of COPY data, sent by either side."""
