"""The ``query`` tool: one call is one session of the session core, edge ``mcp``.

::

    identity   = await core.authenticate(token)            # revocation checked on every call
    delegation = await core.authorize(identity, conn, roles)
    async with runner.open(session):                       # upstream, as the delegation's role
        await core.start(session, peer); await core.attach(live)   # revocation ends the call
        verdict = opened.classify(sql, params)             # the dialect's; fail closed
        block -> refused (rule, reason); allow -> run
        hold  -> redeem an approval ticket of this exact request (then run it once), or open a
                 review (``via`` MCP, bound to the ticket) and answer ``held`` at once, or after
                 ``wait_seconds`` (approved meanwhile: redeemed and run; denied: the reason)
        run   -> session.log.forwarding (journaled first), opened.execute (masked), log.add
    await core.detach(live); await core.end(session, outcome)

The hold does not block the agent (``gateway.sessions.hold`` waits for its listener's client;
an agent gets the review id instead): the approval becomes a single-use ticket that the
identical re-send redeems (:mod:`gateway.mcp.tickets`), within ``[gateway] approval_ttl``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from approvals import (
    ApprovalError,
    ApprovalService,
    Impact,
    Review,
    ReviewState,
    new_id,
)
from gateway.guardrails import Action, Redactor, Verdict
from gateway.mcp.answers import MAX_BYTES, MAX_ROWS, result_answer, review_answer
from gateway.mcp.errors import CallRefused, RunnerFailed
from gateway.mcp.ports import Opened, Runner
from gateway.mcp.tickets import ticket_of
from gateway.sessions import AccessRefused, AuthRefused, Ending, LimitRefused, Session, SessionCore
from gateway.sessions.hold import held_sha256
from store import Unavailable

__all__ = ["MAX_WAIT_S", "VIA", "Agents", "QueryCall"]

MAX_WAIT_S = 300  # wait_seconds and timeout_seconds at most
VIA = "MCP"  # the door reviews of MCP calls name (their cards show it)


@dataclass(frozen=True, slots=True)
class QueryCall:
    """One ``query`` call: who (the bearer token and what it stands for), where, what."""

    token: str
    connection: str
    sql: str
    params: tuple[bytes | None, ...]
    wait_seconds: float
    peer: tuple[str, int] | None = None


class _Live:
    """The call as the session guard watches it: revocation or expiry cancels the call."""

    def __init__(self, session: Session, task: asyncio.Task[Any]) -> None:
        self._session, self._task = session, task
        self.message = ""

    @property
    def session(self) -> Session:
        return self._session

    def end(self, why: Ending, message: str) -> None:
        self._session.ending = why
        self.message = message
        self._task.cancel()


class Agents:
    """What the MCP tools share: the approvals service, a runner per connection type, the
    connections' types, the approval tickets' lifetime, and the session core (set once the
    MCP service has opened its audit writer, journal and guard; None before)."""

    def __init__(
        self,
        *,
        service: ApprovalService,
        runners: Mapping[str, Runner],
        types: Mapping[str, str],
        approval_ttl: timedelta,
    ) -> None:
        self.service, self.runners, self.types = service, runners, types
        self.approval_ttl = approval_ttl
        self.core: SessionCore | None = None

    def runner(self, connection: str) -> Runner:
        """The runner serving ``connection``; CallRefused when none does."""
        runner = self.runners.get(self.types.get(connection, ""))
        if runner is None or not runner.serves(connection):
            raise CallRefused(f"no connection named {connection!r} is served over MCP", "unknown")
        return runner

    def started(self) -> SessionCore:
        if self.core is None:
            raise CallRefused("the MCP server is starting; try again shortly", "unavailable")
        return self.core

    # -- the query tool ------------------------------------------------------------------

    async def query(self, call: QueryCall) -> dict[str, Any]:
        """Run ``call`` on the session core; the tool's answer (``status``: ok, held, denied,
        blocked, refused, error)."""
        core, runner = self.started(), self.runner(call.connection)
        try:
            identity = await core.authenticate(call.token)
            delegation = await core.authorize(
                identity, call.connection, runner.roles(call.connection)
            )
        except (AuthRefused, AccessRefused, LimitRefused) as exc:
            raise CallRefused(exc.message, "refused") from exc
        session = Session(
            id=new_id(), identity=identity, connection=call.connection, delegation=delegation
        )
        redact = runner.redactor(call.connection)
        session.log = core.statement_log(session, redact)
        task = asyncio.current_task()
        assert task is not None
        live, started = _Live(session, task), False
        try:
            async with runner.open(session) as opened:
                await self._start(core, session, call)
                started, outcome, answer = True, "error", {}
                try:
                    await core.attach(live)
                    answer = await self._statement(core, session, opened, call, redact)
                    outcome = "ok"
                except asyncio.CancelledError:
                    if session.ending is None or task.uncancel() > 0:
                        raise
                    outcome = session.ending.value
                    answer = {"status": "refused", "error": live.message}
                except ApprovalError as exc:  # a link of the chain revoked meanwhile, ...
                    raise CallRefused(exc.message, exc.code) from exc
                finally:
                    await core.detach(live)
                    await core.end(session, outcome)
        finally:
            if not started:  # no row, no end: the journal forgets the session all the same
                session.log.end()
        answer["session_id"] = session.id
        return answer

    async def _start(self, core: SessionCore, session: Session, call: QueryCall) -> None:
        try:
            await core.start(session, call.peer)
        except Unavailable as exc:
            raise CallRefused(
                f"the audit store is unavailable ({exc.reason}): Airlock cannot record this "
                "call now; try again shortly",
                "unavailable",
            ) from exc

    async def _statement(
        self,
        core: SessionCore,
        session: Session,
        opened: Opened,
        call: QueryCall,
        redact: Redactor,
    ) -> dict[str, Any]:
        assert session.log is not None
        session.statements_seen += 1
        text, params = call.sql, call.params
        if core.audit.behind:
            return self._refuse(
                core, session, text, "audit/backlog",
                "the audit trail is behind and nothing runs unrecorded; try again shortly",
            )  # fmt: skip
        verdict, impact = await opened.classify(text, params)
        if verdict.action is Action.BLOCK:
            reason = f"blocked by rule {verdict.rule}: {verdict.reason}"
            return self._refuse(core, session, text, verdict.rule, reason)
        review_id: str | None = None
        if verdict.action is Action.HOLD:
            held = await self._hold(core, session, call, verdict, redact, impact)
            if not isinstance(held, str):
                return held
            review_id = held
        return await self._run(core, session, opened, text, params, verdict, review_id)

    def _refuse(
        self, core: SessionCore, session: Session, text: str, rule: str, reason: str
    ) -> dict[str, Any]:
        assert session.log is not None
        session.refused += 1
        session.log.add(text, "block", "block", rule=rule, error=reason, urgent=True)
        core.metrics.statements.labels(core.edge, "block").inc()
        return {"status": "blocked", "rule": rule, "error": reason}

    async def _hold(
        self,
        core: SessionCore,
        session: Session,
        call: QueryCall,
        verdict: Verdict,
        redact: Redactor,
        impact: Impact | None,
    ) -> str | dict[str, Any]:
        """The review id of a redeemed approval (run the statement), or the answer."""
        identity, service = session.identity, self.service
        ticket = ticket_of(identity, call.connection, call.sql, call.params)
        redeemed = await service.redeem_approval(identity, ticket, ttl=self.approval_ttl)
        if redeemed is not None:
            return redeemed.id
        try:
            review = await service.hold_statement(
                identity,
                call.connection,
                _shown(redact, call),
                risk=verdict.risk,
                rule=verdict.rule,
                session_id=session.id,
                statement_sha256=held_sha256(call.sql, call.params),
                impact=impact,
                via=VIA,
                ticket=ticket,
            )
        except Unavailable as exc:
            reason = f"the audit store is unavailable ({exc.reason}): no review can be opened"
            return self._refuse(core, session, call.sql, "audit/store", reason)
        session.held += 1
        assert session.log is not None
        session.log.add(
            call.sql, "held", "hold", rule=verdict.rule, review_id=review.id, urgent=True
        )
        core.metrics.statements.labels(core.edge, "hold").inc()
        final = await self._wait(review, call.wait_seconds)
        if final.state is ReviewState.APPROVED:
            again = await service.redeem_approval(identity, ticket, ttl=self.approval_ttl)
            if again is not None:
                return again.id
        answer = review_answer(self.service, final, self.approval_ttl)
        answer["reason"] = verdict.reason
        return answer

    async def _wait(self, review: Review, seconds: float) -> Review:
        """The review after up to ``seconds`` of waiting for its decision."""
        if seconds <= 0:
            return review
        try:
            async with asyncio.timeout(min(seconds, MAX_WAIT_S)):
                return await self.service.await_decision(review.id)
        except TimeoutError:
            return await self.service.repository.get_review(review.id) or review

    async def _run(
        self,
        core: SessionCore,
        session: Session,
        opened: Opened,
        text: str,
        params: tuple[bytes | None, ...],
        verdict: Verdict,
        review_id: str | None,
    ) -> dict[str, Any]:
        log = session.log
        assert log is not None
        if not log.forwarding(text, held=review_id is not None):
            why = "the gateway cannot record statements in its journal; try again shortly"
            return self._refuse(core, session, text, "audit/journal", why)
        started = time.perf_counter()
        try:
            result = await opened.execute(text, params, max_rows=MAX_ROWS, max_bytes=MAX_BYTES)
        except RunnerFailed as exc:
            log.add(text, "error", verdict.action.value, rule=verdict.rule, review_id=review_id,
                    sqlstate=exc.code, error=exc.message, urgent=True)  # fmt: skip
            raise
        session.rows += result.row_count
        session.bytes_out += result.size
        for name, count in result.masked.items():
            session.masked_total[name] = session.masked_total.get(name, 0) + count
        log.add(
            text,
            "error" if result.error else "ok",
            verdict.action.value,
            rule=verdict.rule,
            review_id=review_id,
            rows=result.row_count,
            size=result.size,
            duration_us=int((time.perf_counter() - started) * 1e6),
            sqlstate=result.error[0] if result.error else None,
            masked=dict(result.masked) or None,
            urgent=review_id is not None,
        )
        core.metrics.statements.labels(core.edge, verdict.action.value).inc()
        return result_answer(result, review_id)


def _shown(redact: Redactor, call: QueryCall) -> str:
    """The statement as the review shows and stores it: redacted by the dialect, with its
    bound values (those in secret positions replaced), as a listener's hold shows them."""
    shown = redact(call.sql, call.params)
    if not call.params:
        return shown.text
    values = ", ".join(
        "NULL" if v is None else repr(v[:200].decode("utf-8", "replace")) for v in shown.params[:20]
    )
    return f"{shown.text}\n-- parameters: {values}"
