"""Encode and decode every message of the case table, whole and one byte at a time."""

from __future__ import annotations

import pytest

from gateway.postgres.wire import NEED_DATA, STARTUP_PACKET, encode

from .cases import CASES, Case
from .helpers import parser_for

TRAILER = b"Q\x00\x00"  # the start of a next message, kept in the buffer
ids = [f"{case.sender}-{case.id}" for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_encode(case: Case) -> None:
    """encode() produces exactly the bytes the protocol documentation specifies."""
    assert encode(case.message) == case.wire


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_decode_whole(case: Case) -> None:
    """A whole message followed by more bytes decodes to the case, the extra bytes kept."""
    parser = parser_for(case)
    parser.receive_data(case.wire + TRAILER)
    assert parser.next_event() == case.message
    assert parser.pending_bytes() == len(TRAILER)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_decode_byte_at_a_time(case: Case) -> None:
    """Fed one byte at a time, the parser says NEED_DATA until the message is whole."""
    parser = parser_for(case)
    for byte in case.wire[:-1]:
        parser.receive_data(bytes([byte]))
        assert parser.next_event() is NEED_DATA
    parser.receive_data(case.wire[-1:] + TRAILER[:1])
    assert parser.next_event() == case.message
    parser.receive_data(TRAILER[1:])
    assert parser.pending_bytes() == len(TRAILER)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_frame_offsets(case: Case) -> None:
    """next_frame() names the message by offsets; raw is the wire bytes; decode gives the case."""
    parser = parser_for(case)
    parser.receive_data(case.wire + TRAILER)
    frame = parser.next_frame()
    assert frame is not NEED_DATA
    assert (frame.start, frame.end) == (0, len(case.wire))
    assert bytes(frame.raw) == case.wire
    header = 5 if frame.tag >= 0 else (4 if frame.tag == STARTUP_PACKET else 0)
    assert bytes(frame.body) == case.wire[header:]
    assert parser.decode(frame) == case.message


def test_every_message_type_has_a_case() -> None:
    """The table covers every message class the package exports."""
    import gateway.postgres.wire.messages as m

    classes = {obj for name in m.__all__ if isinstance(obj := getattr(m, name), type)}
    covered = {type(case.message) for case in CASES}
    assert classes - covered == {m.FieldDescription}
