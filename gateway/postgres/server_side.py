"""Server → client: forward results, mask DataRows, swap refusal markers, account statements.

Unmodified runs of messages are forwarded as one write; only messages the session must read are
split out (docs 55.7, "Message Formats"). DataRows are read only on connections that mask.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from time import perf_counter

from approvals import AuditEntry
from gateway import pgwire as pg
from gateway.masking import ColumnDescription, MaskTally, RowPlan
from gateway.postgres.context import Deps, Shared
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
WITH_ROWS = BASE | {B.DATA_ROW}
# Backpressure: stop reading the server while the client is this far behind.
HIGH_WATER = 4 * 1024 * 1024


class ServerSide:
    def __init__(
        self, shared: Shared, deps: Deps, reader: asyncio.StreamReader, parser: pg.ServerParser
    ) -> None:
        self.s, self.deps, self.reader, self.parser = shared, deps, reader, parser
        self.inspect = WITH_ROWS if shared.target.masking is not None else BASE
        self.out: list[bytes | memoryview] = []

    async def run(self) -> None:
        client = self.s.client
        while True:
            data = await self.reader.read(262144)
            if not data:
                return
            self.parser.receive_data(data)
            self.process()
            if self.out:
                self.s.bytes_out += sum(len(chunk) for chunk in self.out)
                client.writelines(self.out)
                self.out = []
            self.audit_finished()
            if client.transport.get_write_buffer_size() > HIGH_WATER:
                await client.drain()

    def process(self) -> None:
        parser, out = self.parser, self.out
        while True:
            run = parser.take_run(self.inspect)
            if run:
                out.append(run)
            frame = parser.next_frame()
            if isinstance(frame, pg.NeedData):
                return
            self._frame(frame)

    def _frame(self, frame: pg.Frame) -> None:
        tag, tracker = frame.tag, self.s.tracker
        if tag == B.DATA_ROW:
            self.out.append(self._mask(frame))
        elif tag == B.READY_FOR_QUERY:
            tracker.ready()
            self.s.query_plan = None
            status = chr(frame.body[0]) if len(frame.body) else "I"
            if (status != "I") != self.s.state.in_transaction:
                self.s.state = replace(self.s.state, in_transaction=status != "I")
            self.out.append(frame.raw)
        elif tag == B.COMMAND_COMPLETE:
            message = self.parser.decode(frame)
            assert isinstance(message, pg.CommandComplete)
            tracker.command_complete(message.tag)
            self.s.query_plan = None
            self.out.append(frame.raw)
        elif tag == B.ERROR_RESPONSE:
            self._error(frame)
        elif tag == B.ROW_DESCRIPTION:
            self._row_description(frame)
        elif tag == B.NO_DATA:
            head = tracker.simple_reply()
            if head is None or not head.internal:
                self.out.append(frame.raw)
        elif tag == B.PARAMETER_STATUS:
            self._parameter(frame)
        elif tag == B.EMPTY_QUERY_RESPONSE:
            tracker.command_complete("")
            self.out.append(frame.raw)
        elif tag == B.PORTAL_SUSPENDED:
            tracker.portal_suspended()
            self.out.append(frame.raw)
        else:  # ParseComplete, BindComplete, CloseComplete
            tracker.simple_reply()
            self.out.append(frame.raw)

    def _error(self, frame: pg.Frame) -> None:
        head = self.s.tracker.head
        message = self.parser.decode(frame)
        assert isinstance(message, pg.ErrorResponse)
        if head is not None and head.refusal is not None:
            self.out.append(pg.encode(head.refusal))
        else:
            self.out.append(frame.raw)
        self.s.tracker.error(message.sqlstate)

    def _parameter(self, frame: pg.Frame) -> None:
        message = self.parser.decode(frame)
        assert isinstance(message, pg.ParameterStatus)
        if message.name == "standard_conforming_strings":
            on = message.value.lower() == "on"
            if on != self.s.state.standard_conforming_strings:
                self.s.state = replace(self.s.state, standard_conforming_strings=on)
        self.out.append(frame.raw)

    def _row_description(self, frame: pg.Frame) -> None:
        message = self.parser.decode(frame)
        assert isinstance(message, pg.RowDescription)
        head = self.s.tracker.head
        forward = True
        if head is not None and head.expect is Expect.DESCRIBE_STATEMENT:
            self.s.described[head.name] = message.fields
            self.s.tracker.simple_reply()
        elif head is not None and head.expect is Expect.DESCRIBE_PORTAL:
            portal = self.s.portals.get(head.name)
            if portal is not None:
                portal.plan = self._plan(message.fields)
            forward = not head.internal
            self.s.tracker.simple_reply()
        else:
            self.s.query_plan = self._plan(message.fields)
        if forward:
            self.out.append(frame.raw)

    def _plan(self, fields: tuple[pg.FieldDescription, ...]) -> RowPlan | None:
        policy = self.s.target.masking
        if policy is None:
            return None
        columns = [
            ColumnDescription(f.name, f.table_oid, f.column_attr, f.type_oid, f.format)
            for f in fields
        ]
        return policy.plan(columns)

    def _current_plan(self) -> RowPlan | None:
        head = self.s.tracker.head
        if head is not None and head.expect is Expect.EXECUTE:
            portal = self.s.portals.get(head.name)
            return portal.plan if portal is not None else None
        return self.s.query_plan

    def _mask(self, frame: pg.Frame) -> bytes | memoryview:
        plan = self._current_plan()
        if plan is None:
            # Rows whose columns the gateway does not know cannot be masked: fail closed.
            raise pg.ProtocolError("a result arrived without a row description; session ended")
        if plan.is_noop:
            return frame.raw
        rewritten = plan.rewrite_datarow(bytes(frame.body), self.s.tally)
        return frame.raw if rewritten is None else rewritten

    def audit_finished(self) -> None:
        finished = self.s.tracker.take_finished()
        if not finished:
            return
        now = datetime.now(UTC)
        for pending in finished:
            self._audit(pending, now)

    def _audit(self, pending: Pending, now: datetime) -> None:
        self.s.rows += pending.rows
        outcome = (
            pending.verdict if pending.refusal is not None else ("error" if pending.error else "ok")
        )
        details: dict[str, object] = {
            "statement": pending.text,
            "verdict": pending.verdict,
            "rule": pending.rule,
            "review_id": pending.review_id,
            "rows": pending.rows,
            "duration_ms": round((perf_counter() - pending.started) * 1000, 3),
        }
        if pending.error and pending.refusal is None:
            details["sqlstate"] = pending.error
        if pending.refusal is not None:
            details["sqlstate"] = pending.refusal.sqlstate
            details["error"] = pending.refusal.message
        masked = self.s.tally.counts()
        if masked:
            counted = {**masked.columns, **masked.detectors}
            details["masked"] = counted
            for name, count in counted.items():
                self.s.masked_total[name] = self.s.masked_total.get(name, 0) + count
            self.s.tally = MaskTally()
        self.deps.audit.submit(
            AuditEntry(
                action="statement",
                actor=self.s.identity,
                target=self.s.id,
                outcome=outcome,
                at=now,
                connection=self.s.target.name,
                details=details,
            )
        )
        self.deps.metrics.statements.labels("postgres", pending.verdict).inc()
