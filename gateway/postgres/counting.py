"""Count the rows a write would touch, read-only, where the session would run it.

A simple-protocol statement (a Query) is counted **in the session's own upstream connection**,
once nothing of the client's is in flight (``InSession``): the count then sees the session's
transaction, temporary tables, search_path and role. Two Queries, their answers diverted from
the client (``ServerSide.divert``; docs 55.2.2, "Simple Query"):

    outside a transaction:  BEGIN READ ONLY; SET LOCAL statement_timeout = ...; <count>
                            ROLLBACK
    inside one:             SAVEPOINT airlock_count; SET LOCAL transaction_read_only = on;
                            SET LOCAL statement_timeout = ...; <count>
                            ROLLBACK TO SAVEPOINT airlock_count; RELEASE SAVEPOINT airlock_count

(a rollback to a savepoint reverts the SET LOCALs made after it). In a failed transaction
nothing is sent ("not counted"). If the transaction status after the second Query is not the
one before, the session ends (``CountBroke``): the gateway never leaves a session in a state
its client did not ask for.

A prepared statement's Execute arrives mid-batch (its Parse and Bind are in the server's
unnamed slots, which a Query would destroy), so it is counted on a second upstream connection
of the session's (``Counter``), opened on first use with the same credential (the connection's
or the delegation's role), database and start-up parameters, and kept until the session ends.
Each count is one transaction (docs 55.2.3, "Extended Query"):

    Query  BEGIN READ ONLY; SET LOCAL statement_timeout = ...; SET LOCAL search_path = ...
    Parse / Bind (the client's own parameter values, formats and types) / Execute / Sync
    Query  ROLLBACK

A read-only transaction refuses writes, nextval() and SELECT ... FOR UPDATE; the statement
timeout bounds a slow count ("not counted: timed out"). What the second connection cannot see
(it is not the session's): the session's uncommitted rows, its temporary tables, a ``SET ROLE``
it made, and rows its open transaction changed. Those counts are wrong or fail ("not
counted"); docs/security.md says so. A count is evidence for the approver, never a
guarantee: rows can change between the count and the approval.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from approvals import Impact
from gateway.config import ConnectionConfig
from gateway.guardrails import Action, Kind, Statement, Verdict
from gateway.postgres import wire as pg
from gateway.postgres.context import Shared
from gateway.postgres.dialect.count import CountPlan, count_plan
from gateway.postgres.upstream import Upstream, UpstreamError, connect_upstream, read_event

if TYPE_CHECKING:
    from gateway.postgres.server_side import ServerSide

__all__ = [
    "COUNT_TIMEOUT_MS",
    "LIMIT_RULE",
    "NO_PARAMETERS",
    "CountBroke",
    "Counter",
    "Counting",
    "InSession",
    "Parameters",
    "close_quietly",
]

COUNT_TIMEOUT_MS = 2000  # the count's statement_timeout
_DEADLINE_S = 8.0  # connecting (first use) and counting, at most
_TEXT_OID = 25
_IDLE, _FAILED = ord("I"), ord("E")  # ReadyForQuery's transaction status (docs 55.7)
_SAVEPOINT = "airlock_count"
_PLANS = 256  # count plans remembered per session, by text
LIMIT_RULE = "limit/max_rows_unreviewed"  # the rule named for writes held by the row limit
_REWRITES = ("DELETE ", "UPDATE ", "MERGE ")  # expressions.py's WRITE findings of these verbs


class Parameters:
    """The values bound to a prepared statement, as the count re-binds them: per parameter its
    value, its format (0 text, 1 binary) and the type OID its Parse gave (0: inferred)."""

    __slots__ = ("formats", "types", "values")

    def __init__(
        self, values: tuple[bytes | None, ...], formats: tuple[int, ...], types: tuple[int, ...]
    ) -> None:
        self.values = values
        count = len(values)
        if not formats:
            self.formats = (0,) * count
        elif len(formats) == 1:
            self.formats = formats * count
        else:
            self.formats = formats
        self.types = types


NO_PARAMETERS = Parameters((), (), ())


class Counting:
    """What a session's listener asks about DELETE / UPDATE / MERGE: whether an allowed one
    must be counted first (max_rows_unreviewed), what one would touch (the impact preview),
    and the verdict once counted. ``counter`` is the session's counting connection."""

    def __init__(self, s: Shared) -> None:
        self.s = s
        self.counter: Counter | None = None
        self.in_session: InSession | None = None
        self._plans: dict[tuple[str, bool], CountPlan] = {}  # building one costs ~1 ms

    def needs_count(self, text: str, verdict: Verdict) -> bool:
        """An allowed DELETE / UPDATE / MERGE on a connection with max_rows_unreviewed: it runs
        only once counted within the limit (never in the fast lane: ``lane.judge``)."""
        if self.s.target.config.max_rows_unreviewed is None or Kind.WRITE not in verdict.kinds:
            return False
        _, classification = self.s.target.guardrails.inspect(text, self.s.state)
        return any(_rewrites(st) for st in classification.statements)

    async def impact(self, text: str, bound: Parameters) -> Impact | None:
        """What a DELETE / UPDATE / MERGE would touch, counted read-only (or why not); None for
        any other statement."""
        state = self.s.state
        _, classification = self.s.target.guardrails.inspect(text, state)
        statements = classification.statements
        if not any(_rewrites(st) for st in statements):
            return None
        if len(statements) != 1:
            return Impact(None, "not counted: the write is one of several statements")
        if statements[0].command not in ("Delete", "Update", "Merge"):
            return Impact(None, "not counted: the write is inside another statement")
        key = (text, state.catalog_first)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= _PLANS:
                self._plans.clear()
            plan = self._plans[key] = count_plan(text, state.catalog_first)
        if plan.rows is not None or plan.sql is None:
            return Impact(plan.rows, plan.note)
        if self.in_session is not None and bound is NO_PARAMETERS:
            return await self.in_session.count(plan)
        if self.counter is None:
            return Impact(None, "not counted")
        return await self.counter.count(plan, state.search_path, bound)

    async def within_limit(
        self, text: str, verdict: Verdict, bound: Parameters
    ) -> tuple[Verdict, Impact | None]:
        """The verdict once counted: held when the count is above max_rows_unreviewed or could
        not be made (fail closed)."""
        limit = self.s.target.config.max_rows_unreviewed
        impact = await self.impact(text, bound)
        if limit is None or impact is None or (impact.rows is not None and impact.rows <= limit):
            return verdict, impact
        if impact.rows is not None:
            reason = f"it would touch {impact.rows} rows, more than max_rows_unreviewed ({limit})"
        else:
            reason = f"max_rows_unreviewed is {limit} and the rows were {impact.note}"
        return Verdict(Action.HOLD, LIMIT_RULE, reason, "high", verdict.kinds), impact


class CountBroke(RuntimeError):
    """The session's own count left its transaction in another state: the session ends."""


class InSession:
    """Counts in the session's own upstream connection, between the client's requests."""

    def __init__(self, s: Shared, server: ServerSide) -> None:
        self.s, self.server = s, server

    async def count(self, plan: CountPlan) -> Impact:
        """The rows ``plan`` counts in the session, or why not; raises CountBroke."""
        assert plan.sql is not None
        try:
            async with asyncio.timeout(_DEADLINE_S):
                await self.server.idle()  # earlier requests answered
        except TimeoutError:
            return Impact(None, "not counted: the session was busy")
        status = self.server.status
        if status == _FAILED:
            return Impact(None, "not counted: the session's transaction has failed")
        timeout = f"SET LOCAL statement_timeout = {COUNT_TIMEOUT_MS}"
        if status == _IDLE:
            first, second = f"BEGIN READ ONLY; {timeout}; {plan.sql}", "ROLLBACK"
        else:
            first = (
                f"SAVEPOINT {_SAVEPOINT}; SET LOCAL transaction_read_only = on; "
                f"{timeout}; {plan.sql}"
            )
            second = f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}; RELEASE SAVEPOINT {_SAVEPOINT}"
        answers = _Answers(asyncio.get_running_loop().create_future())
        self.server.divert(answers.take)
        self.s.upstream.write(pg.encode(pg.Query(first)) + pg.encode(pg.Query(second)))
        try:
            async with asyncio.timeout(_DEADLINE_S):
                await answers.done
        except TimeoutError as exc:
            raise CountBroke("the session's own count got no answer") from exc
        if answers.statuses[-1] != status:
            raise CountBroke("the session's own count changed its transaction status")
        if answers.errors:  # the SQLSTATE only: an error's text may quote the data
            timed_out = "57014" in answers.errors
            why = "timed out" if timed_out else f"the database refused it ({answers.errors[0]})"
            return Impact(None, f"not counted: {why}")
        if answers.rows is None:
            return Impact(None, "not counted: no count came back")
        return Impact(answers.rows, plan.note)


class _Answers:
    """The server's answers to the two Queries of an in-session count."""

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.rows: int | None = None
        self.errors: list[str] = []
        self.statuses: list[int] = []

    def take(self, event: pg.BackendMessage) -> bool:
        if isinstance(event, pg.DataRow) and not self.statuses and self.rows is None:
            value = event.values[0] if event.values else None
            if value is not None and value.isdigit():
                self.rows = int(value)
        elif isinstance(event, pg.ErrorResponse):
            if not self.statuses:
                self.errors.append(event.sqlstate or "?")
        elif isinstance(event, pg.ReadyForQuery):
            self.statuses.append(ord(event.status))
            if len(self.statuses) == 2:
                if not self.done.done():
                    self.done.set_result(None)
                return True
        return False


def _rewrites(statement: Statement) -> bool:
    """Whether a statement deletes, updates or merges rows (anywhere in it: a CTE too)."""
    return any(f.kind is Kind.WRITE and f.detail.startswith(_REWRITES) for f in statement.findings)


class Counter:
    """One session's counting connection (opened on first use)."""

    def __init__(
        self, config: ConnectionConfig, database: str, params: dict[str, str], role: str | None
    ) -> None:
        self._config, self._database, self._params, self._role = config, database, params, role
        self._up: Upstream | None = None
        self._lock = asyncio.Lock()

    async def count(
        self, plan: CountPlan, search_path: tuple[str, ...] | None, bound: Parameters
    ) -> Impact:
        """The rows ``plan`` counts, or why not; never raises."""
        if plan.rows is not None or plan.sql is None:
            return Impact(plan.rows, plan.note)
        if search_path is None:
            return Impact(None, "not counted: the session's search_path is not known")
        async with self._lock:
            try:
                async with asyncio.timeout(_DEADLINE_S):
                    rows, failure = await self._run(plan.sql, search_path, plan.params, bound)
            except (TimeoutError, UpstreamError, OSError, pg.PgWireError) as exc:
                self.close()
                why = "timed out" if isinstance(exc, TimeoutError) else "the upstream failed"
                return Impact(None, f"not counted: {why}")
        if failure is not None:
            return Impact(None, f"not counted: {failure}")
        return Impact(rows, plan.note)

    def close(self) -> None:
        if self._up is not None:
            self._up.close()
            self._up = None

    async def _run(
        self, sql: str, search_path: tuple[str, ...], used: frozenset[int], bound: Parameters
    ) -> tuple[int | None, str | None]:
        if self._up is None:
            self._up = await connect_upstream(
                self._config, self._database, self._params, self._role
            )
        up = self._up
        path = ", ".join(_quoted(name) for name in search_path) or "''"
        begin = (
            "BEGIN READ ONLY; "
            f"SET LOCAL statement_timeout = {COUNT_TIMEOUT_MS}; "
            f"SET LOCAL search_path = {path}"
        )
        up.writer.write(pg.encode(pg.Query(begin)))
        errors = await _answered(up, None)
        if errors or up.status != "T":  # never count outside the read-only transaction
            up.writer.write(pg.encode(pg.Query("ROLLBACK")))
            await _answered(up, None)
            return None, "the read-only transaction could not start"
        values, formats, types = _rebind(used, bound)
        up.writer.write(
            b"".join(
                (
                    pg.encode(pg.Parse("", sql, types)),
                    pg.encode(pg.Bind("", "", formats, values, (0,))),
                    pg.encode(pg.Execute("", 0)),
                    pg.encode(pg.Sync()),
                    pg.encode(pg.Query("ROLLBACK")),
                )
            )
        )
        found: list[int] = []
        errors = await _answered(up, found)
        errors += await _answered(up, None)
        if errors:  # the SQLSTATE only: an error's text may quote the data (masked columns)
            why = "timed out" if "57014" in errors else f"the database refused it ({errors[0]})"
            return None, why
        if not found:
            return None, "no count came back"
        return found[0], None


async def _answered(up: Upstream, rows: list[int] | None) -> list[str]:
    """Read up to the next ReadyForQuery: the SQLSTATEs of its errors; a count's value into
    ``rows``."""
    errors: list[str] = []
    while True:
        event = await read_event(up, "while counting")
        if isinstance(event, pg.DataRow) and rows is not None:
            value = event.values[0] if event.values else None
            if value is not None and value.isdigit():
                rows.append(int(value))
        elif isinstance(event, pg.ErrorResponse):
            errors.append(event.sqlstate or "?")
        elif isinstance(event, pg.ReadyForQuery):
            up.status = event.status
            return errors


def _rebind(
    used: frozenset[int], bound: Parameters
) -> tuple[tuple[bytes | None, ...], tuple[int, ...], tuple[int, ...]]:
    """The client's values for the parameters the count uses; NULL text for the others (a
    parameter only the SET list used would otherwise have no type)."""
    values: list[bytes | None] = []
    formats: list[int] = []
    types: list[int] = []
    for index, value in enumerate(bound.values):
        declared = bound.types[index] if index < len(bound.types) else 0
        if index + 1 in used:
            values.append(value)
            formats.append(bound.formats[index] if index < len(bound.formats) else 0)
            types.append(declared)
        else:
            values.append(None)
            formats.append(0)
            types.append(declared or _TEXT_OID)
    return tuple(values), tuple(formats), tuple(types)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def close_quietly(counter: Counter | None) -> None:
    """Close a session's counting connection, if it has one."""
    if counter is not None:
        with contextlib.suppress(Exception):
            counter.close()
