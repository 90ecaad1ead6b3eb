"""Server → client: forward results, mask DataRows, swap refusal markers, account statements.

Unmodified runs of messages are forwarded as one write; only messages the session must read are
split out (docs 55.7, "Message Formats"). DataRows are read only on connections that mask.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Iterable
from dataclasses import replace
from time import perf_counter
from typing import Any

from gateway.masking import MaskTally
from gateway.postgres import wire as pg
from gateway.postgres.context import Deps, Shared
from gateway.postgres.dialect import ColumnDescription, Derivation, RowPlan
from gateway.postgres.effects import named_statement
from gateway.postgres.textmask import TextMask
from gateway.postgres.tracker import Expect, Pending

__all__ = ["ServerSide"]

B = pg.BackendTag
BASE = frozenset(
    {
        B.READY_FOR_QUERY,
        B.PARAMETER_STATUS,
        B.ROW_DESCRIPTION,
        B.COMMAND_COMPLETE,
        B.ERROR_RESPONSE,
        B.PARSE_COMPLETE,
        B.BIND_COMPLETE,
        B.CLOSE_COMPLETE,
        B.NO_DATA,
        B.EMPTY_QUERY_RESPONSE,
        B.PORTAL_SUSPENDED,
    }
)
# Connections that mask also read DataRows, the free text of errors, notices, notifications and
# settings (gateway.postgres.textmask), and COPY OUT (which cannot be masked: client_side
# refuses it, this is the backstop).
MASKED = BASE | {
    B.DATA_ROW,
    B.NOTICE_RESPONSE,
    B.NOTIFICATION_RESPONSE,
    B.COPY_OUT_RESPONSE,
    B.COPY_BOTH_RESPONSE,
}
# Plain ints: an Enum member lookup is a Python-level descriptor call in 3.11 (hot path).
_DATA_ROW, _READY, _COMPLETE = int(B.DATA_ROW), int(B.READY_FOR_QUERY), int(B.COMMAND_COMPLETE)
_ERROR, _ROW_DESC, _NO_DATA = int(B.ERROR_RESPONSE), int(B.ROW_DESCRIPTION), int(B.NO_DATA)
_PARAM, _EMPTY, _SUSPENDED = (
    int(B.PARAMETER_STATUS),
    int(B.EMPTY_QUERY_RESPONSE),
    int(B.PORTAL_SUSPENDED),
)
_TEXTS = (int(B.NOTICE_RESPONSE), int(B.NOTIFICATION_RESPONSE))
_COPY_OUT = (int(B.COPY_OUT_RESPONSE), int(B.COPY_BOTH_RESPONSE))
_BIND_DONE, _PARSE_DONE = int(B.BIND_COMPLETE), int(B.PARSE_COMPLETE)
_CLOSE_DONE = int(B.CLOSE_COMPLETE)
_SIMPLE_REPLIES = frozenset({_BIND_DONE, _PARSE_DONE, _CLOSE_DONE})
_NOTHING: frozenset[int] = frozenset()
unpack_i32 = struct.Struct("!i").unpack_from
# Row plans kept per session, by the RowDescription's bytes: a repeated statement's result
# costs a dict lookup instead of decoding its columns and planning them again.
PLANS_PER_SESSION = 128


class ServerSide:
    def __init__(self, shared: Shared, deps: Deps, parser: pg.ServerParser) -> None:
        self.s, self.deps, self.parser = shared, deps, parser
        self.inspect = MASKED if shared.target.masking is not None else BASE
        self.text_mask = TextMask(shared.target.masking) if shared.target.masking else None
        self.out: list[bytes | memoryview] = []
        self._counters: dict[str, Any] = {}
        self._plans: dict[tuple[bytes, Derivation | None], RowPlan | None] = {}
        self._scs_on = False  # the server reported standard_conforming_strings on: see _parameter
        self.status = 73  # the last ReadyForQuery's transaction status byte: I, T or E
        self._sink: Callable[[pg.BackendMessage], bool] | None = None  # see divert
        self._idle: asyncio.Event | None = None  # see idle

    async def idle(self) -> None:
        """Until nothing of the client's is in flight (every forwarded request answered)."""
        while self.s.tracker.queue:
            if self._idle is None:
                self._idle = asyncio.Event()
            await self._idle.wait()
            self._idle = None

    def divert(self, sink: Callable[[pg.BackendMessage], bool]) -> None:
        """The gateway's own query (a count: gateway.postgres.counting), sent while nothing of
        the client's is in flight: the server's messages go to ``sink`` until it returns True;
        none of them reaches the client, the tracker or the statement log."""
        self._sink = sink

    def _drain(self) -> None:
        while self._sink is not None:
            event = self.parser.next_event()
            if isinstance(event, pg.NeedData):
                return
            if self._sink(event):
                self._sink = None

    def feed(self, data: bytes) -> None:
        """Process what the server sent (a read callback); write what the client gets."""
        self.parser.receive_data(data)
        if self._sink is not None:
            self._drain()
        if self._sink is None:
            self.process()
        if self._idle is not None and not self.s.tracker.queue:
            self._idle.set()
        out = self.out
        if out:
            # One send, not one per message; a single unmodified run goes as it is.
            joined = out[0] if len(out) == 1 else b"".join(out)
            self.s.bytes_out += len(joined)
            self.s.client.write(joined)
            self.out = []
        self.audit_finished()

    def process(self) -> None:
        parser = self.parser
        while True:
            whole = parser.take_run(_NOTHING)  # every whole message received, headers checked
            if whole:
                self._messages(whole)
            frame = parser.next_frame()  # NEED_DATA, a bad header's error, or a start-up reply
            if isinstance(frame, pg.NeedData):
                return
            self._frame(frame)

    def _messages(self, buf: memoryview) -> None:
        """The hot loop: walk whole messages; those the client gets unchanged stay in one run
        (forwarded as one piece), the common ones are handled inline, the rest by _frame."""
        out, tracker, inspect = self.out, self.s.tracker, self.inspect
        pos = run = 0
        end = len(buf)
        while pos < end:
            tag = buf[pos]
            nxt = pos + 1 + unpack_i32(buf, pos + 1)[0]
            if tag not in inspect:  # passed through: result bytes of the statement in flight
                head = tracker.head
                if head is not None:
                    head.bytes += nxt - pos
            elif tag == _DATA_ROW:
                rewritten = self._mask(buf[pos:nxt])
                if rewritten is not None:
                    if run < pos:
                        out.append(buf[run:pos])
                    out.append(rewritten)
                    run = nxt
            elif tag == _COMPLETE:
                # CommandComplete's body is one C string, the command tag (docs 55.7)
                tracker.command_complete(bytes(buf[pos + 5 : nxt - 1]).decode("utf-8", "replace"))
                self.s.query_plan = None
            elif tag == _READY:
                self._ready(buf[pos + 5] if nxt > pos + 5 else 73)  # 73: "I"
            elif tag == _ROW_DESC:
                if not self._row_description(buf[pos:nxt]):
                    if run < pos:
                        out.append(buf[run:pos])
                    run = nxt
            elif tag in _SIMPLE_REPLIES:
                item = tracker.simple_reply()
                if item is not None and (item.definition is not None or item.closes):
                    self._settle((item,), "ok")
            else:
                if run < pos:
                    out.append(buf[run:pos])
                message = bytes(buf[pos:nxt])  # the codec decodes from bytes
                self._frame(pg.Frame(tag, message, 0, len(message)))
                run = nxt
            pos = nxt
        if run < end:
            out.append(buf[run:end] if run else buf)

    def _ready(self, status_byte: int) -> None:
        skipped = self.s.tracker.ready()
        if skipped:
            self._settle(skipped, "skipped")
        self.s.query_plan = None
        self.status = status_byte
        in_transaction = status_byte != 73  # "I": idle, outside a transaction block
        if in_transaction != self.s.state.in_transaction:
            self.s.state = replace(self.s.state, in_transaction=in_transaction)
        if self._scs_on:
            self._scs_on = False
            if not in_transaction:
                self.s.state = replace(self.s.state, standard_conforming_strings=True)

    def _frame(self, frame: pg.Frame) -> None:
        """A message the hot loop does not handle inline."""
        tag, tracker = frame.tag, self.s.tracker
        if tag == _ERROR:
            self._error(frame)
        elif tag == _NO_DATA:
            head = tracker.simple_reply()
            if head is None or not head.internal:
                self.out.append(frame.raw)
        elif tag == _PARAM:
            self._parameter(frame)
        elif tag == _EMPTY:
            tracker.command_complete("")
            self.out.append(frame.raw)
        elif tag == _SUSPENDED:
            tracker.portal_suspended()
            self.out.append(frame.raw)
        elif tag in _TEXTS:
            self.out.append(self._masked_text(frame))
        elif tag in _COPY_OUT:
            raise pg.ProtocolError("COPY output cannot be masked; the session was ended")
        else:  # anything else goes as it is
            self.out.append(frame.raw)

    def _error(self, frame: pg.Frame) -> None:
        head = self.s.tracker.head
        message = self.parser.decode(frame)
        assert isinstance(message, pg.ErrorResponse)
        if head is not None and head.refusal is not None:
            self.out.append(pg.encode(head.refusal))
        elif self.text_mask is not None:
            self.out.append(self.text_mask.message(message, frame.raw, self._known(head)))
        else:
            self.out.append(frame.raw)
        if head is not None and head.definition is not None:
            self._settle((head,), "failed")
        self._settle(self.s.tracker.error(message.sqlstate), "skipped")

    def _settle(self, items: Iterable[Pending], outcome: str) -> None:
        """Parses and Closes of statements the server answered, refused or skipped."""
        for item in items:
            if item.definition is not None or item.closes:
                named_statement(self.s, self.s.book.resolved(item, outcome))

    def _masked_text(self, frame: pg.Frame) -> bytes | memoryview:
        assert self.text_mask is not None
        message = self.parser.decode(frame)
        assert isinstance(message, pg.NoticeResponse | pg.NotificationResponse)
        return self.text_mask.message(message, frame.raw, self._known(self.s.tracker.head))

    def _known(self, head: Pending | None) -> str:
        """What the client itself sent for the request an error or notice answers: its text
        and bound values (an error may quote them without revealing anything)."""
        if head is None:
            return ""
        parts = [head.text or ""]
        if head.definition is not None:
            parts.append(head.definition.text)
        portal = head.portal
        if portal is None and head.expect is Expect.BIND:
            portal = self.s.portals.get(head.name)
        if portal is not None:
            parts.append(portal.statement.text)
            parts += [v.decode("utf-8", "replace") for v in portal.params if v is not None]
        return "\n".join(parts)

    def _parameter(self, frame: pg.Frame) -> None:
        message = self.parser.decode(frame)
        assert isinstance(message, pg.ParameterStatus)
        if message.name == "standard_conforming_strings":
            on = message.value.lower() == "on"
            if not on and self.s.state.standard_conforming_strings:
                self.s.state = replace(self.s.state, standard_conforming_strings=False)
            # Turned on: believed at a ReadyForQuery outside a transaction, which a ROLLBACK
            # cannot undo (see gateway.postgres.effects); until then it stays off here.
            self._scs_on = on and not self.s.state.standard_conforming_strings
        if self.text_mask is not None:  # a setting's value may have been built from a column
            value = self.text_mask.text(message.value)
            if value != message.value:
                self.out.append(pg.encode(pg.ParameterStatus(message.name, value)))
                return
        self.out.append(frame.raw)

    def _row_description(self, raw: memoryview) -> bool:
        """Whether the client gets this RowDescription (not if the gateway asked for it)."""
        tracker = self.s.tracker
        head = tracker.head
        expect = head.expect if head is not None else None
        if expect is Expect.DESCRIBE_STATEMENT:
            tracker.simple_reply()
            return True
        if expect is Expect.DESCRIBE_PORTAL:
            assert head is not None
            portal = head.portal
            if portal is not None and self.text_mask is not None:
                portal.plan = self._plan(raw, portal.statement.derived)
            tracker.simple_reply()
            return not head.internal
        if self.text_mask is not None:  # only a connection that masks reads the columns
            self.s.query_plan = self._plan(raw, head.derived if head is not None else None)
        return True

    def plan_of(self, raw: bytes | memoryview) -> RowPlan | None:
        """The row plan for a RowDescription of a result with no derived outputs."""
        return self._plan(raw, None)

    def _plan(self, raw: bytes | memoryview, derived: Derivation | None) -> RowPlan | None:
        key = (bytes(raw), derived)
        try:
            return self._plans[key]
        except KeyError:
            pass
        message = key[0]
        plan = self._new_plan(pg.Frame(int(B.ROW_DESCRIPTION), message, 0, len(message)), derived)
        if len(self._plans) >= PLANS_PER_SESSION:
            self._plans.clear()
        self._plans[key] = plan
        return plan

    def _new_plan(self, frame: pg.Frame, derived: Derivation | None) -> RowPlan | None:
        policy = self.s.target.masking
        if policy is None:
            return None
        message = self.parser.decode(frame)
        assert isinstance(message, pg.RowDescription)
        columns = [
            ColumnDescription(f.name, f.table_oid, f.column_attr, f.type_oid, f.format)
            for f in message.fields
        ]
        return policy.plan(columns, self.s.catalog, derived=derived)

    def _mask(self, raw: memoryview) -> bytes | None:
        """A DataRow on a connection that masks: its rewrite, or None to send it unchanged."""
        head = self.s.tracker.head
        if head is not None and head.expect is Expect.EXECUTE:
            plan = head.portal.plan if head.portal is not None else None
        else:
            plan = self.s.query_plan
        if plan is None or head is None:
            # Rows whose columns the gateway does not know cannot be masked: fail closed.
            raise pg.ProtocolError("a result arrived without a row description; session ended")
        head.bytes += len(raw)
        if plan.is_noop:
            return None
        if head.tally is None:
            head.tally = MaskTally()
        return plan.rewrite_datarow(bytes(raw[5:]), head.tally)

    def audit_finished(self) -> None:
        finished = self.s.tracker.take_finished()
        if not finished:
            return
        for pending in finished:
            if pending.after is not None:
                pending.after(pending)
            self._audit(pending)

    def _audit(self, pending: Pending) -> None:
        self.s.rows += pending.rows
        outcome = (
            pending.verdict if pending.refusal is not None else ("error" if pending.error else "ok")
        )
        refusal = pending.refusal
        counted: dict[str, int] | None = None
        masked = pending.tally.counts() if pending.tally is not None else None
        if masked:
            counted = {**masked.columns, **masked.detectors}
            for name, count in counted.items():
                self.s.masked_total[name] = self.s.masked_total.get(name, 0) + count
        assert self.s.log is not None
        self.s.log.add(
            pending.text,
            outcome,
            pending.verdict,
            rule=pending.rule,
            review_id=pending.review_id,
            rows=pending.rows,
            size=pending.bytes,
            duration_us=int((perf_counter() - pending.started) * 1e6),
            sqlstate=refusal.sqlstate if refusal is not None else pending.error,
            error=refusal.message if refusal is not None else None,
            masked=counted,
            urgent=refusal is not None or pending.review_id is not None,
        )
        self.count(pending.verdict)

    def count(self, verdict: str, n: int = 1) -> None:
        """``n`` more statements with this verdict in the gateway's metrics."""
        counter = self._counters.get(verdict)
        if counter is None:  # labels() costs more than the increment: keep the children
            counter = self.deps.core.metrics.statements.labels("postgres", verdict)
            self._counters[verdict] = counter
        counter.inc(n)
