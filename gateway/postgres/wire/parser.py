"""Sans-IO parsers in the h11 style: bytes in with `receive_data`, messages out.

`ClientParser` reads what a client sends to the gateway (startup packets, then typed frontend
messages); `ServerParser` reads what the upstream server sends (optionally the one-byte answer to
our SSLRequest, then typed backend messages). Both offer three levels:

- `next_event()` -> a decoded message, or NEED_DATA.
- `next_frame()` -> a Frame (type byte and offsets into an immutable read buffer), or NEED_DATA;
  `decode(frame)` turns it into a message when the gateway needs to look inside.
- `take_run(inspect)` -> one memoryview over all whole messages at the front of the buffer whose
  type byte is not in `inspect`, so a proxy forwards them with a single write::

      while True:
          run = parser.take_run(INSPECT)          # e.g. {BackendTag.ROW_DESCRIPTION, ...}
          if run:
              transport.write(run)
          frame = parser.next_frame()
          if frame is NEED_DATA:
              break
          handle(parser.decode(frame)) if must_change(frame) else transport.write(frame.raw)

Length caps (checked on the length word before anything is buffered or joined): startup packet
10,000 bytes; from a client Sync/Flush/Describe/Execute/Close/CopyDone/Terminate 10,000,
password/SASL 65,535, Query/Parse/Bind/FunctionCall/CopyData/CopyFail `max_message_size`
(default 64 MiB); from a server fixed-size messages their exact size, Authentication 65,535,
everything else `max_message_size` (default 1 GiB - 1, the server's MaxAllocSize). Unknown type
bytes are refused. The connection-phase rules live in gateway.postgres.wire.state.
"""

from __future__ import annotations

from collections.abc import Container

from gateway.postgres.wire.decode import (
    BACKEND_DECODERS,
    FRONTEND_DECODERS,
    Decoder,
    decode_body,
    decode_password,
    decode_sasl_initial_response,
    decode_sasl_response,
)
from gateway.postgres.wire.errors import (
    DataAfterEncryptionRequest,
    MalformedMessage,
    MessageTooLarge,
    StateError,
    UnexpectedMessage,
    UnsupportedProtocolVersion,
)
from gateway.postgres.wire.framing import (
    DEFAULT_CLIENT_MAX_MESSAGE,
    DEFAULT_SERVER_MAX_MESSAGE,
    NEED_DATA,
    SSL_RESPONSE,
    STARTUP_PACKET,
    STARTUP_PACKET_LIMIT,
    Frame,
    Limits,
    NeedData,
    Reader,
    bad_header,
    client_limits,
    new_frame,
    server_limits,
    unpack_i32,
)
from gateway.postgres.wire.frontend import PasswordMessage, SASLInitialResponse, SASLResponse
from gateway.postgres.wire.messages import BackendMessage, FrontendMessage
from gateway.postgres.wire.startup import (
    CANCEL_REQUEST_CODE,
    GSSENC_REQUEST_CODE,
    SSL_REQUEST_CODE,
    decode_ssl_response,
    decode_startup_packet,
)
from gateway.postgres.wire.state import (
    PENDING_STATES,
    STARTUP_STATES,
    Input,
    ParserState,
    transition,
)

__all__ = ["ClientParser", "ServerParser"]

_EMPTY = memoryview(b"")
_MESSAGES = ParserState.MESSAGES
# Startup packet code -> (event, exact length word or 0 for "any").
_STARTUP_CODES = {
    SSL_REQUEST_CODE: (Input.SSL_REQUEST, 8),
    GSSENC_REQUEST_CODE: (Input.GSSENC_REQUEST, 8),
    CANCEL_REQUEST_CODE: (Input.CANCEL_REQUEST, 16),
}


class _Parser(Reader):
    """Framing, encryption hand-off and the phase state machine shared by both parsers."""

    def __init__(self, limits: Limits, state: ParserState) -> None:
        super().__init__(limits)
        self._state = state

    @property
    def state(self) -> ParserState:
        """The connection phase (see gateway.postgres.wire.state)."""
        return self._state

    def next_frame(self) -> Frame | NeedData:
        """The next whole message as a Frame, or NEED_DATA; raises ProtocolError.

        Typed messages: Byte1 type, Int32 length (including itself), body (55.7). The length
        word is checked against the cap for the type before anything is joined."""
        if self._state is not _MESSAGES:
            return self._next_special()
        buf = self._buf
        pos = self._pos
        if len(buf) - pos < 5:
            if not self._fill(5):
                return NEED_DATA
            buf, pos = self._buf, self._pos
        tag = buf[pos]
        (length,) = unpack_i32(buf, pos + 1)
        if not 4 <= length <= self._limits[tag]:
            raise bad_header(tag, length, self._limits)
        end = pos + 1 + length
        if end > len(buf):
            if not self._fill(1 + length):
                return NEED_DATA
            buf, pos = self._buf, self._pos
            end = pos + 1 + length
        self._pos = end
        return new_frame(Frame, (tag, buf, pos, end))

    def take_run(self, inspect: Container[int]) -> memoryview:
        """Consume the whole messages at the front whose type is not in `inspect`, as one
        zero-copy view (empty if none, or outside the typed-message phase)."""
        if self._state is not _MESSAGES:
            return _EMPTY
        return self._take_run(inspect)

    def encryption_accepted(self) -> None:
        """Call after the TLS handshake that answered an encryption request succeeded."""
        self._answer(Input.ENCRYPTION_ACCEPTED)

    def encryption_refused(self) -> None:
        """Call after answering 'N' (client side) or receiving 'N' and going on in plaintext."""
        self._answer(Input.ENCRYPTION_REFUSED)

    def _answer(self, event: Input) -> None:
        if self._state in PENDING_STATES and self.pending_bytes():
            raise DataAfterEncryptionRequest(
                f"{self.pending_bytes()} bytes arrived before the encryption request was answered"
            )
        self._state = transition(self._state, event)

    def _next_special(self) -> Frame | NeedData:
        state = self._state
        if state in STARTUP_STATES:
            return self._next_startup()
        if state is ParserState.AWAIT_SSL_RESPONSE:
            return self._next_ssl_response()
        if self.pending_bytes():
            if state in PENDING_STATES:
                raise DataAfterEncryptionRequest("bytes arrived before the encryption handshake")
            raise UnexpectedMessage(f"data received in state {state.name}")
        if state in PENDING_STATES:
            raise StateError("answer the encryption request before reading on")
        return NEED_DATA

    def _next_startup(self) -> Frame | NeedData:
        """Frame an untyped packet: Int32 length (including itself), Int32 code, ... (55.7)."""
        if not self._fill(4):
            return NEED_DATA
        (length,) = unpack_i32(self._buf, self._pos)
        if length > STARTUP_PACKET_LIMIT + 4:
            raise MessageTooLarge(f"startup packet of {length} bytes exceeds 10,000")
        if length < 8:
            raise MalformedMessage(f"invalid startup packet length {length}")
        if not self._fill(length):
            return NEED_DATA
        buf, pos = self._buf, self._pos
        (code,) = unpack_i32(buf, pos + 4)
        event, size = _STARTUP_CODES.get(code, (Input.STARTUP_MESSAGE, 0))
        if size and length != size:
            raise MalformedMessage(f"{event.name} packet of {length} bytes, expected {size}")
        if event is Input.STARTUP_MESSAGE and code >> 16 != 3:
            raise UnsupportedProtocolVersion(f"unsupported protocol {code >> 16}.{code & 0xFFFF}")
        self._state = transition(self._state, event)
        self._pos = pos + length
        return Frame(STARTUP_PACKET, buf, pos, pos + length)

    def _next_ssl_response(self) -> Frame | NeedData:
        """Frame the single byte that answers our SSLRequest (55.2.10)."""
        if not self._fill(1):
            return NEED_DATA
        buf, pos = self._buf, self._pos
        if buf[pos] not in b"SN":
            raise UnexpectedMessage(f"invalid answer {chr(buf[pos])!r} to SSLRequest")
        self._state = transition(self._state, Input.SSL_RESPONSE)
        self._pos = pos + 1
        return Frame(SSL_RESPONSE, buf, pos, pos + 1)


class ClientParser(_Parser):
    """Reads a client's byte stream: startup packets first, then typed frontend messages."""

    def __init__(
        self, *, max_message_size: int = DEFAULT_CLIENT_MAX_MESSAGE, startup: bool = True
    ) -> None:
        """`startup=False` starts in the typed-message phase (the startup packet was consumed
        elsewhere)."""
        _check_cap(max_message_size)
        state = ParserState.STARTUP if startup else ParserState.MESSAGES
        super().__init__(client_limits(max_message_size), state)
        self._decoders: list[Decoder[FrontendMessage] | None] = list(FRONTEND_DECODERS)

    def expect_password_message(
        self, kind: type[PasswordMessage | SASLInitialResponse | SASLResponse]
    ) -> None:
        """Choose how a 'p' message is read; it depends on the authentication request sent
        (default PasswordMessage)."""
        decoders: dict[type, Decoder[FrontendMessage]] = {
            PasswordMessage: decode_password,
            SASLInitialResponse: decode_sasl_initial_response,
            SASLResponse: decode_sasl_response,
        }
        self._decoders[ord("p")] = decoders[kind]

    def decode(self, frame: Frame) -> FrontendMessage:
        """The message in a frame returned by this parser's next_frame()."""
        tag, buf, start, end = frame
        if tag >= 0:
            return decode_body(self._decoders[tag], tag, buf, start + 5, end)
        if tag == STARTUP_PACKET:
            return decode_body(decode_startup_packet, tag, buf, start + 4, end)
        raise StateError(f"frame kind {tag} does not come from a client")

    def next_event(self) -> FrontendMessage | NeedData:
        """The next whole message, decoded, or NEED_DATA; raises ProtocolError."""
        frame = self.next_frame()
        if frame is NEED_DATA:
            return NEED_DATA
        return self.decode(frame)


class ServerParser(_Parser):
    """Reads the upstream server's byte stream: typed backend messages."""

    def __init__(self, *, max_message_size: int = DEFAULT_SERVER_MAX_MESSAGE) -> None:
        _check_cap(max_message_size)
        super().__init__(server_limits(max_message_size), ParserState.MESSAGES)

    def expect_ssl_response(self) -> None:
        """Call before sending SSLRequest: the next byte is 'S' or 'N', returned as SSLResponse;
        then call encryption_accepted() after the handshake, or encryption_refused()."""
        if self.pending_bytes():
            raise StateError("the server sent data before our SSLRequest")
        self._state = transition(self._state, Input.EXPECT_SSL_RESPONSE)

    def decode(self, frame: Frame) -> BackendMessage:
        """The message in a frame returned by this parser's next_frame()."""
        tag, buf, start, end = frame
        if tag >= 0:
            return decode_body(BACKEND_DECODERS[tag], tag, buf, start + 5, end)
        if tag == SSL_RESPONSE:
            return decode_body(decode_ssl_response, tag, buf, start, end)
        raise StateError(f"frame kind {tag} does not come from a server")

    def next_event(self) -> BackendMessage | NeedData:
        """The next whole message, decoded, or NEED_DATA; raises ProtocolError."""
        frame = self.next_frame()
        if frame is NEED_DATA:
            return NEED_DATA
        return self.decode(frame)


def _check_cap(max_message_size: int) -> None:
    if not 10_000 <= max_message_size <= 0x7FFF_FFFB:
        raise ValueError("max_message_size must be between 10,000 and 2**31 - 5")
