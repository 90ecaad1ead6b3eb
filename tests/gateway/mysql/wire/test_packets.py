"""The packet reader under Hypothesis: any payloads, framed and fed in any chunks, come back
whole and in order; random bytes fail only with the codec's protocol errors."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.mysql import wire as my


@settings(max_examples=200)
@given(
    st.lists(st.binary(max_size=300), min_size=1, max_size=8),
    st.lists(st.integers(1, 64), min_size=1, max_size=50),
    st.integers(0, 255),
)
def test_any_chunking_gives_the_payloads_back(
    payloads: list[bytes], cuts: list[int], seq: int
) -> None:
    """Framed payloads fed in chunks of any sizes are handed out whole, in order, with their
    sequence ids; nothing is left over."""
    wire = b"".join(my.encode_packet(p, (seq + i) % 256) for i, p in enumerate(payloads))
    reader = my.PacketReader()
    out: list[my.Packet] = []
    pos, i = 0, 0
    while pos < len(wire):
        size = cuts[i % len(cuts)]
        reader.receive_data(wire[pos : pos + size])
        pos, i = pos + size, i + 1
        while isinstance(packet := reader.next_packet(), my.Packet):
            out.append(packet)
    assert [p.payload for p in out] == payloads
    assert [p.seq for p in out] == [(seq + i) % 256 for i in range(len(payloads))]
    assert reader.pending_bytes() == 0


@given(st.binary(max_size=400), st.integers(8, 4096))
def test_random_bytes_fail_only_as_protocol_errors(data: bytes, cap: int) -> None:
    """Any bytes give packets, NEED_DATA, or the codec's ProtocolError, never another error."""
    reader = my.PacketReader(max_payload=cap)
    reader.receive_data(data)
    try:
        while isinstance(reader.next_packet(), my.Packet):
            pass
    except my.ProtocolError:
        pass
