"""Framing: length validation before allocation, buffer reuse, runs, malformed bodies."""

from __future__ import annotations

import pytest

from gateway.postgres.wire import (
    NEED_DATA,
    STARTUP_PACKET,
    BackendTag,
    ClientParser,
    CommandComplete,
    DataRow,
    ErrorResponse,
    FrontendTag,
    MalformedMessage,
    Message,
    MessageTooLarge,
    ProtocolError,
    ReadyForQuery,
    RowDescription,
    SASLInitialResponse,
    ServerParser,
    StartupMessage,
    StateError,
    UnexpectedMessage,
    encode,
)

from .cases import NULL, i16, i32, typed

ROWS = [DataRow((b"%d" % n, b"x" * n, None)) for n in range(5)]
RESULT: list[Message] = [
    RowDescription(()),
    *ROWS,
    CommandComplete("SELECT 5"),
    ReadyForQuery("I"),
]
RESULT_BYTES = b"".join(map(encode, RESULT))


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (b"D" + i32(3), MalformedMessage),
        (b"D" + i32(-1), MalformedMessage),
        (b"D" + i32(-(2**31)), MalformedMessage),
        (b"D" + i32(0x4000_0004), MessageTooLarge),
        (b"D" + i32(2**31 - 1), MessageTooLarge),
        (b"Z" + i32(6), MessageTooLarge),
        (b"1" + i32(5), MessageTooLarge),
        (b"R" + i32(65_540), MessageTooLarge),
        (b"z" + i32(4), UnexpectedMessage),
        (b"\0" + i32(4), UnexpectedMessage),
    ],
    ids=[
        "3",
        "-1",
        "int-min",
        "1GiB",
        "int-max",
        "ready-6",
        "parse-complete-5",
        "auth",
        "z",
        "nul",
    ],
)
def test_server_headers_are_checked_before_the_body(header: bytes, error: type[Exception]) -> None:
    """A bad length word or type byte is refused from the 5-byte header alone."""
    parser = ServerParser()
    parser.receive_data(header)
    with pytest.raises(error):
        parser.next_frame()


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (b"Q" + i32(64 * 1024 * 1024 + 5), MessageTooLarge),
        (b"S" + i32(10_005), MessageTooLarge),
        (b"p" + i32(65_540), MessageTooLarge),
        (b"Q" + i32(-4), MalformedMessage),
        (b"T" + i32(4), UnexpectedMessage),
    ],
    ids=["query-64MiB", "sync-10k", "password-64k", "negative", "backend-tag"],
)
def test_client_headers_are_checked_before_the_body(header: bytes, error: type[Exception]) -> None:
    """Per-type caps for client messages are enforced on the header."""
    parser = ClientParser(startup=False)
    parser.receive_data(header)
    with pytest.raises(error):
        parser.next_frame()


def test_configurable_cap() -> None:
    """max_message_size moves the cap for large client messages."""
    parser = ClientParser(startup=False, max_message_size=20_000)
    parser.receive_data(b"Q" + i32(20_005))
    with pytest.raises(MessageTooLarge):
        parser.next_frame()
    with pytest.raises(ValueError, match="max_message_size"):
        ServerParser(max_message_size=2**31)


def test_too_large_carries_program_limit_exceeded() -> None:
    """MessageTooLarge maps to SQLSTATE 54000, other protocol errors to 08P01."""
    assert MessageTooLarge("x").sqlstate == "54000"
    assert MalformedMessage("x").sqlstate == "08P01"
    assert UnexpectedMessage("x").sqlstate == "08P01"


def test_frames_share_the_read_buffer() -> None:
    """A read that starts at a message boundary is framed without copying it."""
    parser = ServerParser()
    parser.receive_data(RESULT_BYTES)
    frames = []
    while (frame := parser.next_frame()) is not NEED_DATA:
        frames.append(frame)
    assert all(frame.buffer is frames[0].buffer for frame in frames)
    assert [f.end for f in frames[:-1]] == [f.start for f in frames[1:]]
    assert [parser.decode(f) for f in frames] == RESULT
    assert frames[1].tag == BackendTag.DATA_ROW


def test_large_message_in_many_reads() -> None:
    """A message split over many reads is NEED_DATA until complete, then framed whole."""
    big = encode(DataRow((b"v" * 300_000,)))
    parser = ServerParser()
    chunks = [big[i : i + 4096] for i in range(0, len(big), 4096)]
    for chunk in chunks[:-1]:
        parser.receive_data(chunk)
        assert parser.next_frame() is NEED_DATA
    parser.receive_data(chunks[-1])
    assert parser.pending_bytes() == len(big)
    frame = parser.next_frame()
    assert frame is not NEED_DATA and bytes(frame.raw) == big
    assert len(frame.buffer) == len(big)  # joined once, from the queued reads
    assert parser.decode(frame) == DataRow((b"v" * 300_000,))


def test_take_run_returns_contiguous_passthrough() -> None:
    """take_run() covers whole frames up to the first inspected type, as one view."""
    parser = ServerParser()
    parser.receive_data(RESULT_BYTES + b"D\0\0")
    run = parser.take_run({BackendTag.COMMAND_COMPLETE})
    rows_end = sum(len(encode(m)) for m in RESULT[:-2])
    assert bytes(run) == RESULT_BYTES[:rows_end]
    frame = parser.next_frame()
    assert frame is not NEED_DATA and parser.decode(frame) == CommandComplete("SELECT 5")
    assert bytes(parser.take_run(())) == encode(ReadyForQuery("I"))
    assert parser.next_frame() is NEED_DATA
    assert parser.pending_bytes() == 3


def test_take_run_stops_before_a_bad_header() -> None:
    """take_run() leaves a bad header for next_frame(), which raises."""
    parser = ServerParser()
    parser.receive_data(encode(ReadyForQuery("I")) + b"z" + i32(4))
    assert bytes(parser.take_run(())) == encode(ReadyForQuery("I"))
    with pytest.raises(UnexpectedMessage):
        parser.next_frame()


def test_take_run_is_empty_during_startup() -> None:
    """Outside the typed-message phase take_run() consumes nothing."""
    parser = ClientParser()
    parser.receive_data(b"\0\0\0\x08")
    assert bytes(parser.take_run(())) == b""
    assert parser.pending_bytes() == 4


def test_frontend_tags_select_client_messages() -> None:
    """A Frame's tag compares equal to the FrontendTag constants."""
    parser = ClientParser(startup=False)
    parser.receive_data(typed(b"Q", b"SELECT 1\0"))
    frame = parser.next_frame()
    assert frame is not NEED_DATA and frame.tag == FrontendTag.QUERY


@pytest.mark.parametrize(
    ("wire", "sender"),
    [
        (typed(b"Q", b"SELECT 1"), "client"),
        (typed(b"Q", b"SELECT 1\0; DROP TABLE t\0"), "client"),
        (typed(b"D", b"XS\0"), "client"),
        (typed(b"S", b"x"), "client"),
        (typed(b"E", b"p\0\0\0"), "client"),
        (typed(b"P", b"\0q\0" + i16(2) + i32(23)), "client"),
        (typed(b"B", b"\0\0" + i16(0) + i16(1) + i32(-2) + i16(0)), "client"),
        (typed(b"B", b"\0\0" + i16(0) + i16(1) + i32(10) + b"abc" + i16(0)), "client"),
        (typed(b"p", b"SCRAM\0" + i32(-5)), "client"),
        (typed(b"D", i16(1) + i32(-2)), "server"),
        (typed(b"D", i16(2) + i32(1) + b"a"), "server"),
        (typed(b"D", i16(1) + i32(5) + b"ab"), "server"),
        (typed(b"D", i16(9) + NULL), "server"),
        (typed(b"D", i16(1) + NULL + b"junk"), "server"),
        (typed(b"Z", b"X"), "server"),
        (typed(b"R", i32(99)), "server"),
        (typed(b"R", i32(5) + b"\1\2\3"), "server"),
        (typed(b"R", i32(0) + b"x"), "server"),
        (typed(b"R", i32(10) + b"SCRAM-SHA-256\0"), "server"),
        (typed(b"E", b"SERROR\0"), "server"),
        (typed(b"E", b"SERROR"), "server"),
        (typed(b"T", i16(1) + b"id\0" + i32(0)), "server"),
        (typed(b"K", i32(1)), "server"),
        (typed(b"V", i32(3) + b"ab"), "server"),
        (typed(b"A", i32(1) + b"chan\0"), "server"),
        (typed(b"v", i32(0) + i32(2) + b"a\0"), "server"),
    ],
)
def test_malformed_bodies(wire: bytes, sender: str) -> None:
    """Bodies that do not match their format are MalformedMessage, never another exception."""
    parser: ClientParser | ServerParser
    parser = ClientParser(startup=False) if sender == "client" else ServerParser()
    if isinstance(parser, ClientParser) and wire.startswith(b"p"):
        parser.expect_password_message(SASLInitialResponse)
    parser.receive_data(wire + encode(ReadyForQuery("I")) * 3)
    with pytest.raises(ProtocolError) as info:
        parser.next_event()
    assert isinstance(info.value, MalformedMessage | MessageTooLarge)


def test_error_response_without_fields() -> None:
    """An ErrorResponse without SQLSTATE or message decodes; the helpers return None."""
    parser = ServerParser()
    parser.receive_data(typed(b"E", b"\0") + typed(b"N", b"Mhello\0\0"))
    error = parser.next_event()
    assert error == ErrorResponse({})
    assert isinstance(error, ErrorResponse)
    assert (error.severity, error.sqlstate, error.message, error.detail, error.hint) == (
        None,
        None,
        None,
        None,
        None,
    )
    notice = parser.next_event()
    assert not isinstance(notice, ErrorResponse)
    assert getattr(notice, "message", None) == "hello"
    assert getattr(notice, "sqlstate", "absent") is None


def test_receive_data_accepts_any_buffer() -> None:
    """bytearray and memoryview reads are copied (the caller may reuse them); b"" is ignored."""
    reused = bytearray(encode(ReadyForQuery("I")))
    parser = ServerParser()
    parser.receive_data(b"")
    parser.receive_data(memoryview(reused)[:3])
    parser.receive_data(reused[3:])
    reused[:] = b"\0" * len(reused)
    assert parser.next_event() == ReadyForQuery("I")


def test_frames_of_the_other_direction_are_refused() -> None:
    """decode() refuses a startup-kind frame its direction never produces."""
    server, client = ServerParser(), ClientParser()
    client.receive_data(encode(StartupMessage({})))
    startup = client.next_frame()
    assert startup is not NEED_DATA
    with pytest.raises(StateError):
        server.decode(startup)
    server.expect_ssl_response()
    server.receive_data(b"N")
    answer = server.next_frame()
    assert answer is not NEED_DATA
    with pytest.raises(StateError):
        client.decode(answer)


def test_frame_body_of_startup_packets() -> None:
    """Frame.body skips the 4-byte length of a startup packet and nothing of an SSL answer."""
    client = ClientParser()
    client.receive_data(encode(StartupMessage({"user": "u"})))
    frame = client.next_frame()
    assert frame is not NEED_DATA and frame.tag == STARTUP_PACKET
    assert bytes(frame.body) == i32(196608) + b"user\0u\0\0"
