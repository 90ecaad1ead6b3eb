"""The startup phase: encryption requests, CancelRequest, StartupMessage and their limits."""

from __future__ import annotations

import pytest

from gateway.postgres.wire import (
    NEED_DATA,
    CancelRequest,
    ClientParser,
    DataAfterEncryptionRequest,
    GSSENCRequest,
    MalformedMessage,
    MessageTooLarge,
    ParseComplete,
    ParserState,
    Query,
    ServerParser,
    SSLRequest,
    SSLResponse,
    StartupMessage,
    StateError,
    Sync,
    UnexpectedMessage,
    UnsupportedProtocolVersion,
    encode,
)

from .cases import i32, untyped

SSL = encode(SSLRequest())
GSS = encode(GSSENCRequest())
STARTUP = encode(StartupMessage({"user": "alice", "database": "pg-prod"}))


def test_startup_then_typed_messages() -> None:
    """StartupMessage ends the startup phase; the bytes behind it are read as typed messages."""
    parser = ClientParser()
    parser.receive_data(STARTUP + encode(Query("SELECT 1")) + encode(Sync()))
    assert parser.next_event() == StartupMessage({"user": "alice", "database": "pg-prod"})
    assert parser.state is ParserState.MESSAGES
    assert parser.next_event() == Query("SELECT 1")
    assert parser.next_event() == Sync()
    assert parser.next_event() is NEED_DATA


def test_ssl_accepted_then_startup_inside_tls() -> None:
    """After SSLRequest is accepted, the (decrypted) StartupMessage is read normally."""
    parser = ClientParser()
    parser.receive_data(SSL)
    assert parser.next_event() == SSLRequest()
    assert parser.state is ParserState.SSL_PENDING
    parser.encryption_accepted()
    parser.receive_data(STARTUP)
    assert isinstance(parser.next_event(), StartupMessage)


def test_bytes_buffered_behind_ssl_request_are_refused() -> None:
    """Bytes that arrived with the SSLRequest are reported and refused (CVE-2021-23214)."""
    parser = ClientParser()
    parser.receive_data(SSL + encode(Query("SELECT 'injected'")))
    assert parser.next_event() == SSLRequest()
    assert parser.pending_bytes() == len(encode(Query("SELECT 'injected'")))
    with pytest.raises(DataAfterEncryptionRequest):
        parser.encryption_accepted()
    with pytest.raises(DataAfterEncryptionRequest):
        parser.next_event()


def test_bytes_arriving_after_ssl_request_before_answer_are_refused() -> None:
    """Bytes received in a later read, before the answer, are refused as well."""
    parser = ClientParser()
    parser.receive_data(SSL)
    assert parser.next_event() == SSLRequest()
    parser.receive_data(STARTUP)
    with pytest.raises(DataAfterEncryptionRequest):
        parser.encryption_refused()


def test_reading_on_without_answering_is_a_state_error() -> None:
    """Asking for the next event before answering the encryption request is a caller bug."""
    parser = ClientParser()
    parser.receive_data(SSL)
    parser.next_event()
    with pytest.raises(StateError):
        parser.next_event()


def test_ssl_refused_then_gss_then_startup() -> None:
    """After SSL is refused the client may still ask for GSS, then send StartupMessage."""
    parser = ClientParser()
    parser.receive_data(SSL)
    parser.next_event()
    parser.encryption_refused()
    parser.receive_data(GSS)
    assert parser.next_event() == GSSENCRequest()
    parser.encryption_refused()
    parser.receive_data(STARTUP)
    assert isinstance(parser.next_event(), StartupMessage)


@pytest.mark.parametrize("second", [SSL, GSS], ids=["ssl", "gss"])
def test_second_request_after_tls_is_refused(second: bytes) -> None:
    """Once encryption is on, another encryption request is a protocol violation."""
    parser = ClientParser()
    parser.receive_data(SSL)
    parser.next_event()
    parser.encryption_accepted()
    parser.receive_data(second)
    with pytest.raises(UnexpectedMessage):
        parser.next_event()


def test_repeated_ssl_request_after_refusal_is_refused() -> None:
    """SSLRequest twice is refused, as the server's ProcessStartupPacket does."""
    parser = ClientParser()
    parser.receive_data(SSL)
    parser.next_event()
    parser.encryption_refused()
    parser.receive_data(SSL)
    with pytest.raises(UnexpectedMessage):
        parser.next_event()


def test_cancel_request_closes_the_connection() -> None:
    """CancelRequest is the only packet on its connection; anything behind it is refused."""
    parser = ClientParser()
    parser.receive_data(encode(CancelRequest(7, 9)))
    assert parser.next_event() == CancelRequest(7, 9)
    assert parser.state is ParserState.CLOSED
    assert parser.next_event() is NEED_DATA
    parser.receive_data(b"x")
    with pytest.raises(UnexpectedMessage):
        parser.next_event()


def test_startup_packet_at_the_limit_is_accepted() -> None:
    """A startup packet whose body is exactly 10,000 bytes is read."""
    body = i32(196608) + b"application_name\0" + b"a" * (10_000 - 4 - 17 - 2) + b"\0\0"
    parser = ClientParser()
    parser.receive_data(untyped(body))
    event = parser.next_event()
    assert isinstance(event, StartupMessage)
    assert len(event.params["application_name"]) == 10_000 - 23


def test_oversized_startup_packet_is_refused_before_buffering() -> None:
    """A length word over 10,000 is refused on its first 4 bytes, before the body arrives."""
    parser = ClientParser()
    parser.receive_data((10_005).to_bytes(4, "big"))
    with pytest.raises(MessageTooLarge) as info:
        parser.next_event()
    assert info.value.sqlstate == "54000"


@pytest.mark.parametrize(
    ("packet", "error"),
    [
        (i32(7) + b"\0\0\0", MalformedMessage),
        (i32(-1), MalformedMessage),
        (i32(-(2**31)), MalformedMessage),
        (untyped(i32(131072) + b"\0"), UnsupportedProtocolVersion),
        (untyped(i32(0x04D2162F) + b"\0\0\0\0"), MalformedMessage),
        (untyped(i32(0x04D2162E) + i32(1)), MalformedMessage),
        (untyped(i32(196608) + b"user\0a\0"), MalformedMessage),
        (untyped(i32(196608) + b"user\0a\0\0\0"), MalformedMessage),
        (untyped(i32(196608) + b"user\0a\0user\0b\0\0"), MalformedMessage),
        (untyped(i32(196608) + b"user\0a"), MalformedMessage),
    ],
    ids=[
        "short",
        "negative",
        "int-min",
        "protocol-2",
        "ssl-with-body",
        "cancel-short",
        "no-terminator",
        "bytes-after-terminator",
        "duplicate-parameter",
        "unterminated-value",
    ],
)
def test_bad_startup_packets(packet: bytes, error: type[Exception]) -> None:
    """Malformed startup packets raise the matching ProtocolError."""
    parser = ClientParser()
    parser.receive_data(packet)
    with pytest.raises(error):
        parser.next_event()


def test_unsupported_protocol_carries_feature_not_supported() -> None:
    """Protocol 2.0 is refused with SQLSTATE 0A000."""
    parser = ClientParser()
    parser.receive_data(untyped(i32(131072) + b"\0"))
    with pytest.raises(UnsupportedProtocolVersion) as info:
        parser.next_event()
    assert info.value.sqlstate == "0A000"


def test_server_ssl_answer_then_handshake() -> None:
    """The gateway as client reads 'S', then typed messages after the handshake."""
    parser = ServerParser()
    parser.expect_ssl_response()
    parser.receive_data(b"S")
    assert parser.next_event() == SSLResponse(True)
    parser.encryption_accepted()
    parser.receive_data(encode(ParseComplete()))
    assert parser.state is ParserState.MESSAGES
    assert parser.next_event() is not NEED_DATA


def test_server_bytes_behind_ssl_answer_are_refused() -> None:
    """Bytes behind the server's 'S', before the handshake, are refused (CVE-2021-23222)."""
    parser = ServerParser()
    parser.expect_ssl_response()
    parser.receive_data(b"S" + b"R\0\0\0\x08\0\0\0\0")
    assert parser.next_event() == SSLResponse(True)
    assert parser.pending_bytes() == 9
    with pytest.raises(DataAfterEncryptionRequest):
        parser.encryption_accepted()


def test_server_invalid_ssl_answer() -> None:
    """Anything but 'S' or 'N' as the answer to SSLRequest is a protocol violation."""
    parser = ServerParser()
    parser.expect_ssl_response()
    parser.receive_data(b"E")
    with pytest.raises(UnexpectedMessage):
        parser.next_event()


def test_expect_ssl_response_after_data_is_a_state_error() -> None:
    """expect_ssl_response() once the server has spoken is a caller bug."""
    parser = ServerParser()
    parser.receive_data(b"Z")
    with pytest.raises(StateError):
        parser.expect_ssl_response()


def test_answering_without_a_request_is_a_state_error() -> None:
    """encryption_accepted() with no request outstanding is a caller bug."""
    with pytest.raises(StateError):
        ClientParser().encryption_accepted()
