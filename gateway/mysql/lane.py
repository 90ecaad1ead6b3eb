"""The fast lane: a MySQL session's steady state, relayed from the read callbacks.

Most of what a busy session sends is a COM_QUERY of a kind it has sent before and that is
allowed, or a COM_STMT_EXECUTE of a statement allowed when it was prepared. The general path
(``Relay.run``) wakes the session's task for each command and again for its reply, and judges
the text, its masking routes and its derived outputs one by one. The lane takes exactly that
case in the client channel's read callback, and nothing else:

- The session is idle: its task waits for the next command, nothing of either side is
  buffered unread, no command is in flight, and the audit writer is not behind (the general
  path refuses then). Over TLS as in clear: the channels decrypt before the lane reads.
- The read is exactly one packet, sequence id 0: a COM_QUERY in UTF-8 whose verdict the lane
  knows to be *allow*, with no session-state effects, no route around masking and no KILL;
  or a COM_STMT_EXECUTE, without a cursor or long data, of a statement whose verdict at
  prepare was *allow* with no state effects, bound as the general path binds it
  (``Statements.bind``: the same decoding, the same server statement id).
  What it knows is the general path's own judgement (``judge``: the guardrails' verdict, the
  masking lineage's leak check and derived outputs), remembered by the text's general shape
  (``gateway.mysql.dialect.general_shape``) when the guardrails say no literal influenced the
  verdict, else by the text itself, and forgotten whenever the session state changes.
- Before it forwards the command the lane journals it (``forwarding``, as the general path
  does); when that fails it takes nothing, and the general path refuses the command.

The reply is relayed by the general path's own code (``gateway.mysql.reply.Reply``, masking
included), step by step as the upstream channel's reads arrive, and recorded as the general
path records it (``Relay.record``). Whatever goes wrong in between (a malformed packet, the
upstream gone) fails the client channel's waiting read with that error: the session's task
raises it as if it had met it itself, and the session ends as the general path ends it. While
a command is in flight, what the client sends is held for the task (``Channel.hold``): the
lane never has two commands in flight and the task never reads one before the reply before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.guardrails import Action, Verdict
from gateway.mysql import wire as my
from gateway.mysql.channel import Channel
from gateway.mysql.context import EFFECT_KINDS
from gateway.mysql.dialect import general_shape
from gateway.mysql.statements import CURSOR_TYPES
from gateway.mysql.upstream import UpstreamGone

if TYPE_CHECKING:
    from gateway.mysql.relay import Relay
    from gateway.mysql.reply import Reply

__all__ = ["Known", "Lane", "judge", "open_lane"]

_QUERY = int(my.Command.QUERY)
_EXECUTE = int(my.Command.STMT_EXECUTE)
_MAX_PAYLOAD = 0xFFFFFF  # a payload this long continues in a next packet: not the lane's
_REMEMBERED = 1024  # judgements kept per session (by shape or text)
ENABLED = True  # read per session (tests run the general path alone by switching it off)


@dataclass(frozen=True, slots=True)
class Known:
    """What the general path would do with a text the lane takes: its verdict (allow) and the
    outputs derived from a masked column (masked whole)."""

    verdict: Verdict
    derived: frozenset[int] | None


class Lane:
    """The tap of a session's two channels (gateway.mysql.channel)."""

    def __init__(self, relay: Relay, client: Channel, upstream: Channel) -> None:
        self.relay, self.s = relay, relay.s
        self.client, self.upstream = client, upstream
        self.audit = relay.deps.core.audit
        # By general shape (the verdict holds for every text of it) and by text (the rest):
        # two maps, so that a text spelling some shape never meets that shape's entry.
        self._by_shape: dict[str, Known | None] = {}
        self._by_text: dict[str, Known | None] = {}
        self._state = relay.s.state
        self._text = ""
        self._verdict: Verdict | None = None
        self._reply: Reply | None = None
        self.taken = 0  # commands the lane relayed (for tests and the benchmark)

    def attach(self) -> None:
        self.client.tap = self
        self.upstream.tap = self

    def detach(self) -> None:
        self.client.tap = None
        self.upstream.tap = None

    # -- the channels' callbacks -------------------------------------------------------------

    def received(self, channel: Channel, data: bytes) -> bool:
        if channel is self.client:
            try:
                return self._command(data)
            except Exception as exc:  # what the general path would meet too: the session ends
                self._fail(exc)
                return True
        if self._reply is None:
            return False  # the task's (it reads the upstream itself)
        self._answer(data)
        return True

    def lost(self, channel: Channel) -> None:
        if self._reply is not None and channel is self.upstream:
            self._fail(UpstreamGone("the upstream server closed the connection"))

    # -- the client's command ----------------------------------------------------------------

    def _command(self, data: bytes) -> bool:
        relay = self.relay
        if (
            self._reply is not None
            or not relay.waiting
            or not self.client.waiting
            or relay.client.packets.pending_bytes()
            or relay.upstream.stream.packets.pending_bytes()
            or self.upstream.buffered
            or self.upstream.ended  # the task writes, reads nothing and ends it in words
            or self.audit.behind
        ):
            return False
        size = len(data)
        if size < 5 or data[3] != 0:
            return False
        length = data[0] | data[1] << 8 | data[2] << 16
        if length + 4 != size or length >= _MAX_PAYLOAD:
            return False
        command = data[4]
        if command == _QUERY:
            return self._query(data)
        if command == _EXECUTE:
            return self._execute(data)
        return False

    def _query(self, data: bytes) -> bool:
        try:  # not UTF-8: the general path refuses it
            text = data[5:].decode("utf-8")
        except UnicodeDecodeError:
            return False
        known = self._judged(text)
        if known is None or not self._journaled(text):
            return False
        self._forward(data, text, known.verdict, known.derived, binary=False)
        return True

    def _execute(self, data: bytes) -> bool:
        """COM_STMT_EXECUTE of a statement allowed at prepare, with no state effects, no long
        data and no cursor: bound as the general path binds it (``Statements.bind``)."""
        payload = data[4:]
        if len(payload) < 10 or payload[5] & CURSOR_TYPES:
            return False
        statements = self.relay.statements
        statement = statements.book.get(int.from_bytes(payload[1:5], "little"))
        if (
            statement is None
            or statement.verdict.action is not Action.ALLOW
            or statement.verdict.kinds & EFFECT_KINDS
            or statement.long_data
        ):
            return False
        try:  # what does not decode is the general path's to report (it binds again)
            bound = statements.bind(payload)
        except Exception:
            return False
        if isinstance(bound, my.Err) or not self._journaled(statement.text):
            return False
        wire = my.encode_packet(bound.upstream, 0)
        self._forward(wire, statement.text, statement.verdict, statement.derived, binary=True)
        return True

    def _journaled(self, text: str) -> bool:
        """Journaled before it is forwarded, as the general path does (False: it refuses)."""
        log = self.s.log
        assert log is not None
        return log.forwarding(text)

    def _forward(
        self,
        wire: bytes,
        text: str,
        verdict: Verdict,
        derived: frozenset[int] | None,
        *,
        binary: bool,
    ) -> None:
        relay = self.relay
        self.s.statements_seen += 1
        relay.upstream.stream.seq = 1  # the command goes out with sequence id 0
        relay.client.seq = 1  # the reply's first packet, as the client counts
        self.upstream.write(wire)
        self._text, self._verdict = text, verdict
        self._reply = relay.reply(my.Expect.RESULTS, text, binary=binary, derived=derived)
        self.client.hold()

    def _judged(self, text: str) -> Known | None:
        s = self.s
        by_shape, by_text = self._by_shape, self._by_text
        if s.state is not self._state:
            by_shape.clear()
            by_text.clear()
            self._state = s.state
        # The text's own judgement first: a text with no general shape (no literal, a
        # backslash, ...) is kept by text, and is not lexed again each time it comes back.
        if text in by_text:
            return by_text[text]
        shape = general_shape(text, s.state)
        if shape is not None and shape in by_shape:
            return by_shape[shape]
        known, general = judge(self.relay, text)
        kept, key = (by_shape, shape) if general and shape is not None else (by_text, text)
        if len(kept) >= _REMEMBERED:
            kept.clear()
        kept[key] = known
        return known

    # -- the server's reply ------------------------------------------------------------------

    def _answer(self, data: bytes) -> None:
        reply, relay = self._reply, self.relay
        assert reply is not None
        relay.upstream.stream.packets.receive_data(data)
        try:
            done = reply.step()
        except Exception as exc:  # as forward's caller would meet it: the session ends
            self._fail(exc)
            return
        client = relay.client
        client.flush()
        if not done:
            if client.full:  # a long reply: read on once the client took what was sent
                self.upstream.pause_reading()
                self.client.when_drained(self.upstream.resume_reading)
            return
        self._reply = None
        self.taken += 1
        verdict = self._verdict
        assert verdict is not None
        outcome = reply.outcome
        relay.last = outcome
        relay.failed_after_effects = False  # the lane takes no text with effects
        client.seq = 0  # the session's task waits for the next command
        try:
            relay.record(self._text, verdict, outcome)
        except Exception as exc:
            self._fail(exc)
            return
        self.client.release()

    def _fail(self, error: BaseException) -> None:
        self._reply = None
        self.detach()
        self.client.fail(error)


def open_lane(relay: Relay) -> Lane | None:
    """The lane of a session on the listener's own channels (a forwarded stream is the general
    path's); attached. TLS is the channels' own: the lane reads in clear either way."""
    client, up = relay.client, relay.upstream.stream
    if not ENABLED:
        return None
    if not isinstance(client.io, Channel) or not isinstance(up.io, Channel):
        return None
    lane = Lane(relay, client.io, up.io)
    lane.attach()
    return lane


def judge(relay: Relay, text: str) -> tuple[Known | None, bool]:
    """What the general path would do with this COM_QUERY text: Known when it is the lane's
    kind (allowed, no session-state effects, no route around masking, not a KILL the listener
    does itself), else None; and whether no literal influenced it (then it holds for every
    text of its general shape, else for the text only)."""
    s = relay.s
    if relay.kill_target(text) is not None:
        return None, False
    verdict, general = s.target.guardrails.evaluate_general(text, s.state)
    if verdict.action is not Action.ALLOW or verdict.kinds & EFFECT_KINDS:
        return None, general
    lineage = relay.lineage
    if lineage is None:
        return Known(verdict, None), general
    if lineage.leak(text, s.state) is not None:
        return None, general
    return Known(verdict, lineage.derived(text, s.state)), general
