"""Hypothesis: parsers never fail except with ProtocolError; generated messages round-trip."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.postgres.wire import (
    NEED_DATA,
    BackendTag,
    ClientParser,
    Message,
    ProtocolError,
    ServerParser,
    encode,
)
from gateway.postgres.wire.state import PENDING_STATES

from .strategies import (
    CLIENT_TAGS,
    SERVER_TAGS,
    backend_messages,
    chunked,
    framed,
    frontend_messages,
    startup_packets,
)

Parser = ClientParser | ServerParser
INSPECT = {BackendTag.ROW_DESCRIPTION, BackendTag.ERROR_RESPONSE, ord("Q"), ord("P")}


def session(parser: Parser, chunks: list[bytes], accept: bool, frames: bool) -> None:
    """Drive a parser as a proxy session would; let only ProtocolError escape."""
    for chunk in chunks:
        parser.receive_data(chunk)
        while True:
            if parser.state in PENDING_STATES:
                (parser.encryption_accepted if accept else parser.encryption_refused)()
                continue
            if frames:
                parser.take_run(INSPECT)
                frame = parser.next_frame()
                if frame is NEED_DATA:
                    break
                parser.decode(frame)
            elif parser.next_event() is NEED_DATA:
                break


def make_parser(which: str) -> Parser:
    """A parser of the named kind and phase."""
    if which == "client-startup":
        return ClientParser()
    if which == "client":
        return ClientParser(startup=False)
    server = ServerParser()
    if which == "server-ssl":
        server.expect_ssl_response()
    return server


kinds = st.sampled_from(["client-startup", "client", "server", "server-ssl"])


@given(kinds, st.binary(max_size=300), st.lists(st.integers(0, 300)), st.booleans(), st.booleans())
@settings(max_examples=500)
def test_random_bytes_raise_only_protocol_errors(
    which: str, raw: bytes, cuts: list[int], accept: bool, frames: bool
) -> None:
    """Random bytes in random reads never raise anything but ProtocolError."""
    with contextlib.suppress(ProtocolError):
        session(make_parser(which), chunked(raw, cuts), accept, frames)


@given(st.booleans(), st.data(), st.lists(st.integers(0, 400)), st.booleans())
@settings(max_examples=500)
def test_framed_random_bodies_raise_only_protocol_errors(
    client: bool, data: st.DataObject, cuts: list[int], frames: bool
) -> None:
    """Valid type bytes and lengths around random bodies reach every decoder safely."""
    raw = data.draw(framed(CLIENT_TAGS if client else SERVER_TAGS))
    parser = make_parser("client" if client else "server")
    with contextlib.suppress(ProtocolError):
        session(parser, chunked(raw, cuts), True, frames)


@given(st.lists(frontend_messages, max_size=6), st.lists(st.integers(0, 2000)))
def test_frontend_round_trip(messages: list[Message], cuts: list[int]) -> None:
    """Encoded frontend messages in any chunking decode back to themselves."""
    parser = ClientParser(startup=False)
    out = []
    for chunk in chunked(b"".join(map(encode, messages)), cuts):
        parser.receive_data(chunk)
        while (event := parser.next_event()) is not NEED_DATA:
            out.append(event)
    assert out == messages
    assert parser.pending_bytes() == 0


@given(st.lists(backend_messages, max_size=6), st.lists(st.integers(0, 2000)))
def test_backend_round_trip(messages: list[Message], cuts: list[int]) -> None:
    """Encoded backend messages in any chunking decode back to themselves."""
    parser = ServerParser()
    out = []
    for chunk in chunked(b"".join(map(encode, messages)), cuts):
        parser.receive_data(chunk)
        while (event := parser.next_event()) is not NEED_DATA:
            out.append(event)
    assert out == messages


@given(startup_packets)
def test_startup_round_trip(message: Message) -> None:
    """Every startup-phase packet decodes back to itself and re-encodes byte for byte."""
    parser = ClientParser()
    wire = encode(message)
    parser.receive_data(wire)
    event = parser.next_event()
    assert event == message
    assert encode(event) == wire


@given(backend_messages)
def test_decode_encode_is_byte_exact(message: Message) -> None:
    """decode then encode gives back the exact bytes (what a proxy re-encoding relies on)."""
    wire = encode(message)
    parser = ServerParser()
    parser.receive_data(wire)
    frame = parser.next_frame()
    assert frame is not NEED_DATA
    assert encode(parser.decode(frame)) == bytes(frame.raw) == wire
