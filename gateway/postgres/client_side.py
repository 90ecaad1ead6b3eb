"""Client → server: inspect every statement, forward what is allowed, hold or refuse the rest.

Refusals keep the protocol in step without the gateway forging the server's answers: the refused
message is replaced by a marker the server rejects as a syntax error (a Query in the simple
protocol, a Parse in the extended one, after which the client's messages are dropped up to its
Sync). The server then answers exactly as if the client's statement had failed there — earlier
pipelined results first, then one ErrorResponse, then ReadyForQuery, with the transaction in the
same state — and the server side swaps that ErrorResponse for the refusal's own (docs 55.2.3,
"Extended Query": after an error the backend discards messages until Sync).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

from approvals import AuditEntry, Review, ReviewState
from gateway import pgwire as pg
from gateway.inspection import Action, Kind, Verdict, classify
from gateway.postgres.context import Deps, Portal, Shared, refusal_error
from gateway.postgres.tracker import Expect, Pending

__all__ = ["ClientSide"]

T = pg.FrontendTag
INSPECT = frozenset(
    {T.QUERY, T.PARSE, T.BIND, T.DESCRIBE, T.EXECUTE, T.CLOSE, T.SYNC, T.FUNCTION_CALL, T.TERMINATE}
)
MARKER = "airlock_refused /* the statement was refused by the Airlock gateway */"
_MARKER_QUERY = pg.encode(pg.Query(MARKER))
_MARKER_PARSE = pg.encode(pg.Parse("", MARKER))
_EFFECTS = frozenset({Kind.CONFIG, Kind.SESSION, Kind.PRIVILEGE})


class ClientGone(Exception):
    """The client closed its connection (or was cancelled) while a statement was held."""


class ClientSide:
    def __init__(
        self,
        shared: Shared,
        deps: Deps,
        reader: asyncio.StreamReader,
        parser: pg.ClientParser,
        cancel_upstream: Callable[[], Awaitable[None]],
    ) -> None:
        self.s, self.deps, self.reader, self.parser = shared, deps, reader, parser
        self.cancel_upstream = cancel_upstream
        self.swallow = False  # dropping the rest of a refused extended batch, up to Sync
        self.out: list[bytes | memoryview] = []
        self.closing = False

    async def run(self) -> None:
        while not self.closing:
            data = await self.reader.read(65536)
            if not data:
                return
            self.parser.receive_data(data)
            await self.process()
            self.flush()

    def flush(self) -> None:
        if self.out:
            self.s.upstream.writelines(self.out)
            self.out = []

    async def process(self) -> None:
        parser = self.parser
        while not self.closing:
            if not self.swallow:
                run = parser.take_run(INSPECT)
                if run:
                    self.out.append(run)
            frame = parser.next_frame()
            if isinstance(frame, pg.NeedData):
                return
            if self.swallow:
                self._swallowed(frame)
                continue
            await self._frame(frame)

    def _swallowed(self, frame: pg.Frame) -> None:
        if frame.tag == T.SYNC:
            self.swallow = False
            self.out.append(frame.raw)
            self.s.tracker.push(Pending(Expect.SYNC))
        elif frame.tag == T.TERMINATE:
            self.out.append(frame.raw)
            self.closing = True

    async def _frame(self, frame: pg.Frame) -> None:
        tag = frame.tag
        if tag == T.SYNC:
            self.s.tracker.push(Pending(Expect.SYNC))
            self.out.append(frame.raw)
            return
        if tag == T.TERMINATE:
            self.out.append(frame.raw)
            self.closing = True
            return
        message = self.parser.decode(frame)
        if isinstance(message, pg.Query):
            await self._query(message, frame)
        elif isinstance(message, pg.Parse):
            self._parse(message, frame)
        elif isinstance(message, pg.Bind):
            self._bind(message, frame)
        elif isinstance(message, pg.Describe):
            self._describe(message, frame)
        elif isinstance(message, pg.Execute):
            await self._execute(message, frame)
        elif isinstance(message, pg.Close):
            self._close(message, frame)
        elif isinstance(message, pg.FunctionCall):
            error = refusal_error("42501", "the function-call sub-protocol is not allowed")
            self._refuse_simple(f"<function call {message.function_oid}>", "block", error)

    # -- simple protocol --------------------------------------------------------------------

    async def _query(self, message: pg.Query, frame: pg.Frame) -> None:
        text = message.text
        verdict = self.s.target.guardrails.evaluate(text, self.s.state)
        self.s.statements_seen += 1
        copy_refusal = self._copy_out_refusal(text, verdict)
        if copy_refusal is not None:
            self._refuse_simple(text, "block", copy_refusal, rule="masking/copy-out")
            return
        if verdict.action is Action.BLOCK:
            self._refuse_simple(text, "block", _blocked(verdict), rule=verdict.rule)
            return
        review_id = None
        if verdict.action is Action.HOLD:
            review_id, error = await self._hold(text, verdict, ())
            if error is not None:
                self._refuse_simple(text, "denied", error, rule=verdict.rule, review_id=review_id)
                return
        if verdict.kinds & _EFFECTS:
            self.s.state = self.s.state.apply(classify(text, self.s.state))
        self.s.tracker.push(
            Pending(
                Expect.QUERY,
                text=text,
                verdict=verdict.action.value,
                rule=verdict.rule,
                review_id=review_id,
            )
        )
        self.out.append(frame.raw)

    def _copy_out_refusal(self, text: str, verdict: Verdict) -> pg.ErrorResponse | None:
        """COPY ... TO STDOUT cannot be masked: refused on connections that mask results."""
        if self.s.target.masking is None or "copy" not in text.lower():
            return None
        statements = classify(text, self.s.state).statements
        if any(st.command == "CopyStmt" and Kind.READ in st.kinds for st in statements):
            return refusal_error(
                "42501",
                f"COPY TO STDOUT is refused on {self.s.target.name}: its results are masked "
                "and COPY output cannot be (rule masking/copy-out); use SELECT instead",
            )
        return None

    def _refuse_simple(
        self,
        text: str,
        outcome: str,
        error: pg.ErrorResponse,
        *,
        rule: str | None = None,
        review_id: str | None = None,
    ) -> None:
        self.s.refused += 1
        self.out.append(_MARKER_QUERY)
        self.s.tracker.push(
            Pending(
                Expect.QUERY,
                text=text,
                verdict=outcome,
                rule=rule,
                review_id=review_id,
                refusal=error,
            )
        )

    # -- extended protocol ------------------------------------------------------------------

    def _parse(self, message: pg.Parse, frame: pg.Frame) -> None:
        verdict = self.s.target.guardrails.evaluate(message.query, self.s.state)
        if verdict.action is Action.BLOCK:
            self._refuse_extended(message.query, "block", _blocked(verdict), rule=verdict.rule)
            return
        self.s.statements[message.name] = (message.query, verdict.action.value, verdict.rule)
        self.s.described.pop(message.name, None)
        self.s.tracker.push(Pending(Expect.PARSE, name=message.name))
        self.out.append(frame.raw)

    def _bind(self, message: pg.Bind, frame: pg.Frame) -> None:
        if message.statement not in self.s.statements:
            error = refusal_error("26000", f'prepared statement "{message.statement}" is unknown')
            self._refuse_extended(f"<bind {message.statement}>", "block", error)
            return
        self.s.portals[message.portal] = Portal(
            message.statement, message.params, message.result_formats
        )
        self.s.tracker.push(Pending(Expect.BIND, name=message.portal))
        self.out.append(frame.raw)

    def _describe(self, message: pg.Describe, frame: pg.Frame) -> None:
        expect = Expect.DESCRIBE_STATEMENT if message.kind == "S" else Expect.DESCRIBE_PORTAL
        self.s.tracker.push(Pending(expect, name=message.name))
        self.out.append(frame.raw)

    def _close(self, message: pg.Close, frame: pg.Frame) -> None:
        if message.kind == "S":
            self.s.statements.pop(message.name, None)
            self.s.described.pop(message.name, None)
        else:
            self.s.portals.pop(message.name, None)
        self.s.tracker.push(Pending(Expect.CLOSE, name=message.name))
        self.out.append(frame.raw)

    async def _execute(self, message: pg.Execute, frame: pg.Frame) -> None:
        portal = self.s.portals.get(message.portal)
        found = self.s.statements.get(portal.statement) if portal else None
        if portal is None or found is None:
            missing = refusal_error("34000", f'portal "{message.portal}" does not exist')
            self._refuse_extended(f"<execute {message.portal}>", "block", missing)
            return
        text, action, rule = found
        self.s.statements_seen += 1
        review_id = None
        if action == Action.HOLD.value:
            verdict = self.s.target.guardrails.evaluate(text, self.s.state)
            review_id, error = await self._hold(text, verdict, portal.params)
            if error is not None:
                self._refuse_extended(text, "denied", error, rule=rule, review_id=review_id)
                return
        if self.s.target.masking is not None and portal.plan is None:
            # Masking needs the result's columns: ask the server, keep the answer to ourselves.
            self.s.tracker.push(Pending(Expect.DESCRIBE_PORTAL, name=message.portal, internal=True))
            self.out.append(pg.encode(pg.Describe("P", message.portal)))
        self.s.tracker.push(
            Pending(
                Expect.EXECUTE,
                name=message.portal,
                text=text,
                verdict=action,
                rule=rule,
                review_id=review_id,
            )
        )
        self.out.append(frame.raw)

    def _refuse_extended(
        self,
        text: str,
        outcome: str,
        error: pg.ErrorResponse,
        *,
        rule: str | None = None,
        review_id: str | None = None,
    ) -> None:
        self.s.refused += 1
        self.out.append(_MARKER_PARSE)
        self.s.tracker.push(
            Pending(
                Expect.PARSE,
                text=text,
                verdict=outcome,
                rule=rule,
                review_id=review_id,
                refusal=error,
            )
        )
        self._audit_refusal(text, outcome, rule, review_id, error)
        self.swallow = True

    def _audit_refusal(
        self,
        text: str,
        outcome: str,
        rule: str | None,
        review_id: str | None,
        error: pg.ErrorResponse,
    ) -> None:
        self.deps.audit.submit(
            AuditEntry(
                action="statement",
                actor=self.s.identity,
                target=self.s.id,
                outcome=outcome,
                at=self.deps.service.clock.now(),
                connection=self.s.target.name,
                details={
                    "statement": text,
                    "rule": rule,
                    "review_id": review_id,
                    "sqlstate": error.sqlstate,
                    "error": error.message,
                },
            )
        )
        self.deps.metrics.statements.labels("postgres", outcome).inc()

    # -- the airlock ------------------------------------------------------------------------

    async def _hold(
        self, text: str, verdict: Verdict, params: tuple[bytes | None, ...]
    ) -> tuple[str | None, pg.ErrorResponse | None]:
        """Hold a statement for review; returns the review id and, unless approved, the error."""
        self.flush()
        shown = text if not params else f"{text}\n-- parameters: {_params(params)}"
        review = await self.deps.service.hold_statement(
            self.s.identity,
            self.s.target.name,
            shown,
            risk=verdict.risk,
            rule=verdict.rule,
            session_id=self.s.id,
        )
        self.s.held += 1
        conn = self.deps.service.connection(self.s.target.name)
        where = conn.approvers.channel or "the approvers"
        notice = pg.NoticeResponse.build(
            "NOTICE",
            "01000",
            f"held for approval: review {review.id} posted to {where}, waiting up to "
            f"{_human(conn.review_timeout)} ({verdict.reason})",
        )
        self.s.client.write(pg.encode(notice))
        self.s.holding = review.id
        self.s.cancel_hold.clear()
        try:
            final, why = await self._wait(review.id)
        finally:
            self.s.holding = None
        self.deps.metrics.hold_seconds.observe(
            (self.deps.service.clock.now() - review.created_at).total_seconds()
        )
        if why == "gone":
            raise ClientGone
        if why == "cancelled" or final is None:
            return review.id, refusal_error("57014", "canceling statement due to user request")
        if final.state is ReviewState.APPROVED:
            return review.id, None
        if final.state is ReviewState.DENIED:
            deciding = final.deciding
            who = deciding.approver.subject if deciding else "an approver"
            reason = deciding.reason if deciding and deciding.reason else "no reason given"
            return review.id, refusal_error(
                "42501", f"denied by {who}: {reason}", detail=f"review {review.id}"
            )
        return review.id, refusal_error(
            "57014",
            f"review {review.id} was {final.state.value}: nobody decided within "
            f"{_human(conn.review_timeout)}",
        )

    async def _wait(self, review_id: str) -> tuple[Review | None, str]:
        decision = asyncio.create_task(self.deps.service.await_decision(review_id))
        gone = asyncio.create_task(self._client_left())
        cancel = asyncio.create_task(self.s.cancel_hold.wait())
        try:
            await asyncio.wait({decision, gone, cancel}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (gone, cancel):
                task.cancel()
            # The reader must be free again before the relay reads from it.
            await asyncio.gather(gone, cancel, return_exceptions=True)
        if decision.done():
            return decision.result(), "decided"
        decision.cancel()
        why = "gone" if gone.done() and not gone.cancelled() else "cancelled"
        with contextlib.suppress(Exception):
            final = await self.deps.service.cancel(review_id, self.s.identity)
            if final.state is ReviewState.APPROVED and why == "cancelled":
                return final, "decided"
        return None, why

    async def _client_left(self) -> None:
        """Buffer what the client sends while its statement is held; return at end of stream."""
        while True:
            data = await self.reader.read(65536)
            if not data:
                return
            self.parser.receive_data(data)


def _blocked(verdict: Verdict) -> pg.ErrorResponse:
    return refusal_error(
        "42501",
        f"blocked by rule {verdict.rule}: {verdict.reason}",
        detail="Airlock blocks this class of statement on this connection",
    )


def _params(params: tuple[bytes | None, ...]) -> str:
    shown = []
    for value in params[:20]:
        if value is None:
            shown.append("NULL")
        else:
            text = value[:200].decode("utf-8", "replace")
            shown.append(repr(text))
    return ", ".join(shown) + (" …" if len(params) > 20 else "")


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"
