"""The connection-phase state machine shared by ClientParser and ServerParser.

Rules (PostgreSQL docs 55.2.1 "Start-up", 55.2.10 "SSL Session Encryption", 55.2.11 "GSSAPI
Session Encryption", and the server's ProcessStartupPacket):

- A client connection starts in STARTUP and reads untyped packets. It may ask for SSL or GSS
  encryption once each; after one request is refused the other may follow; after one is
  accepted (or both are refused) only StartupMessage or CancelRequest may follow.
- After an encryption request the parser is *pending*: the gateway must answer it and then call
  `encryption_accepted()` (after the TLS handshake) or `encryption_refused()`. Any byte buffered
  while pending arrived before the answer and is refused (DataAfterEncryptionRequest,
  CVE-2021-23214); reading on while pending is a StateError.
- StartupMessage ends the startup phase: typed messages follow (MESSAGES). CancelRequest ends
  the connection (CLOSED): nothing may follow.
- A server connection starts in MESSAGES. Before sending an SSLRequest the gateway calls
  `expect_ssl_response()`; the one-byte answer moves it to SSL_ANSWERED, which is pending in the
  same way (bytes behind 'S' are a man-in-the-middle injection, CVE-2021-23222).

An input from the peer with no table entry is an UnexpectedMessage; a call by the gateway with
no table entry is a StateError.
"""

from __future__ import annotations

from enum import Enum, auto
from typing import Final

from gateway.postgres.wire.errors import StateError, UnexpectedMessage

__all__ = ["PENDING_STATES", "STARTUP_STATES", "TRANSITIONS", "Input", "ParserState", "transition"]


class ParserState(Enum):
    """Where a parser is in the connection's life."""

    STARTUP = auto()  # client: first packet; SSL or GSS may be requested
    STARTUP_SSL_REFUSED = auto()  # client: SSL was refused; GSS may still be requested
    STARTUP_GSS_REFUSED = auto()  # client: GSS was refused; SSL may still be requested
    STARTUP_FINAL = auto()  # client: no more encryption requests
    SSL_PENDING = auto()  # client: SSLRequest not answered yet
    GSS_PENDING = auto()  # client: GSSENCRequest not answered yet
    LAST_PENDING = auto()  # client: the second encryption request not answered yet
    AWAIT_SSL_RESPONSE = auto()  # server: our SSLRequest is out, the answer byte is next
    SSL_ANSWERED = auto()  # server: 'S' or 'N' received, handshake (or refusal) not done yet
    MESSAGES = auto()  # typed messages, both directions
    CLOSED = auto()  # client: CancelRequest received; nothing may follow


class Input(Enum):
    """What can move a parser: a packet from the peer, or a call by the gateway."""

    SSL_REQUEST = auto()
    GSSENC_REQUEST = auto()
    CANCEL_REQUEST = auto()
    STARTUP_MESSAGE = auto()
    SSL_RESPONSE = auto()
    ENCRYPTION_ACCEPTED = auto()  # local
    ENCRYPTION_REFUSED = auto()  # local
    EXPECT_SSL_RESPONSE = auto()  # local


_LOCAL: Final = frozenset(
    {Input.ENCRYPTION_ACCEPTED, Input.ENCRYPTION_REFUSED, Input.EXPECT_SSL_RESPONSE}
)

S = ParserState
I = Input  # noqa: E741
_ENDS_STARTUP: Final = {I.STARTUP_MESSAGE: S.MESSAGES, I.CANCEL_REQUEST: S.CLOSED}
_ANSWERS_LAST: Final = {
    I.ENCRYPTION_ACCEPTED: S.STARTUP_FINAL,
    I.ENCRYPTION_REFUSED: S.STARTUP_FINAL,
}

TRANSITIONS: Final[dict[ParserState, dict[Input, ParserState]]] = {
    S.STARTUP: {I.SSL_REQUEST: S.SSL_PENDING, I.GSSENC_REQUEST: S.GSS_PENDING, **_ENDS_STARTUP},
    S.STARTUP_SSL_REFUSED: {I.GSSENC_REQUEST: S.LAST_PENDING, **_ENDS_STARTUP},
    S.STARTUP_GSS_REFUSED: {I.SSL_REQUEST: S.LAST_PENDING, **_ENDS_STARTUP},
    S.STARTUP_FINAL: {**_ENDS_STARTUP},
    S.SSL_PENDING: {
        I.ENCRYPTION_ACCEPTED: S.STARTUP_FINAL,
        I.ENCRYPTION_REFUSED: S.STARTUP_SSL_REFUSED,
    },
    S.GSS_PENDING: {
        I.ENCRYPTION_ACCEPTED: S.STARTUP_FINAL,
        I.ENCRYPTION_REFUSED: S.STARTUP_GSS_REFUSED,
    },
    S.LAST_PENDING: {**_ANSWERS_LAST},
    S.MESSAGES: {I.EXPECT_SSL_RESPONSE: S.AWAIT_SSL_RESPONSE},
    S.AWAIT_SSL_RESPONSE: {I.SSL_RESPONSE: S.SSL_ANSWERED},
    S.SSL_ANSWERED: {I.ENCRYPTION_ACCEPTED: S.MESSAGES, I.ENCRYPTION_REFUSED: S.MESSAGES},
    S.CLOSED: {},
}

STARTUP_STATES: Final = frozenset(
    {S.STARTUP, S.STARTUP_SSL_REFUSED, S.STARTUP_GSS_REFUSED, S.STARTUP_FINAL}
)
PENDING_STATES: Final = frozenset({S.SSL_PENDING, S.GSS_PENDING, S.LAST_PENDING, S.SSL_ANSWERED})


def transition(state: ParserState, event: Input) -> ParserState:
    """The state after `event`; raise if the table has no entry for (state, event)."""
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        if event in _LOCAL:
            raise StateError(f"{event.name} is not allowed in state {state.name}") from None
        raise UnexpectedMessage(f"{event.name} is not allowed in state {state.name}") from None
