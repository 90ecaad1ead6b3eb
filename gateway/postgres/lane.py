"""The fast lane: a session's steady state, relayed without the general machinery.

Most of what a busy session does is one round trip at a time of a statement it has run before:
a simple Query of a known shape, or a Bind/Describe/Execute/Sync of a prepared statement, answered
by a result that needs no masking. For that case the general path (framing into a parser, the
response tracker, one Pending per request, the statement book) costs several times what moving
the bytes costs. The lane recognises exactly that case and nothing else:

- Client side, only while the session is idle (RELAYING: not waiting for a statement, not
  ending; nothing in flight, nothing buffered, no refusal being swallowed, nothing held): one
  read holding exactly one Query whose verdict is *allow*, with no session-state effects, no
  output derived from a masked column and no COPY; or exactly Bind (unnamed portal, a committed
  prepared statement with those properties), optionally Describe of that portal, Execute of it
  (no row limit) and Sync. Verdicts are the guardrails' own (``Guardrails.evaluate_general``);
  they are remembered per session by the text's literal shape
  (``gateway.postgres.dialect.shape``) when the guardrails say no literal influenced them, else
  by the exact text, and forgotten whenever the session state changes.
- Before it forwards a request it takes, the lane journals its statement (the session core's
  ``forwarding``, as the general path does); when that fails it takes nothing, and the general
  path refuses the request.
- Server side, only for the request the lane forwarded: one read holding exactly its whole
  answer — (BindComplete,) RowDescription or NoData, DataRows, CommandComplete, ReadyForQuery —
  whose row plan masks nothing and whose transaction status is the one the session knows.

Anything else, at any point, *spills*: the in-flight request is replayed through the general
path in accounting-only mode (it pushes what the general path would have pushed, forwards
nothing a second time) and the bytes at hand are processed there. The lane therefore never
decides anything the general path would decide otherwise: it only skips the bookkeeping when
the outcome is known. A lane success does the same accounting the general path does for that
statement: the statement log entry, counters, the portal and statement-book state.
"""

from __future__ import annotations

import struct
from time import perf_counter
from typing import TYPE_CHECKING

from gateway.guardrails import Action
from gateway.postgres import refusals
from gateway.postgres import wire as pg
from gateway.postgres.dialect.shape import literal_shape
from gateway.postgres.effects import EFFECT_KINDS
from gateway.postgres.lifecycle import SessionPhase
from gateway.postgres.tracker import Definition, Portal, rows_in

if TYPE_CHECKING:
    from gateway.postgres.client_side import ClientSide
    from gateway.postgres.dialect import RowPlan
    from gateway.postgres.server_side import ServerSide

__all__ = ["Lane", "judge"]

unpack_i32 = struct.Struct("!i").unpack_from
unpack_u16 = struct.Struct("!H").unpack_from
_QUERY, _BIND, _DESCRIBE, _EXECUTE, _SYNC = (ord(c) for c in "QBDES")
_ROW_DESC, _DATA_ROW, _COMPLETE, _READY = (ord(c) for c in "TDCZ")
_BIND_DONE, _NO_DATA = ord("2"), ord("n")
_IDLE = ord("I")
# Describe('P', ""), Execute("", 0), Sync, exactly as libpq, psycopg and asyncpg send them.
_DESCRIBE_UNNAMED = pg.encode(pg.Describe("P", ""))
_EXECUTE_UNNAMED = pg.encode(pg.Execute("", 0))
_SYNC_MESSAGE = pg.encode(pg.Sync())
_TAIL_DESCRIBED = _DESCRIBE_UNNAMED + _EXECUTE_UNNAMED + _SYNC_MESSAGE
_TAIL = _EXECUTE_UNNAMED + _SYNC_MESSAGE
# Remembered per session: (verdict, rule) by shape or text; None: not for the lane.
_REMEMBERED = 1024

_RELAYING = SessionPhase.RELAYING
_NONE = 0
_SIMPLE = 1
_EXTENDED = 2


class Lane:
    def __init__(self, client: ClientSide, server: ServerSide) -> None:
        self.client, self.server, self.s = client, server, client.s
        self.audit = client.deps.core.audit
        assert client.s.log is not None
        self.forwarding = client.s.log.forwarding  # the journal, before a request is forwarded
        self.masks = server.text_mask is not None
        self.inflight = _NONE
        self.request = b""  # the client's bytes of the request in flight
        self.text = ""
        self.verdict = "allow"
        self.rule: str | None = None
        self.definition: Definition | None = None
        self.described = False
        self.started = 0.0
        self._answer: tuple[int, int, int, RowPlan | None] = (0, 0, 0, None)
        self._state = client.s.state
        self._known: dict[str, tuple[str, str | None] | None] = {}
        self.taken = 0  # requests the lane completed (for tests and the benchmark)
        self.spilled = 0

    # -- client ---------------------------------------------------------------------------------

    def client_data(self, data: bytes) -> bool:
        """Take one read of the client's if it is a whole request the lane handles (the caller
        forwards it as it is); False leaves everything to the general path."""
        s = self.s
        tracker = s.tracker
        if (
            s.phase is not _RELAYING
            or tracker.queue
            or tracker.finished
            or self.client.swallow
            or s.holding is not None
            or self.audit.behind  # the general path refuses it
            or s.book.inflight
            or self.client.parser.pending_bytes()
            or self.server.parser.pending_bytes()
        ):
            return False
        tag = data[0]
        if tag == _QUERY:
            taken = self._query(data)
        elif tag == _BIND:
            taken = self._bind(data)
        else:
            return False
        if taken and not self.forwarding(self.text):  # the general path refuses it then
            self.inflight = _NONE
            self.definition = None
            return False
        return taken

    def _query(self, data: bytes) -> bool:
        size = len(data)
        if size < 6 or unpack_i32(data, 1)[0] != size - 1 or data.find(0, 5) != size - 1:
            return False
        try:  # not UTF-8: the general path refuses it, whatever the shape's verdict was
            text = data[5:-1].decode("utf-8")
        except UnicodeDecodeError:
            return False
        s = self.s
        if s.state is not self._state:
            self._known.clear()
            self._state = s.state
        key = literal_shape(text) or text
        try:
            known = self._known[key]
        except KeyError:
            known = self._learn(text, key)
        if known is None:
            return False
        self.verdict, self.rule = known
        self.text = text
        self.inflight = _SIMPLE
        self.request = data
        self.started = perf_counter()
        return True

    def _learn(self, text: str, key: str) -> tuple[str, str | None] | None:
        """What the general path would do with this Query, if it is the lane's kind."""
        known, general = judge(self.client, text)
        if not general:
            key = text
        if len(self._known) >= _REMEMBERED:
            self._known.clear()
        self._known[key] = known
        return known

    def _bind(self, data: bytes) -> bool:
        size = len(data)
        if size < 6:  # a message still arriving
            return False
        length = unpack_i32(data, 1)[0]
        end = 1 + length
        if not 4 <= length <= self.client.parser.limits[_BIND] or end > size or data[5] != 0:
            return False  # bad header (the general path reports it), or not the unnamed portal
        rest = data[end:]
        if rest == _TAIL_DESCRIBED:
            described = True
        elif rest == _TAIL and not self.masks:  # masking would describe it (an internal Describe)
            described = False
        else:
            return False
        nul = data.find(0, 6, end)
        if nul < 0:
            return False
        definition = self.s.book.committed.get(data[6:nul].decode("utf-8", "surrogateescape"))
        if (
            definition is None
            or definition.verdict != "allow"
            or definition.effects
            or definition.derived is not None
            or not _bind_decodes(data, nul + 1, end)  # else the general path reports it
        ):
            return False
        self.definition, self.described = definition, described
        self.text, self.verdict, self.rule = definition.text, definition.verdict, definition.rule
        self.inflight = _EXTENDED
        self.request = data
        self.started = perf_counter()
        return True

    # -- server ---------------------------------------------------------------------------------

    def server_data(self, data: bytes) -> bool:
        """Take one read of the server's if it is the whole answer to the lane's request: the
        caller forwards it as it is, then calls ``finish`` (the client has its answer before the
        gateway does its accounting); False: the caller spills, then the general path runs."""
        extended = self.inflight == _EXTENDED
        size = len(data)
        limits = self.server.parser.limits
        pos = 0
        plan: RowPlan | None = None
        # Rows need their description first (or NoData); an undescribed portal gets none.
        columns_known = extended and not self.described
        rows_bytes = 0
        tag_end = tag_start = 0
        if extended:
            if data[:5] != b"2\x00\x00\x00\x04":
                return False
            pos = 5
        while pos + 5 <= size:
            tag = data[pos]
            length = unpack_i32(data, pos + 1)[0]
            nxt = pos + 1 + length
            if not 4 <= length <= limits[tag] or nxt > size:
                return False
            if tag == _DATA_ROW:
                if not columns_known or tag_end or (plan is not None and not plan.is_noop):
                    return False
                rows_bytes += nxt - pos
            elif tag == _ROW_DESC:
                if columns_known or tag_end:
                    return False
                columns_known = True
                plan = self.server.plan_of(memoryview(data)[pos:nxt]) if self.masks else None
            elif tag == _NO_DATA:
                if columns_known or not extended:
                    return False
                columns_known = True
            elif tag == _COMPLETE:
                if tag_end:
                    return False
                tag_start, tag_end = pos + 5, nxt - 1
            elif tag == _READY:
                if nxt != size or not tag_end or length != 5:
                    return False
                if (data[pos + 5] != _IDLE) != self.s.state.in_transaction:
                    return False
                self._answer = (tag_start, tag_end, rows_bytes, plan)
                return True
            else:
                return False
            pos = nxt
        return False

    def finish(self, data: bytes) -> None:
        """The accounting of the answer ``server_data`` took (``data``), once it is forwarded."""
        tag_start, tag_end, rows_bytes, plan = self._answer
        s = self.s
        self.inflight = _NONE
        self.taken += 1
        if self.definition is not None:
            s.book.synced()
            s.portals[""] = Portal(self.definition, (), plan, self.described)
            self.definition = None
        s.statements_seen += 1
        s.bytes_out += len(data)
        rows = rows_in(data[tag_start:tag_end].decode("utf-8", "replace"))
        s.rows += rows
        assert s.log is not None
        s.log.add(
            self.text,
            "ok",
            self.verdict,
            rule=self.rule,
            rows=rows,
            size=rows_bytes,
            duration_us=int((perf_counter() - self.started) * 1e6),
        )
        self.server.count(self.verdict)

    # -- spilling ---------------------------------------------------------------------------------

    def spill(self) -> None:
        """Hand the request in flight to the general path, as if it had taken it."""
        if self.inflight == _NONE:
            return
        self.inflight = _NONE
        self.definition = None
        self.spilled += 1
        self.client.replay(self.request, self.started)


def judge(client: ClientSide, text: str) -> tuple[tuple[str, str | None] | None, bool]:
    """What the general path would do with this Query: (verdict, rule) when it is the lane's
    kind (allowed, no session-state effects, no output derived from a masked column, no
    COPY, not a write to count against max_rows_unreviewed), else None; and whether no
    literal influenced it (then it holds for the text's literal shape, else only for the text
    itself). Both lanes learn through this."""
    s = client.s
    verdict, general = s.target.guardrails.evaluate_general(text, s.state)
    known: tuple[str, str | None] | None = None
    if (
        verdict.action is Action.ALLOW
        and not verdict.kinds & EFFECT_KINDS
        and (s.lineage is None or s.lineage.of(text) is None)
        and refusals.masking_refusal(s, text) is None
        and not client.needs_count(text, verdict)  # max_rows_unreviewed: counted each time
    ):
        known = (verdict.action.value, verdict.rule)
    return known, general


def _bind_decodes(data: bytes, pos: int, end: int) -> bool:
    """Whether the rest of a Bind from ``pos`` (after the statement name) is what the wire codec's
    decoder reads without complaint, ending exactly at ``end``: parameter formats, values
    (length -1 is NULL), result formats. Cheaper than decoding (nothing is built)."""
    count: int
    length: int
    try:
        (count,) = unpack_u16(data, pos)
        pos += 2 + 2 * count
        (count,) = unpack_u16(data, pos)
        pos += 2
        for _ in range(count):
            (length,) = unpack_i32(data, pos)
            if length < -1:
                return False
            pos += 4 + max(length, 0)
            if pos > end:
                return False
        (count,) = unpack_u16(data, pos)
    except struct.error:
        return False
    return pos + 2 + 2 * count == end
