"""The reply state machine: one table, and every (state, input) pair either has an entry or
raises UnexpectedPacket; a tracker fed any bytes fails only with the codec's protocol errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.mysql import wire as my
from gateway.mysql.wire.state import TABLE

C = my.Capability
DEPRECATE = int(C.PROTOCOL_41 | C.DEPRECATE_EOF)
CLASSIC = int(C.PROTOCOL_41)
COLUMN = my.ColumnDefinition(b"db", b"t", b"t", b"a", b"a", 45, 10, 253).encode()
OK_MORE = my.Ok(status=int(my.Status.MORE_RESULTS_EXISTS | my.Status.AUTOCOMMIT)).encode(CLASSIC)


@given(st.sampled_from(list(my.Reply)), st.sampled_from(list(my.Input)))
def test_every_pair_has_an_entry_or_raises(state: my.Reply, event: my.Input) -> None:
    """transition() returns the table's state or raises UnexpectedPacket, nothing else."""
    try:
        after = my.transition(state, event)
    except my.UnexpectedPacket:
        assert (state, event) not in TABLE
    else:
        assert TABLE[(state, event)] is after


def _feed(caps: int, packets: list[bytes]) -> list[my.Input]:
    tracker = my.ReplyTracker(caps)
    tracker.begin(my.Expect.RESULTS)
    seen = [tracker.feed(p) for p in packets]
    assert tracker.idle
    return seen


def test_result_set_with_and_without_eof() -> None:
    """A result set ends at its terminator, with the column EOF only without DEPRECATE_EOF."""
    row = my.encode_text_row([b"1"])
    end = my.Ok(header=0xFE).encode(DEPRECATE)
    assert _feed(DEPRECATE, [b"\x01", COLUMN, row, end])[-1] is my.Input.END
    eof = my.Eof().encode()
    assert _feed(CLASSIC, [b"\x01", COLUMN, eof, row, eof])[2] is my.Input.EOF


def test_more_results_start_the_next() -> None:
    """An OK or a terminator with SERVER_MORE_RESULTS_EXISTS starts the next result."""
    eof_more = my.Eof(0, int(my.Status.MORE_RESULTS_EXISTS)).encode()
    events = _feed(
        CLASSIC,
        [OK_MORE, b"\x01", COLUMN, my.Eof().encode(), eof_more, b"\x00\x00\x00\x02\x00\x00\x00"],
    )
    assert events[0] is my.Input.OK_MORE and events[4] is my.Input.END_MORE


def test_local_infile_request_has_no_entry() -> None:
    """A LOCAL INFILE request (0xFB) is refused: the gateway never asks for it."""
    tracker = my.ReplyTracker(DEPRECATE)
    tracker.begin(my.Expect.RESULTS)
    with pytest.raises(my.UnexpectedPacket):
        tracker.feed(b"\xfb/etc/passwd")


@given(st.lists(st.binary(max_size=40), max_size=12), st.sampled_from(list(my.Expect)))
def test_any_bytes_fail_only_as_protocol_errors(packets: list[bytes], expect: my.Expect) -> None:
    """Random packets either fit the reply or raise the codec's ProtocolError."""
    tracker = my.ReplyTracker(DEPRECATE)
    tracker.begin(expect)
    try:
        for packet in packets:
            if tracker.idle:
                break
            tracker.feed(packet)
    except my.ProtocolError:
        pass
