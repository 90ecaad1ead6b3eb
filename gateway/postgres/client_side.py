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
import struct
from collections.abc import Awaitable, Coroutine

from approvals import Impact
from gateway.guardrails import Action, Verdict
from gateway.postgres import refusals
from gateway.postgres import wire as pg
from gateway.postgres.context import Deps, Shared, refusal_error
from gateway.postgres.counting import NO_PARAMETERS, Counting, Parameters
from gateway.postgres.dialect import classify
from gateway.postgres.effects import EFFECT_KINDS, after_statement, has_effects
from gateway.postgres.lifecycle import SessionInput, SessionPhase, transition
from gateway.postgres.statements import Ambiguous
from gateway.postgres.tracker import Definition, Expect, Pending, Portal
from gateway.sessions import ClientGone
from gateway.sessions.text import readable

__all__ = ["ClientGone", "ClientSide", "LaneMismatch"]

T = pg.FrontendTag
INSPECT = frozenset(
    int(tag)
    for tag in (
        T.QUERY,
        T.PARSE,
        T.BIND,
        T.DESCRIBE,
        T.EXECUTE,
        T.CLOSE,
        T.FUNCTION_CALL,
        T.TERMINATE,
    )
)
# Plain ints: an Enum member lookup is a Python-level descriptor call in 3.11 (hot path).
_SYNC, _TERMINATE = int(T.SYNC), int(T.TERMINATE)
_ALLOW = Action.ALLOW.value
_COUNT = "count"  # a Definition allowed once counted within max_rows_unreviewed
_NOTHING: frozenset[int] = frozenset()
unpack_i32 = struct.Struct("!i").unpack_from
MARKER = "airlock_refused /* the statement was refused by the Airlock gateway */"
_MARKER_QUERY = pg.encode(pg.Query(MARKER))
# A named statement: a failed Parse of a named statement leaves the client's unnamed statement
# alone (a failed unnamed Parse would drop it), so the server keeps what the gateway tracks.
_MARKER_PARSE = pg.encode(pg.Parse("airlock_refused", MARKER))
_FLUSH = pg.encode(pg.Flush())
_TERMINATED, _CLOSED = SessionPhase.TERMINATED, SessionPhase.CLOSED
# What a message handler returns when the relay must wait before reading on: a held statement,
# or one whose session-state effects what follows is classified in.
Waiting = Awaitable[object] | None


class LaneMismatch(RuntimeError):
    """The fast lane and this path disagreed about a request (a bug): the session ends."""


class ClientSide:
    def __init__(self, shared: Shared, deps: Deps, parser: pg.ClientParser) -> None:
        self.s, self.deps, self.parser = shared, deps, parser
        self.swallow = False  # dropping the rest of a refused extended batch, up to Sync
        self.out: list[bytes | memoryview] = []
        self._rest: memoryview | None = None  # whole messages a wait interrupted
        self.left = asyncio.Event()  # the client closed its connection (set by the relay)
        self.counting = Counting(shared)  # the listener gives it the session's Counter
        self._replaying = False  # accounting for the fast lane's request: it journaled it

    def flush(self) -> None:
        if self.out:
            # One buffer, one send: uvloop's writelines sends each item on its own.
            self.s.upstream.write(b"".join(self.out))
            self.out = []

    def step(self) -> Waiting:
        """Process the whole messages received so far, up to one the relay must wait for
        (returned: await it, then call step again); None once all were processed."""
        parser, s = self.parser, self.s
        while s.phase is not _TERMINATED and s.phase is not _CLOSED:
            whole = self._rest
            if whole is not None:
                self._rest = None
            else:
                whole = parser.take_run(_NOTHING)  # every whole message, headers checked
            if whole:
                waiting = self._messages(whole)
                if waiting is not None:
                    return waiting
                continue
            frame = parser.next_frame()  # NEED_DATA or a bad header's error
            if isinstance(frame, pg.NeedData):
                return None
            waiting = self._frame(frame)
            if waiting is not None:
                return waiting
        return None

    def replay(self, request: bytes, started: float) -> None:
        """Account for a request the fast lane forwarded (gateway.postgres.lane): push what this
        path pushes for it, forward nothing again. The lane takes only requests this path
        forwards unchanged without waiting; anything else here ends the session."""
        tracker = self.s.tracker
        before = len(tracker.queue)
        out, self.out = self.out, []
        self._replaying = True
        try:
            waiting = self._messages(memoryview(request))
        finally:
            self._replaying = False
        replayed, self.out = self.out, out
        if waiting is not None or self._rest is not None or b"".join(replayed) != request:
            if isinstance(waiting, Coroutine):
                waiting.close()
            raise LaneMismatch("the fast lane forwarded a request the gateway would not have")
        for pending in list(tracker.queue)[before:]:
            pending.started = started

    def _messages(self, buf: memoryview) -> Waiting:
        """Walk whole messages: those forwarded unread stay in one run; a handler that must be
        waited for stops the walk (the rest is kept for the next step)."""
        out, s = self.out, self.s
        pos = run = 0
        end = len(buf)
        while pos < end and s.phase is not _TERMINATED:
            tag = buf[pos]
            nxt = pos + 1 + unpack_i32(buf, pos + 1)[0]
            if self.swallow:  # a refused extended batch: dropped up to its Sync
                if run < pos:
                    out.append(buf[run:pos])
                run = nxt
                if tag == _SYNC:
                    self.swallow = False
                    self._sync()
                    out.append(buf[pos:nxt])
                elif tag == _TERMINATE:
                    out.append(buf[pos:nxt])
                    self._terminate()
            elif tag == _SYNC:
                self._sync()
            elif tag in INSPECT:
                if run < pos:
                    out.append(buf[run:pos])
                run = nxt
                message = bytes(buf[pos:nxt])  # the codec decodes from bytes
                waiting = self._frame(pg.Frame(tag, message, 0, len(message)))
                if waiting is not None:
                    if nxt < end:
                        self._rest = buf[nxt:]
                    return waiting
            pos = nxt
        if run < pos:
            out.append(buf[run:pos])
        return None

    def _frame(self, frame: pg.Frame) -> Waiting:
        tag = frame.tag
        if tag == _SYNC:
            self._sync()
            self.out.append(frame.raw)
            return None
        if tag == _TERMINATE:
            self.out.append(frame.raw)
            self._terminate()
            return None
        message = self.parser.decode(frame)
        if isinstance(message, pg.Query):
            return self._query(message, frame)
        if isinstance(message, pg.Execute):
            return self._execute(message, frame)
        if isinstance(message, pg.Parse):
            self._parse(message, frame)
        elif isinstance(message, pg.Bind):
            self._bind(message, frame)
        elif isinstance(message, pg.Describe):
            self._describe(message, frame)
        elif isinstance(message, pg.Close):
            self._close(message, frame)
        elif isinstance(message, pg.FunctionCall):
            error = refusal_error("42501", "the function-call sub-protocol is not allowed")
            self._refuse_simple(f"<function call {message.function_oid}>", "block", error)
        return None

    def _terminate(self) -> None:
        """The client's Terminate (forwarded): it is read no further; the session ends."""
        self.s.phase = transition(self.s.phase, SessionInput.TERMINATE)

    # -- simple protocol --------------------------------------------------------------------

    def _query(self, message: pg.Query, frame: pg.Frame) -> Waiting:
        text = message.text
        self.s.statements_seen += 1
        undecodable = pg.utf8_error(text)
        if undecodable is not None:
            self._refuse_simple(
                readable(text), "block", refusals.not_utf8(undecodable), rule=refusals.UTF8
            )
            return None
        if self.deps.core.audit.behind:
            self._refuse_simple(text, "block", refusals.audit_behind(), rule=refusals.BACKLOG)
            return None
        verdict = self.s.target.guardrails.evaluate(text, self.s.state)
        leak = refusals.masking_refusal(self.s, text)
        if leak is not None:
            self._refuse_simple(text, "block", leak[1], rule=leak[0])
            return None
        if verdict.action is Action.BLOCK:
            self._refuse_simple(text, "block", refusals.blocked(verdict), rule=verdict.rule)
            return None
        if verdict.action is Action.HOLD:
            return self._held_query(text, verdict, frame)
        if self.needs_count(text, verdict):
            return self._counted_query(text, verdict, frame)
        return self._run_query(text, verdict, frame, None)

    async def _counted_query(self, text: str, verdict: Verdict, frame: pg.Frame) -> None:
        """An allowed write under max_rows_unreviewed: run if the count is within it."""
        self.flush()  # what came before is answered before the count runs in the session
        verdict, impact = await self.counting.within_limit(text, verdict, NO_PARAMETERS)
        if verdict.action is Action.HOLD:
            await self._held_query(text, verdict, frame, (impact,))
            return
        waiting = self._run_query(text, verdict, frame, None)
        if waiting is not None:
            await waiting

    async def _held_query(
        self,
        text: str,
        verdict: Verdict,
        frame: pg.Frame,
        counted: tuple[Impact | None] | None = None,
    ) -> None:
        if counted is None:
            self.flush()  # what came before is answered before the count runs in the session
            counted = (await self.counting.impact(text, NO_PARAMETERS),)
        review_id, refused = await self._hold(text, verdict, (), counted[0])
        if refused is not None:
            error, outcome, rule = refused
            self._refuse_simple(text, outcome, error, rule=rule, review_id=review_id)
            return
        waiting = self._run_query(text, verdict, frame, review_id)
        if waiting is not None:
            await waiting

    def _run_query(
        self, text: str, verdict: Verdict, frame: pg.Frame, review_id: str | None
    ) -> Waiting:
        if not self._journaled(text, review_id):
            self._refuse_simple(text, "block", refusals.unjournaled(self.s), rule=refusals.JOURNAL)
            return None
        pending = Pending(
            Expect.QUERY,
            text=text,
            verdict=verdict.action.value,
            rule=verdict.rule,
            review_id=review_id,
        )
        if self.s.lineage is not None:
            pending.derived = self.s.lineage.of(text)
        return self._forward(pending, frame, verdict.kinds & EFFECT_KINDS)

    def _journaled(self, text: str, review_id: str | None) -> bool:
        """Record the statement in the session's journal before it is forwarded (the core's
        ``forwarding``); the fast lane did so for a request this path accounts for."""
        if self._replaying:
            return True
        assert self.s.log is not None
        return self.s.log.forwarding(text, held=review_id is not None)

    def _sync(self) -> None:
        self.s.tracker.push(Pending(Expect.SYNC))
        self.s.book.synced()

    def _forward(self, pending: Pending, frame: pg.Frame, effects: object) -> Waiting:
        """Forward a statement; one that may change the session state is waited for, so what
        follows is classified in the state it leaves (see gateway.postgres.effects)."""
        classification = classify(pending.text or "", self.s.state) if effects else None
        if classification is None or not has_effects(classification):
            self.s.tracker.push(pending)
            self.out.append(frame.raw)
            return None
        pending.after, done = after_statement(self.s, classification)
        self.s.tracker.push(pending)
        self.out.append(frame.raw)
        if any(_is_copy(st.command) for st in classification.statements):
            return None  # COPY FROM STDIN needs the client's data: waiting would deadlock
        if pending.expect is Expect.EXECUTE:
            self.out.append(_FLUSH)  # the server holds extended results until Sync or Flush
        self.flush()
        return done.wait()

    def _refuse_simple(
        self,
        text: str,
        outcome: str,
        error: pg.ErrorResponse,
        *,
        rule: str | None = None,
        review_id: str | None = None,
    ) -> None:
        """Refuse a Query (or a function call): the server answers the marker Query."""
        self._refuse(Expect.QUERY, text, outcome, error, rule, review_id)

    def _refuse(
        self,
        expect: Expect,
        text: str,
        outcome: str,
        error: pg.ErrorResponse,
        rule: str | None,
        review_id: str | None,
    ) -> None:
        self.s.refused += 1
        self.out.append(_MARKER_QUERY if expect is Expect.QUERY else _MARKER_PARSE)
        self.s.tracker.push(
            Pending(
                expect, text=text, verdict=outcome, rule=rule, review_id=review_id, refusal=error
            )
        )

    # -- extended protocol ------------------------------------------------------------------

    def _parse(self, message: pg.Parse, frame: pg.Frame) -> None:
        text = message.query
        undecodable = pg.utf8_error(text)
        if undecodable is not None:
            self._refuse_extended(
                readable(text), "block", refusals.not_utf8(undecodable), rule=refusals.UTF8
            )
            return
        verdict = self.s.target.guardrails.evaluate(text, self.s.state)
        leak = refusals.masking_refusal(self.s, text)
        if leak is not None:
            self._refuse_extended(text, "block", leak[1], rule=leak[0])
            return
        if verdict.action is Action.BLOCK:
            self._refuse_extended(text, "block", refusals.blocked(verdict), rule=verdict.rule)
            return
        effects = bool(verdict.kinds & EFFECT_KINDS)
        lineage = self.s.lineage
        derived = lineage.of(text) if lineage is not None else None
        action = verdict.action.value
        if verdict.action is Action.ALLOW and self.needs_count(text, verdict):
            action = _COUNT  # not the fast lane's: the general path counts at each Execute
        definition = Definition(text, action, verdict.rule, effects, derived, message.param_types)
        pending = Pending(Expect.PARSE, name=message.name, definition=definition)
        self.s.book.parsing(pending)
        self.s.tracker.push(pending)
        self.out.append(frame.raw)

    def _bind(self, message: pg.Bind, frame: pg.Frame) -> None:
        name = message.statement
        found = self.s.book.lookup(name)
        if found is None or isinstance(found, Ambiguous):
            why = "is unknown" if found is None else "is being redefined: wait for its answer"
            error = refusal_error("26000", f'prepared statement "{name}" {why}')
            self._refuse_extended(f"<bind {name}>", "block", error)
            return
        self.s.portals[message.portal] = Portal(
            found, message.params, formats=message.param_formats
        )
        self.s.tracker.push(Pending(Expect.BIND, name=message.portal))
        self.out.append(frame.raw)

    def _describe(self, message: pg.Describe, frame: pg.Frame) -> None:
        if message.kind == "S":
            self.s.tracker.push(Pending(Expect.DESCRIBE_STATEMENT, name=message.name))
        else:
            portal = self.s.portals.get(message.name)
            if portal is not None:
                portal.described = True
            self.s.tracker.push(Pending(Expect.DESCRIBE_PORTAL, name=message.name, portal=portal))
        self.out.append(frame.raw)

    def _close(self, message: pg.Close, frame: pg.Frame) -> None:
        pending = Pending(Expect.CLOSE, name=message.name, closes=message.kind == "S")
        if pending.closes:
            self.s.book.parsing(pending)
        else:
            self.s.portals.pop(message.name, None)
        self.s.tracker.push(pending)
        self.out.append(frame.raw)

    def _execute(self, message: pg.Execute, frame: pg.Frame) -> Waiting:
        portal = self.s.portals.get(message.portal)
        if portal is None:
            missing = refusal_error("34000", f'portal "{message.portal}" does not exist')
            self._refuse_extended(f"<execute {message.portal}>", "block", missing)
            return None
        self.s.statements_seen += 1
        if self.deps.core.audit.behind:
            self._refuse_extended(
                portal.statement.text, "block", refusals.audit_behind(), rule=refusals.BACKLOG
            )
            return None
        statement = portal.statement
        if statement.verdict == _ALLOW:
            return self._run_execute(message, frame, portal, None)
        # Held or counted at Parse: decided with the Bind values, whose parameters bound
        # non-NULL may be its row filter (Classification.bound). Allowed then: no wait.
        non_null = frozenset(i for i, v in enumerate(portal.params, 1) if v is not None)
        verdict = self.s.target.guardrails.evaluate_bound(statement.text, self.s.state, non_null)
        if verdict.action is Action.ALLOW and not self.needs_count(statement.text, verdict):
            return self._run_execute(message, frame, portal, None, verdict)
        return self._decided_execute(message, frame, portal, verdict)

    async def _decided_execute(
        self, message: pg.Execute, frame: pg.Frame, portal: Portal, verdict: Verdict
    ) -> None:
        """A prepared statement to hold, or to count first (max_rows_unreviewed), with its
        Bind values (the count runs with them)."""
        statement = portal.statement
        bound = Parameters(portal.params, portal.formats, statement.param_types)
        counted: tuple[Impact | None] | None = None
        if verdict.action is Action.ALLOW and self.needs_count(statement.text, verdict):
            verdict, impact = await self.counting.within_limit(statement.text, verdict, bound)
            counted = (impact,)
        if verdict.action is Action.BLOCK:
            self._refuse_extended(
                statement.text, "block", refusals.blocked(verdict), rule=verdict.rule
            )
            return
        review_id: str | None = None
        if verdict.action is Action.HOLD:
            impact = counted[0] if counted else await self.counting.impact(statement.text, bound)
            review_id, refused = await self._hold(statement.text, verdict, portal.params, impact)
            if refused is not None:
                error, outcome, rule = refused
                self._refuse_extended(
                    statement.text, outcome, error, rule=rule, review_id=review_id
                )
                return
        waiting = self._run_execute(message, frame, portal, review_id, verdict)
        if waiting is not None:
            await waiting

    def _run_execute(
        self,
        message: pg.Execute,
        frame: pg.Frame,
        portal: Portal,
        review_id: str | None,
        decided: Verdict | None = None,
    ) -> Waiting:
        statement = portal.statement
        if not self._journaled(statement.text, review_id):
            self._refuse_extended(
                statement.text, "block", refusals.unjournaled(self.s), rule=refusals.JOURNAL
            )
            return None
        if self.s.target.masking is not None and portal.plan is None and not portal.described:
            # Masking needs the result's columns: ask the server, keep the answer to ourselves
            # (libpq describes every portal itself; asyncpg describes only the statement).
            self.s.tracker.push(
                Pending(Expect.DESCRIBE_PORTAL, name=message.portal, internal=True, portal=portal)
            )
            self.out.append(pg.encode(pg.Describe("P", message.portal)))
        pending = Pending(
            Expect.EXECUTE,
            name=message.portal,
            text=statement.text,
            verdict=statement.verdict if decided is None else decided.action.value,
            rule=statement.rule if decided is None else decided.rule,
            review_id=review_id,
            portal=portal,
        )
        return self._forward(pending, frame, statement.effects)

    def _refuse_extended(
        self,
        text: str,
        outcome: str,
        error: pg.ErrorResponse,
        *,
        rule: str | None = None,
        review_id: str | None = None,
    ) -> None:
        """Refuse in the extended protocol: a marker Parse, then the batch is dropped to Sync."""
        self._refuse(Expect.PARSE, text, outcome, error, rule, review_id)
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
        assert self.s.log is not None
        self.s.log.add(
            text, outcome, outcome, rule=rule, review_id=review_id, sqlstate=error.sqlstate,
            error=error.message, urgent=True,
        )  # fmt: skip
        self.deps.core.metrics.statements.labels("postgres", outcome).inc()

    # -- the airlock ------------------------------------------------------------------------

    async def _hold(
        self,
        text: str,
        verdict: Verdict,
        params: tuple[bytes | None, ...],
        impact: Impact | None,
    ) -> tuple[str | None, tuple[pg.ErrorResponse, str, str | None] | None]:
        """Send what came before upstream, then hold the statement (the core's hold, told in a
        NoticeResponse); returns the review id (None: none could be opened) and, unless
        approved, how it is refused (refusals.held_refusal)."""
        self.flush()
        held = await self.deps.core.hold(
            self.s,
            left=self.left,
            text=text,
            verdict=verdict,
            params=params,
            notify=self._notice,
            redact=self.s.target.redact,
            impact=impact,
        )
        return held.review_id, refusals.held_refusal(held, verdict)

    # -- counting (gateway.postgres.counting) ------------------------------------------------

    def needs_count(self, text: str, verdict: Verdict) -> bool:
        """An allowed write to count against max_rows_unreviewed (never the fast lane's)."""
        return self.counting.needs_count(text, verdict)

    def _notice(self, text: str) -> None:
        self.s.client.write(pg.encode(pg.NoticeResponse.build("NOTICE", "01000", text)))


def _is_copy(command: str) -> bool:
    return command.removesuffix("Stmt") == "Copy"  # pglast's node name, with or without "Stmt"
