"""One command's reply, relayed to the client as it arrives: the server's packets are read
(``gateway.mysql.wire.state`` says where the reply ends), masked where the connection masks,
and written to the client.

``Reply.step`` is synchronous: it takes every whole packet the upstream's packet reader holds
and says whether the reply is done. The general path (``Relay.forward``) awaits more bytes
between steps; the fast lane (gateway.mysql.lane) calls it from the upstream channel's read
callback. Both relay a reply with this one code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter

from gateway.mysql import wire as my
from gateway.mysql.masking import ReplyMasker
from gateway.mysql.stream import PacketStream

__all__ = ["Outcome", "Reply"]


@dataclass
class Outcome:
    """How the server answered a forwarded command."""

    rows: int = 0
    size: int = 0
    error: my.Err | None = None
    masked: dict[str, int] | None = None
    started: float = field(default_factory=perf_counter)
    end: my.Input | None = None  # the reply's last packet (CURSOR_OPEN: a cursor is open)
    masker: ReplyMasker | None = None  # the reply's (a cursor's rows are masked by its plan)
    review_id: str | None = None  # the review that let the statement run


class Reply:
    """The reply to the command just sent upstream (``tracker`` has begun it)."""

    __slots__ = ("client", "framed", "masker", "outcome", "rewrite", "tracker", "up")

    def __init__(
        self,
        up: PacketStream,
        client: PacketStream,
        tracker: my.ReplyTracker,
        masker: ReplyMasker | None,
        rewrite: Callable[[my.Input, bytes], bytes] | None,
    ) -> None:
        self.up, self.client, self.tracker = up, client, tracker
        self.masker, self.rewrite = masker, rewrite
        self.outcome = Outcome(masker=masker)
        self.framed = False  # every packet framed anew (the numbering left the server's)

    def step(self) -> bool:
        """Relay the whole packets received so far; True once the reply is done (what it
        wrote to the client is queued on the client's stream, not yet sent).

        Packets the gateway leaves as they came go to the client as runs of wire bytes, their
        sequence ids being the client's exchange's too (both began with the command's 0); a
        packet it changes (a masked row or error, a rewritten id) is written in their place
        with the id it replaces. Once the numbering differs from the server's (definitions
        held for re-typing, a payload grown into another packet), every packet is framed anew.
        """
        up, tracker, outcome = self.up, self.tracker, self.outcome
        client, masker, rewrite = self.client, self.masker, self.rewrite
        packets = up.packets
        start = packets.mark()  # valid until the next receive_data, which ends the step
        while not tracker.idle:
            before = packets.mark()
            packet = packets.next_packet()
            if isinstance(packet, my.NeedData):
                if not self.framed:
                    client.write_raw(packets.since(start))
                return False
            if packet.seq != up.seq:
                raise my.OutOfSequence(f"sequence id {packet.seq} from the server, not {up.seq}")
            up.seq = packet.next_seq
            data = packet.payload
            event = tracker.feed(data)
            if event is my.Input.ROW:
                outcome.rows += 1
            else:
                outcome.end = event
            changed = False
            if rewrite is not None:
                new = rewrite(event, data)
                changed, data = new is not data, new
            sent = None if masker is None else masker.packet(event, data, tracker.columns)
            if sent is None and changed:
                sent = [data]
            if sent is None and not self.framed:
                if event is my.Input.ERR:
                    outcome.error = my.Err.decode(data)
                outcome.size += len(data)
                continue  # in the run
            if not self.framed:  # the run so far, then this packet in its place
                client.write_raw(packets.since(start, before))
                client.seq = packet.seq
            for payload in [data] if sent is None else sent:
                if event is my.Input.ERR:
                    outcome.error = my.Err.decode(payload)
                client.write(payload)
                outcome.size += len(payload)
            if client.seq != up.seq:
                self.framed = True
            start = packets.mark()
        if not self.framed:
            client.write_raw(packets.since(start))
            client.seq = up.seq
        if masker is not None:
            outcome.masked = masker.counts()
        return True
