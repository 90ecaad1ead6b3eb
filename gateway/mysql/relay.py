"""One MySQL session's commands: inspect each, forward what is allowed, hold or refuse the rest.

MySQL is request/response ("Command Phase"): the relay reads one command, decides, forwards it
with sequence id 0 and relays the server's whole reply (``gateway.mysql.wire.state`` says where
it ends) before it reads the next. A client that sends its next command early finds it read
after the reply, in order. A refused command is answered by the gateway with one ERR packet in
place of the server's reply: one ERR is a whole reply to every command that has one, and for a
multi-statement text it is the first and last result, so the client stays in step. The verdict
of a multi-statement text is the worst of its statements' (the dialect classifies each); the
whole text runs, is held or is refused as one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any, Protocol

from approvals import Identity
from gateway.guardrails import Action, Verdict
from gateway.mysql import refusals
from gateway.mysql import wire as my
from gateway.mysql.airlock import hold
from gateway.mysql.context import EFFECT_KINDS, Deps, MySession
from gateway.mysql.lane import Lane, open_lane
from gateway.mysql.masking import Lineage, ReplyMasker
from gateway.mysql.reply import Outcome, Reply
from gateway.mysql.statements import Statements
from gateway.mysql.stream import PacketStream
from gateway.mysql.upstream import (
    SESSION_FACTS,
    SQL_MODE,
    Upstream,
    UpstreamGone,
    query_row,
    query_value,
)
from gateway.sessions import ClientGone

__all__ = ["Killer", "Relay"]

Cmd = my.Command
# Answered by the server with one OK / ERR (or EOF): relayed, not recorded as statements.
SIMPLE = frozenset({Cmd.PING, Cmd.SET_OPTION})
STATEMENTS: dict[int, Callable[[Statements, bytes], Awaitable[None]]] = {
    Cmd.STMT_PREPARE: Statements.prepare,
    Cmd.STMT_EXECUTE: Statements.execute,
    Cmd.STMT_SEND_LONG_DATA: Statements.send_long_data,
    Cmd.STMT_CLOSE: Statements.close,
    Cmd.STMT_RESET: Statements.reset,
    Cmd.STMT_FETCH: Statements.fetch,
}
NOT_YET: dict[int, str] = {
    0xFA: "COM_STMT_BULK_EXECUTE",
    Cmd.CHANGE_USER: "COM_CHANGE_USER (connect again with the other token)",
}


_RESULTS = (my.Expect.RESULTS, my.Expect.CURSOR)  # replies whose result sets are masked


class Killer(Protocol):
    """The listener's part in a KILL of one of its own sessions (gateway.mysql.listener)."""

    def owned(self, identity: Identity, target: Any) -> Any:
        """The live session ``target`` names, if ``identity`` may kill it; else None."""
        ...

    async def kill(self, by: str, live: Any, target: Any) -> str:
        """Do it (``by``: who asked, for the victim's record); the rule it is recorded under."""
        ...


class Relay:
    def __init__(self, s: MySession, deps: Deps, client: PacketStream, upstream: Upstream) -> None:
        self.s, self.deps, self.client, self.upstream = s, deps, client, upstream
        self.tracker = my.ReplyTracker(upstream.capabilities)
        self.failed_after_effects = False  # the last text changed state, then failed
        self.statements = Statements(self)  # prepared statements (gateway.mysql.statements)
        policy = s.target.masking
        self.lineage = Lineage(policy) if policy is not None else None
        self._counters: dict[str, Any] = {}  # the statements metric's children, by outcome
        # The listener: a KILL of one of the gateway's own sessions of the same identity is
        # done by the gateway, anything else is the rules' business.
        self.killer: Killer | None = None
        self.last: Outcome | None = None  # of the last statement forwarded
        self.waiting = False  # for the next command, at the top of ``run`` (the fast lane's cue)
        self.lane: Lane | None = None  # while ``run`` runs, on the listener's own channels

    async def run(self) -> str:
        """Relay until the client quits or leaves; returns the session's outcome. The fast
        lane (gateway.mysql.lane) takes what it can while the loop waits for a command."""
        self.lane = lane = open_lane(self)
        try:
            return await self._loop()
        finally:
            if lane is not None:
                lane.detach()

    async def _loop(self) -> str:
        client = self.client
        while True:
            client.seq = 0
            self.waiting = True
            try:
                packet = await client.read()
            finally:
                self.waiting = False
            if packet is None:
                return "client_gone"
            if not packet.payload:
                raise my.MalformedPacket("an empty command packet")
            command = packet.payload[0]
            if command == Cmd.QUIT:
                return "closed"
            try:
                await self._command(command, packet.payload)
            except ClientGone:
                return "client_gone"
            await client.drain()

    async def _command(self, command: int, payload: bytes) -> None:
        if command == Cmd.QUERY:
            await self._query(payload)
        elif command == Cmd.INIT_DB:
            name = payload[1:].decode("utf-8", "surrogateescape")
            text = "USE `" + name.replace("`", "``") + "`"
            if await self.statement(text, payload, expect=my.Expect.SIMPLE) is not None:
                self.s.database = name
                self.s.state = self.s.state.with_database(name)
        elif command == Cmd.FIELD_LIST:
            table = payload[1:].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            text = "SHOW COLUMNS FROM `" + table.replace("`", "``") + "`"
            await self.statement(text, payload, expect=my.Expect.FIELD_LIST)
        elif command == Cmd.PROCESS_KILL and len(payload) >= 5:
            text = f"KILL {int.from_bytes(payload[1:5], 'little')}"
            target = self.kill_target(text)
            if target is None or not await self._killed(text, target):
                await self.statement(text, payload, expect=my.Expect.SIMPLE)
        elif command in SIMPLE:
            await self.forward(payload, my.Expect.SIMPLE)
        elif command == Cmd.STATISTICS:
            await self.forward(payload, my.Expect.STATISTICS)
        elif command == Cmd.RESET_CONNECTION:
            outcome = await self.forward(payload, my.Expect.SIMPLE)
            if outcome.error is None:  # the server's defaults again: its sql_mode is read
                mode = await query_value(self.upstream, SQL_MODE)
                state = self.deps.state().with_database(self.s.state.database)  # kept
                self.s.state = state.with_sql_mode((mode or b"").decode("utf-8", "replace"))
                self.statements.forget()
        elif command in STATEMENTS:
            await STATEMENTS[command](self.statements, payload)
        elif command in NOT_YET:
            what = NOT_YET[command]
            self.refuse(f"<{what}>", "block", refusals.unsupported(what))
        else:
            self.refuse(
                f"<command 0x{command:02x}>",
                "block",
                refusals.unknown_command(command),
                rule=refusals.COMMAND,
            )

    async def _query(self, payload: bytes) -> None:
        try:
            text = payload[1:].decode("utf-8")
        except UnicodeDecodeError:
            shown = payload[1:].decode("utf-8", "replace")
            self.s.statements_seen += 1
            self.refuse(shown, "block", refusals.not_utf8(), rule=refusals.UTF8)
            return
        target = self.kill_target(text)
        if target is not None and await self._killed(text, target):
            return
        ran = await self.statement(text, payload)
        if ran is not None and ran.kinds & EFFECT_KINDS:
            self.s.state = self.s.state.after(text)
        elif ran is None and self.failed_after_effects:
            await self.resync()

    async def statement(
        self,
        text: str,
        payload: bytes,
        verdict: Verdict | None = None,
        *,
        expect: my.Expect = my.Expect.RESULTS,
        params: tuple[bytes | None, ...] = (),
        binary: bool = False,
        derived: frozenset[int] | None = None,
    ) -> Verdict | None:
        """Judge (unless ``verdict`` is given: a prepared statement's), hold (with ``params``
        bound), journal, forward and record one statement; its verdict when it ran OK, else
        None."""
        s = self.s
        s.statements_seen += 1
        if self.deps.core.audit.behind:
            self.refuse(text, "block", refusals.audit_behind(), rule=refusals.BACKLOG)
            return None
        if verdict is None:
            if self.leak(text):
                return None
            verdict = s.target.guardrails.evaluate(text, s.state)
        if verdict.action is Action.BLOCK:
            self.refuse(text, "block", refusals.blocked(verdict), rule=verdict.rule)
            return None
        review_id = None
        if verdict.action is Action.HOLD:
            held = await hold(self.deps.core, self.s, self.client, text, verdict, params)
            review_id = held.review_id
            refused = refusals.held_refusal(held, verdict)
            if refused is not None:
                self.refuse(text, refused[1], refused[0], rule=refused[2], review_id=review_id)
                return None
        assert s.log is not None
        if not s.log.forwarding(text, held=review_id is not None):
            problem = s.log.journal.problem if s.log.journal is not None else None
            self.refuse(text, "block", refusals.unjournaled(problem), rule=refusals.JOURNAL)
            return None
        if derived is None and self.lineage is not None and not binary:
            derived = self.lineage.derived(text, s.state)
        outcome = await self.forward(payload, expect, text, binary=binary, derived=derived)
        outcome.review_id, self.last = review_id, outcome
        error = outcome.error
        self.failed_after_effects = error is not None and bool(verdict.kinds & EFFECT_KINDS)
        self.record(text, verdict, outcome)
        return verdict if error is None else None

    def record(self, text: str, verdict: Verdict, outcome: Outcome) -> None:
        """Record a forwarded (journaled) statement or cursor fetch as the server answered."""
        s, error = self.s, outcome.error
        assert s.log is not None
        for name, count in (outcome.masked or {}).items():
            s.masked_total[name] = s.masked_total.get(name, 0) + count
        s.rows += outcome.rows
        s.bytes_out += outcome.size
        s.log.add(
            text, "ok" if error is None else "error", verdict.action.value, rule=verdict.rule,
            review_id=outcome.review_id, rows=outcome.rows, size=outcome.size,
            duration_us=int((perf_counter() - outcome.started) * 1e6),
            sqlstate=error.sqlstate if error else None, error=error.message if error else None,
            masked=outcome.masked,
        )  # fmt: skip
        self._count("ok" if error is None else "error")

    async def resync(self) -> None:
        """A text with state effects failed: which of its statements ran before the error is
        not known here, so the state is read back from the server (sql_mode, the database);
        its SQL-level prepared statements are forgotten (an EXECUTE of one is then held)."""
        self.failed_after_effects = False
        row = await query_row(self.upstream, SESSION_FACTS)
        mode = row[0] if row else None
        database = row[1] if row and len(row) > 1 else None
        state = self.s.state.without_prepared(None)
        state = state.with_sql_mode(mode.decode("utf-8", "replace") if mode is not None else None)
        name = database.decode("utf-8", "surrogateescape") if database is not None else None
        self.s.database = name or ""
        self.s.state = state.with_database(name)

    async def forward(
        self,
        payload: bytes,
        expect: my.Expect,
        text: str = "",
        *,
        binary: bool = False,
        rewrite: Callable[[my.Input, bytes], bytes] | None = None,
        derived: frozenset[int] | None = None,
        masker: ReplyMasker | None = None,
    ) -> Outcome:
        """Send the command upstream and relay the server's whole reply to the client, its
        rows and errors masked on a connection that masks (``text``: what the client sent,
        whose own values an error may quote; ``masker``: a cursor's, for its fetches)."""
        up = self.upstream.stream
        up.seq = 0
        up.write(payload)
        reply = self.reply(expect, text, binary=binary, rewrite=rewrite, derived=derived,
                           masker=masker)  # fmt: skip
        client = self.client
        while not reply.step():
            await client.drain_if_full()
            if not await up.receive():
                raise UpstreamGone("the upstream server closed the connection")
        return reply.outcome

    def reply(
        self,
        expect: my.Expect,
        text: str = "",
        *,
        binary: bool = False,
        rewrite: Callable[[my.Input, bytes], bytes] | None = None,
        derived: frozenset[int] | None = None,
        masker: ReplyMasker | None = None,
    ) -> Reply:
        """The reply to a command just sent upstream (``forward``'s, and the fast lane's)."""
        # Only result sets carry values (COM_FIELD_LIST's definitions hold none to mask).
        if masker is None and expect in _RESULTS:
            masker = self._masker(text, binary, derived)
        self.tracker.begin(expect)
        return Reply(self.upstream.stream, self.client, self.tracker, masker, rewrite)

    def _masker(
        self, text: str, binary: bool, derived: frozenset[int] | None
    ) -> ReplyMasker | None:
        policy = self.s.target.masking
        if policy is None:
            return None
        planned = self.lineage.planned if self.lineage is not None else None
        return ReplyMasker(
            policy, self.s.state.database, text, binary=binary, derived=derived, planned=planned
        )

    def leak(self, text: str) -> bool:
        """On a connection that masks, refuse (True) a text that takes a route around the
        masked result set (the dialect's ``check``: ``masking/<route>``, 1227)."""
        lineage = self.lineage
        if lineage is None:
            return False
        found = lineage.leak(text, self.s.state)
        if found is None:
            return False
        error = my.Err(1227, "42000", f"blocked by rule {found.rule}: {found.reason}")
        self.refuse(text, "block", error, rule=found.rule)
        return True

    def send_only(self, payload: bytes) -> None:
        """Forward a command the server does not answer (COM_STMT_CLOSE, SEND_LONG_DATA)."""
        up = self.upstream.stream
        up.seq = 0
        up.write(payload)
        up.flush()

    def kill_target(self, text: str) -> Any:
        """The thread a KILL text names (the dialect's kill_target: cheap for any other)."""
        finder = self.deps.kill_target
        return finder(text, self.s.state) if finder is not None else None

    async def _killed(self, text: str, target: Any) -> bool:
        """A KILL of one of the gateway's own sessions of this identity (the mysql client's
        Ctrl-C sends ``KILL QUERY <id>`` on a new connection): done by the listener, answered
        OK and recorded; False for any other text (the rules judge it)."""
        if self.killer is None:
            return False
        victim = self.killer.owned(self.s.identity, target)
        if victim is None:
            return False
        s = self.s
        s.statements_seen += 1
        assert s.log is not None
        if not s.log.forwarding(text):  # it runs (by the gateway): journaled like the rest
            problem = s.log.journal.problem if s.log.journal is not None else None
            self.refuse(text, "block", refusals.unjournaled(problem), rule=refusals.JOURNAL)
            return True
        rule = await self.killer.kill(f"session {s.id}", victim, target)
        self.client.write(my.Ok().encode(self.upstream.capabilities))
        s.log.add(text, "ok", "allow", rule=rule, urgent=True)
        self._count("ok")
        return True

    def refuse(
        self,
        text: str,
        outcome: str,
        error: my.Err,
        *,
        rule: str | None = None,
        review_id: str | None = None,
    ) -> None:
        """Answer the command with ``error`` in place of the server's reply, and record it."""
        self.s.refused += 1
        self.client.write(error.encode())
        assert self.s.log is not None
        self.s.log.add(
            text, outcome, outcome, rule=rule, review_id=review_id, sqlstate=error.sqlstate,
            error=error.message, urgent=True,
        )  # fmt: skip
        self._count(outcome)

    def _count(self, outcome: str) -> None:
        counter = self._counters.get(outcome)
        if counter is None:  # labels() costs more than the increment: keep the children
            counter = self._counters[outcome] = self.deps.core.metrics.statements.labels(
                "mysql", outcome
            )
        counter.inc()
