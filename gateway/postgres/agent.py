"""The MCP server's runner for PostgreSQL connections (the port ``gateway.mcp.Runner``).

The parts are the listener's own: the upstream login with the credential the gateway holds
(:mod:`gateway.postgres.upstream`, as the delegation's role), the connection's guardrails in a
fresh session state (``evaluate``, then ``evaluate_bound`` with the values bound, as
``client_side`` decides an Execute), the masking refusals (``Leaks``), the row counts of a
held write and of one under ``max_rows_unreviewed`` (``counting``), and the masking of the
result: the ``RowPlan`` the relay builds from a RowDescription (with the outputs' ``Lineage``)
applied to every DataRow, and the detectors over the free text of errors (``TextMask``).

One statement per call, in the extended protocol (docs 55.2.3, "Extended Query"): Parse,
Bind (text values), Describe portal, Execute with a row limit, Sync. A second statement in the
text is the server's error ("cannot insert multiple commands into a prepared statement").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from approvals import Impact
from gateway.guardrails import Action, Redactor, Verdict
from gateway.mcp import Result, RunnerFailed
from gateway.postgres import wire as pg
from gateway.postgres.catalog import column_names
from gateway.postgres.counting import (
    NO_PARAMETERS,
    Counter,
    Counting,
    Parameters,
    close_quietly,
)
from gateway.postgres.dialect import (
    CatalogNames,
    ColumnDescription,
    Leaks,
    Lineage,
    PgTarget,
    RowPlan,
    SessionState,
)
from gateway.postgres.textmask import TextMask
from gateway.postgres.upstream import (
    CANCEL_TRIES,
    Upstream,
    UpstreamError,
    cancel_until,
    connect_upstream,
    read_event,
    send_cancel,
)
from gateway.sessions import Session

if TYPE_CHECKING:
    from gateway.postgres.context import Shared

__all__ = ["PostgresRunner"]

log = logging.getLogger("airlock.mcp")

APPLICATION = "airlock-mcp"
COPY_IN = "COPY FROM STDIN has no data over MCP: use INSERT ... VALUES with params"
COPY_OUT = "COPY TO STDOUT is not returned over MCP: use SELECT"
STATEMENT_TIMEOUT_S = 300.0  # a statement still running then is cancelled upstream


class PostgresRunner:
    """The PostgreSQL connections served over MCP (``targets``: the listener's)."""

    def __init__(self, targets: Mapping[str, PgTarget]) -> None:
        self.targets = targets

    def serves(self, connection: str) -> bool:
        return connection in self.targets

    def roles(self, connection: str) -> Collection[str]:
        return self.targets[connection].config.roles

    def redactor(self, connection: str) -> Redactor:
        return self.targets[connection].redact

    def rules(self, connection: str) -> str:
        conn = self.targets[connection].config
        parts = [f"postgres, guardrails {conn.guardrails}"]
        if conn.rules:
            parts[0] += f" + {len(conn.rules)} rules"
        if conn.masking.columns or conn.masking.detectors:
            masked = [*conn.masking.columns, *(f"{d} values" for d in conn.masking.detectors)]
            parts.append("masks " + ", ".join(masked))
        approvers = conn.approvers
        who = ", ".join([*approvers.groups, *approvers.identities]) or "nobody"
        parts.append(f"held statements reviewed by {who} (quorum {approvers.quorum})")
        return "; ".join(parts)

    @contextlib.asynccontextmanager
    async def open(self, session: Session) -> AsyncIterator[_Opened]:
        target = self.targets[session.connection]
        database = target.config.database or target.name
        params = {"client_encoding": "UTF8", "application_name": APPLICATION}
        try:
            up = await connect_upstream(target.config, database, params, session.role)
        except UpstreamError as exc:
            raise RunnerFailed(exc.message, exc.sqlstate) from exc
        opened: _Opened | None = None
        try:
            catalog = None
            if target.masking is not None:
                wanted = (rule.split(".")[-1] for rule in target.masking.columns)
                catalog = await column_names(up, wanted)
            opened = _Opened(target, up, catalog, (database, params, session.role))
            yield opened
        except (UpstreamError, TimeoutError, OSError) as exc:
            raise RunnerFailed(f"the upstream server failed: {exc}", "08006") from exc
        finally:
            if opened is None or not opened.cancelled:  # else the canceller closes it
                up.close()


class _Counted:
    """What ``Counting`` reads of a session: its connection and its state."""

    def __init__(self, target: PgTarget, state: SessionState) -> None:
        self.target, self.state = target, state


class _Opened:
    def __init__(
        self,
        target: PgTarget,
        up: Upstream,
        catalog: CatalogNames | None,
        login: tuple[str, dict[str, str], str | None],
    ) -> None:
        self.target, self.up, self.catalog = target, up, catalog
        self.database, self.params, self.role = login
        self.cancelled = False  # the upstream connection is the canceller's (``_cancel``)
        scs = up.parameters.get("standard_conforming_strings", "on") == "on"
        self.state = SessionState(standard_conforming_strings=scs)
        policy = target.masking
        self.lineage = Lineage(policy, catalog) if policy is not None else None
        self.leaks = Leaks(policy, catalog) if policy is not None else None
        self.text_mask = TextMask(policy) if policy is not None else None

    async def classify(
        self, text: str, params: Sequence[bytes | None]
    ) -> tuple[Verdict, Impact | None]:
        """The verdict, then the count as ``client_side`` makes it: an allowed write on a
        connection with max_rows_unreviewed runs only once counted within it (else held), and
        a held write's impact is counted for its card (both read-only, on a second connection
        with the same credential: ``gateway.postgres.counting.Counter``)."""
        verdict = self._verdict(text, params)
        if verdict.action is Action.BLOCK:
            return verdict, None
        counting = Counting(cast("Shared", _Counted(self.target, self.state)))
        if verdict.action is Action.ALLOW and not counting.needs_count(text, verdict):
            return verdict, None
        counting.counter = Counter(self.target.config, self.database, self.params, self.role)
        bound = Parameters(tuple(params), (), ()) if params else NO_PARAMETERS
        try:
            if verdict.action is Action.ALLOW:
                return await counting.within_limit(text, verdict, bound)
            return verdict, await counting.impact(text, bound)
        finally:
            close_quietly(counting.counter)

    def _verdict(self, text: str, params: Sequence[bytes | None]) -> Verdict:
        undecodable = pg.utf8_error(text)
        if undecodable is not None:
            return Verdict(Action.BLOCK, "protocol/utf8", undecodable, "high")
        guardrails = self.target.guardrails
        verdict = guardrails.evaluate(text, self.state)
        if self.leaks is not None:
            leak = self.leaks.of(text)
            if leak is not None:
                return Verdict(Action.BLOCK, leak.rule, leak.reason, "high")
        if verdict.action is Action.HOLD and params:
            # Held at Parse, decided with the values bound (client_side's Execute): a
            # parameter bound non-NULL may be the statement's row filter.
            non_null = frozenset(i for i, v in enumerate(params, 1) if v is not None)
            verdict = guardrails.evaluate_bound(text, self.state, non_null)
        return verdict

    async def execute(
        self, text: str, params: Sequence[bytes | None], *, max_rows: int, max_bytes: int
    ) -> Result:
        up = self.up
        up.writer.writelines(
            [
                pg.encode(pg.Parse("", text)),
                pg.encode(pg.Bind("", "", (), tuple(params), ())),
                pg.encode(pg.Describe("P", "")),
                pg.encode(pg.Execute("", max_rows + 1)),
                pg.encode(pg.Sync()),
            ]
        )
        reading = _Reading(self, text, params, max_rows, max_bytes)
        try:
            async with asyncio.timeout(STATEMENT_TIMEOUT_S):
                await up.writer.drain()
                while not await reading.step(await read_event(up, "during the statement")):
                    pass
        except (asyncio.CancelledError, TimeoutError):
            await _cancel(self)
            raise
        return reading.result()

    def plan(self, description: pg.RowDescription, text: str) -> RowPlan | None:
        """The relay's row plan for this result (``ServerSide._new_plan``)."""
        policy = self.target.masking
        if policy is None:
            return None
        columns = [
            ColumnDescription(f.name, f.table_oid, f.column_attr, f.type_oid, f.format)
            for f in description.fields
        ]
        derived = self.lineage.of(text) if self.lineage is not None else None
        return policy.plan(columns, self.catalog, derived=derived)


class _Reading:
    """The answers to one statement, up to its ReadyForQuery."""

    def __init__(
        self,
        opened: _Opened,
        text: str,
        params: Sequence[bytes | None],
        max_rows: int,
        max_bytes: int,
    ) -> None:
        self.opened, self.text, self.params = opened, text, params
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self.columns: tuple[str, ...] = ()
        self.rows: list[tuple[str | None, ...]] = []
        self.plan: RowPlan | None = None
        self.masked: dict[str, int] = {}
        self.command, self.count, self.size, self.shown = "", 0, 0, 0
        self.truncated = False
        self.error: tuple[str, str] | None = None

    async def step(self, event: Any) -> bool:
        """Take one message; True at the ReadyForQuery that ends the statement."""
        if isinstance(event, pg.RowDescription):
            self.columns = tuple(f.name for f in event.fields)
            self.plan = self.opened.plan(event, self.text)
        elif isinstance(event, pg.DataRow):
            self._row(event.values)
        elif isinstance(event, pg.CommandComplete):
            self.command = event.tag
            last = event.tag.rsplit(" ", 1)[-1]
            self.count = int(last) if last.isdigit() else len(self.rows)
        elif isinstance(event, pg.PortalSuspended):
            self.truncated = True
            self.command = "SELECT"
        elif isinstance(event, pg.ErrorResponse):
            if self.error is None:  # the first: a refused COPY's own comes before the server's
                self.error = (event.sqlstate or "XX000", self._masked_error(event.message or ""))
        elif isinstance(event, pg.CopyInResponse):
            # An agent has no data stream: the COPY is aborted, so the server rolls it back,
            # and the call answers why. The Sync sent with the Execute was ignored in copy-in
            # mode; after the CopyFail the server discards up to the next one (docs 55.2.6,
            # "COPY Operations"): one more ends the statement.
            self.error = ("0A000", COPY_IN)
            self.opened.up.writer.write(pg.encode(pg.CopyFail(COPY_IN)) + pg.encode(pg.Sync()))
        elif isinstance(event, pg.CopyOutResponse | pg.CopyBothResponse):
            # Its rows come as CopyData the masking never reads: none is returned.
            self.error = ("0A000", COPY_OUT)
        elif isinstance(event, pg.ReadyForQuery):
            self.opened.up.status = event.status
            return True
        return False

    def _row(self, values: tuple[bytes | None, ...]) -> None:
        if self.plan is None and self.opened.target.masking is not None:
            # Rows whose columns are unknown cannot be masked: fail closed (as the relay).
            raise RunnerFailed("a result arrived without a row description", "08P01")
        if self.plan is not None and not self.plan.is_noop:
            masked, counts = self.plan.apply(values)
            if masked is not None:
                values = masked
            for name, n in (*counts.columns.items(), *counts.detectors.items()):
                self.masked[name] = self.masked.get(name, 0) + n
        size = sum(len(v) for v in values if v is not None)
        self.size += size
        self.count += 1
        if self.shown >= self.max_rows or self.size > self.max_bytes:
            self.truncated = True
            return
        self.shown += 1
        self.rows.append(tuple(None if v is None else v.decode("utf-8", "replace") for v in values))

    def _masked_error(self, message: str) -> str:
        mask = self.opened.text_mask
        if mask is None:
            return message
        known = "\n".join([self.text, *(v.decode("utf-8", "replace") for v in self.params if v)])
        return mask.redact(message, known)

    def result(self) -> Result:
        return Result(
            columns=self.columns,
            rows=tuple(self.rows),
            command=self.command,
            row_count=max(self.count, len(self.rows)),
            truncated=self.truncated,
            size=self.size,
            masked=dict(self.masked),
            error=self.error,
        )


async def _cancel(opened: _Opened) -> None:
    """Cancel the call's statement upstream (docs 55.2.7) and return once the first
    CancelRequest is out; the caller re-raises what ended the call.

    The connection becomes the canceller's (``_end_statement``): it reads on to the
    statement's ReadyForQuery, sending the CancelRequest again while none comes, and closes
    the connection after. Closing it alone would not stop the statement (the server notices
    a gone client only when it next writes to it), and a CancelRequest can be lost: the
    server drops one that finds the backend between two messages (postgres.c,
    ProcessInterrupts: "DoingCommandRead"), and one whose connection fails is gone. The
    canceller goes on even when the call is cancelled once more meanwhile (the session guard
    ending it again): a query left running upstream is what a revocation must not leave."""
    opened.cancelled = True
    sent = asyncio.Event()
    ending = asyncio.ensure_future(_end_statement(opened, sent))
    _ENDING.add(ending)  # held until it ends (the loop keeps only weak references)
    ending.add_done_callback(_ENDING.discard)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(sent.wait())


_ENDING: set[asyncio.Future[None]] = set()


async def _end_statement(opened: _Opened, sent: asyncio.Event) -> None:
    up = opened.up

    async def send() -> None:
        await _send_cancel(opened)
        sent.set()

    async def answered() -> None:
        while not isinstance(await read_event(up, "cancelled"), pg.ReadyForQuery):
            pass

    try:
        if await cancel_until(send, answered):
            return
        log.warning(
            "airlock: a cancelled MCP statement on %s still ran after %d CancelRequests; "
            "its upstream connection is closed",
            opened.target.name,
            CANCEL_TRIES,
        )
    except (UpstreamError, OSError):
        pass  # the connection is gone, and its backend with it
    finally:
        sent.set()
        up.close()


async def _send_cancel(opened: _Opened) -> None:
    up = opened.up
    await send_cancel(opened.target.config, (up.process_id, up.secret_key), within=2)
