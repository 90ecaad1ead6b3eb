"""Server → client: forward results, mask DataRows, swap refusal markers, account statements.

Unmodified runs of messages are forwarded as one write; only messages the session must read are
split out (docs 55.7, "Message Formats"). DataRows are read only on connections that mask.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from time import perf_counter
from typing import Any

from gateway import pgwire as pg
from gateway.masking import ColumnDescription, MaskTally, RowPlan
from gateway.postgres.context import Deps, Shared
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
# Connections that mask also read DataRows, the free text of errors, notices and notifications,
# and COPY OUT (which cannot be masked: client_side refuses it, this is the backstop).
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

# Backpressure: stop reading the server while the client is this far behind.
HIGH_WATER = 4 * 1024 * 1024


class ServerSide:
    def __init__(
        self, shared: Shared, deps: Deps, reader: asyncio.StreamReader, parser: pg.ServerParser
    ) -> None:
        self.s, self.deps, self.reader, self.parser = shared, deps, reader, parser
        self.inspect = MASKED if shared.target.masking is not None else BASE
        self.text_mask = TextMask(shared.target.masking) if shared.target.masking else None
        self.out: list[bytes | memoryview] = []
        self._counters: dict[str, Any] = {}

    async def run(self) -> None:
        client = self.s.client
        while True:
            data = await self.reader.read(262144)
            if not data:
                return
            self.parser.receive_data(data)
            self.process()
            if self.out:
                joined = b"".join(self.out)
                self.s.bytes_out += len(joined)
                client.write(joined)  # one send, not one per message
                self.out = []
            self.audit_finished()
            if client.transport.get_write_buffer_size() > HIGH_WATER:
                await client.drain()

    def process(self) -> None:
        parser, out, tracker = self.parser, self.out, self.s.tracker
        while True:
            run = parser.take_run(self.inspect)
            if run:
                out.append(run)
                # A run stops at every CommandComplete: it belongs to one statement.
                head = tracker.head
                if head is not None:
                    head.bytes += len(run)
            frame = parser.next_frame()
            if isinstance(frame, pg.NeedData):
                return
            self._frame(frame)

    def _frame(self, frame: pg.Frame) -> None:
        tag, tracker = frame.tag, self.s.tracker
        if tag == _DATA_ROW:
            self.out.append(self._mask(frame))
        elif tag == _READY:
            skipped = tracker.ready()
            if skipped:
                self._settle(skipped, "skipped")
            self.s.query_plan = None
            status = chr(frame.body[0]) if len(frame.body) else "I"
            if (status != "I") != self.s.state.in_transaction:
                self.s.state = replace(self.s.state, in_transaction=status != "I")
            self.out.append(frame.raw)
        elif tag == _COMPLETE:
            # CommandComplete's body is one C string, the command tag (docs 55.7)
            tracker.command_complete(bytes(frame.body[:-1]).decode("utf-8", "replace"))
            self.s.query_plan = None
            self.out.append(frame.raw)
        elif tag == _ERROR:
            self._error(frame)
        elif tag == _ROW_DESC:
            self._row_description(frame)
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
        else:  # ParseComplete, BindComplete, CloseComplete
            item = tracker.simple_reply()
            if item is not None and (item.definition is not None or item.closes):
                self._settle((item,), "ok")
            self.out.append(frame.raw)

    def _error(self, frame: pg.Frame) -> None:
        head = self.s.tracker.head
        message = self.parser.decode(frame)
        assert isinstance(message, pg.ErrorResponse)
        if head is not None and head.refusal is not None:
            self.out.append(pg.encode(head.refusal))
        elif self.text_mask is not None:
            self.out.append(self.text_mask.message(message, frame.raw))
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
        return self.text_mask.message(message, frame.raw)

    def _parameter(self, frame: pg.Frame) -> None:
        message = self.parser.decode(frame)
        assert isinstance(message, pg.ParameterStatus)
        if message.name == "standard_conforming_strings":
            on = message.value.lower() == "on"
            if on != self.s.state.standard_conforming_strings:
                self.s.state = replace(self.s.state, standard_conforming_strings=on)
        self.out.append(frame.raw)

    def _row_description(self, frame: pg.Frame) -> None:
        head = self.s.tracker.head
        expect = head.expect if head is not None else None
        if expect is Expect.DESCRIBE_STATEMENT:
            self.s.tracker.simple_reply()
            self.out.append(frame.raw)
        elif expect is Expect.DESCRIBE_PORTAL:
            assert head is not None
            if head.portal is not None and self.text_mask is not None:
                head.portal.plan = self._plan(frame)
            if not head.internal:
                self.out.append(frame.raw)
            self.s.tracker.simple_reply()
        else:
            if self.text_mask is not None:  # only a connection that masks reads the columns
                self.s.query_plan = self._plan(frame)
            self.out.append(frame.raw)

    def _plan(self, frame: pg.Frame) -> RowPlan | None:
        policy = self.s.target.masking
        if policy is None:
            return None
        message = self.parser.decode(frame)
        assert isinstance(message, pg.RowDescription)
        columns = [
            ColumnDescription(f.name, f.table_oid, f.column_attr, f.type_oid, f.format)
            for f in message.fields
        ]
        return policy.plan(columns, self.s.catalog)

    def _mask(self, frame: pg.Frame) -> bytes | memoryview:
        head = self.s.tracker.head
        if head is not None and head.expect is Expect.EXECUTE:
            plan = head.portal.plan if head.portal is not None else None
        else:
            plan = self.s.query_plan
        if plan is None or head is None:
            # Rows whose columns the gateway does not know cannot be masked: fail closed.
            raise pg.ProtocolError("a result arrived without a row description; session ended")
        head.bytes += len(frame.raw)
        if plan.is_noop:
            return frame.raw
        if head.tally is None:
            head.tally = MaskTally()
        rewritten = plan.rewrite_datarow(bytes(frame.body), head.tally)
        return frame.raw if rewritten is None else rewritten

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
        counter = self._counters.get(pending.verdict)
        if counter is None:  # labels() costs more than the increment: keep the children
            counter = self.deps.metrics.statements.labels("postgres", pending.verdict)
            self._counters[pending.verdict] = counter
        counter.inc()
