"""The session core: what every listener calls, in this order, whatever bytes it speaks.

::

    identity   = await core.authenticate(token)                 # AuthRefused
    delegation = await core.authorize(identity, conn, roles)    # AccessRefused, LimitRefused
    session    = <the listener's Session>; session.log = core.statement_log(session, redact)
    await core.start(session, peer)        # its row in the store (store.Unavailable: refuse)
    await core.attach(live)                # revocation, expiry and usage watch it from here
    ... for each command: the dialect classifies it (fail closed), then
        held = await core.hold(session, ...)                # when the verdict is hold
        if not session.log.forwarding(text): refuse it      # journaled before it is forwarded
        ... forward it upstream ...
        session.log.add(...)                                # every command, whatever happened
    await core.detach(live)
    await core.end(session, outcome)       # the last records, then the row's end

Each protocol turns the core's refusals (:mod:`gateway.sessions.errors`), ``Held`` outcomes
and ``Ending`` reasons into its own error shapes; nothing here knows any protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime

from approvals import (
    AccessNotAllowed,
    ApprovalError,
    ApprovalService,
    Delegation,
    Identity,
    Impact,
)
from gateway.guardrails import Redactor, Verdict
from gateway.metrics import Metrics
from gateway.sessions.errors import AccessRefused, LimitRefused
from gateway.sessions.guard import SessionGuard
from gateway.sessions.hold import Held, hold
from gateway.sessions.journal import Journal
from gateway.sessions.limits import Limits, Slot
from gateway.sessions.session import Ending, Live, Session
from gateway.sessions.statement_log import StatementLog, refused_session
from store import AuditWriter, SessionEnd, SessionRecord, SqlRepository, StoreError, Unavailable

__all__ = ["SessionCore"]

log = logging.getLogger("airlock.sessions")


class SessionCore:
    """The protocol-free half of the sessions of one listener (``edge``: its protocol's name,
    as metrics and identity label it). Every listener of a process shares the one guard."""

    def __init__(
        self,
        *,
        edge: str,
        service: ApprovalService,
        repository: SqlRepository,
        audit: AuditWriter,
        metrics: Metrics,
        guard: SessionGuard,
        journal: Journal,
        replica: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.edge, self.service, self.repository = edge, service, repository
        self.audit, self.metrics, self.guard = audit, metrics, guard
        self.journal = journal
        self.replica = replica  # this process's replica id: who reaps its sessions if it dies
        self._expiry: dict[str, asyncio.TimerHandle] = {}  # by session id
        # The session caps, one Limits per process (the composition root shares it); each
        # admitted session's slot, by the task that runs it (gateway.sessions.limits).
        self.limits = limits if limits is not None else Limits()
        self._slots: weakref.WeakKeyDictionary[asyncio.Task[object], Slot] = (
            weakref.WeakKeyDictionary()
        )
        metrics.sessions_admitted.set_function(lambda: self.limits.open)
        metrics.sessions_max.set(self.limits.max_sessions)

    # -- before the session --------------------------------------------------------------

    async def authenticate(self, secret: str) -> Identity:
        """The identity a token (gateway, OIDC, service-account secret) stands for."""
        return await self.guard.authenticate(secret, self.edge)

    async def authorize(
        self, identity: Identity, connection: str, roles: Collection[str]
    ) -> Delegation | None:
        """May ``identity`` (its whole chain) use ``connection`` now? Returns the delegation
        the session rests on (None: standing access). ``roles``: the roles the connection
        defines today; a delegation for a role it no longer defines is refused. Then the
        session takes its place under the caps (``admit``): call it before anything is
        opened upstream."""
        try:
            delegation = await self.service.authorize_connect(identity, connection)
        except AccessNotAllowed as exc:
            raise AccessRefused(exc.message) from exc
        role = delegation.role if delegation is not None else None
        if role is not None and role not in roles:
            raise AccessRefused(
                f"your access to {connection} is as role {role!r}, which the connection no "
                "longer defines; ask for access again"
            )
        self.admit(identity, connection)
        return delegation

    def admit(self, identity: Identity, connection: str) -> None:
        """Take the session's place under the caps (:mod:`gateway.sessions.limits`) for the
        running task; past a cap raise LimitRefused, counted and audited
        (``session.refused``). The place is given back at ``end``, or when the task ends,
        whichever comes first: a session that fails before it starts keeps none."""
        try:
            slot = self.limits.admit(identity, connection)
        except LimitRefused as exc:
            log.info("%s session of %s refused (%s)", self.edge, identity.describe(), exc.message)
            self.metrics.sessions_refused.labels(self.edge, exc.rule).inc()
            self._audit_refusal(identity, connection, exc)
            raise
        task = asyncio.current_task()
        if task is None:  # not under a task: nothing would give the place back
            slot.release()
            return
        previous = self._slots.pop(task, None)
        if previous is not None:  # one session per task: a second authorize replaces it
            previous.release()
        self._slots[task] = slot
        task.add_done_callback(lambda _: slot.release())

    def refuse_connection(self) -> None:
        """A listener answered a connection at once: past ``2 * max_sessions`` connections."""
        self.metrics.sessions_refused.labels(self.edge, "limits/connections").inc()

    def _audit_refusal(self, identity: Identity, connection: str, exc: LimitRefused) -> None:
        details = {"rule": exc.rule, "limit": exc.cap, "edge": self.edge, "reason": exc.message}
        entry = refused_session(
            identity, connection, target=connection, outcome="refused", details=details
        )
        try:
            self.audit.submit(entry)
        except StoreError as error:  # the backlog is full: refused all the same, and said so
            log.warning("could not record a refused session of %s: %s", identity.describe(), error)

    # -- the session ---------------------------------------------------------------------

    def statement_log(self, session: Session, redact: Redactor) -> StatementLog:
        """The log that records the session's commands into the audit trail, in batches, and
        journals each before it is forwarded (``forwarding``); both keep the texts as
        ``redact``, the dialect's, shows them: no secret reaches the journal's files either."""
        journal = self.journal.session(
            session.id, session.identity, session.connection, redact=redact
        )
        return StatementLog(
            self.audit,
            session.identity,
            session.id,
            session.connection,
            redact=redact,
            journal=journal,
        )

    async def start(self, session: Session, peer: object) -> None:
        """Write the session's row, naming this process's replica (so that another one ends it
        if this process dies: :mod:`gateway.sessions.replicas`); a store that cannot take it
        raises store.Unavailable (no session runs unrecorded), after queuing a
        ``session.refused`` audit event."""
        address = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else None
        try:
            await self.repository.start_session(
                SessionRecord(
                    id=session.id,
                    identity=session.identity,
                    connection=session.connection,
                    started_at=datetime.now(UTC),
                    client_addr=address,
                    stats={
                        "delegation": _delegation_id(session),
                        "role": session.role,
                        "edge": self.edge,
                    },
                    replica_id=self.replica,
                )
            )
        except Unavailable as exc:  # refused: the refusal is written once the store is back
            self.audit.health.failed(exc)
            with contextlib.suppress(StoreError):
                why = {
                    "reason": f"the audit store is unavailable ({exc.reason})",
                    "client": address,
                }
                entry = refused_session(
                    session.identity,
                    session.connection,
                    target=session.id,
                    outcome="unavailable",
                    details=why,
                )
                self.audit.submit(entry, urgent=True)
            raise

    async def attach(self, live: Live) -> None:
        """From here revocation (any replica), the delegation's expiry and usage counting
        watch the session; it may be ended (``live.end``) before this returns."""
        self.metrics.sessions.labels(self.edge).inc()
        timer = self._expire_at(live)
        if timer is not None:
            self._expiry[live.session.id] = timer
        await self.guard.attach(live)

    async def hold(
        self,
        session: Session,
        *,
        left: asyncio.Event,
        text: str,
        verdict: Verdict,
        params: Sequence[bytes | None] = (),
        notify: Callable[[str], None],
        redact: Redactor,
        impact: Impact | None = None,
    ) -> Held:
        """Hold a command for review (:func:`gateway.sessions.hold.hold`); ``impact`` is what
        the listener counted it would touch, for the approver."""
        return await hold(
            session,
            self.service,
            self.metrics,
            left=left,
            text=text,
            verdict=verdict,
            params=params,
            notify=notify,
            redact=redact,
            impact=impact,
            health=self.audit.health,
        )

    async def detach(self, live: Live) -> None:
        """The session stopped running: no more watching; its use is counted."""
        timer = self._expiry.pop(live.session.id, None)
        if timer is not None:
            timer.cancel()
        self.metrics.sessions.labels(self.edge).dec()
        await self.guard.detach(live)

    async def end(self, session: Session, outcome: str) -> None:
        """Submit the session's last records at once, then record its end and its tally (by the
        audit writer, once it can, when the store cannot take it now); its place under the caps
        is free again."""
        task = asyncio.current_task()
        slot = self._slots.pop(task, None) if task is not None else None
        if slot is not None:
            slot.release()
        if session.log is not None:
            session.log.end()
        stats = {
            "statements": session.statements_seen,
            "held": session.held,
            "refused": session.refused,
            "rows": session.rows,
            "bytes_out": session.bytes_out,
            "masked": session.masked_total,
            "end": outcome,
            "delegation": _delegation_id(session),
            "role": session.role,
            "edge": self.edge,
        }
        ended_at = datetime.now(UTC)
        try:
            await self.repository.end_session(session.id, ended_at=ended_at, stats=stats)
        except Unavailable as exc:  # the audit writer writes it once the store is back
            self.audit.health.failed(exc)
            with contextlib.suppress(StoreError):
                self.audit.submit_session_end(SessionEnd(session.id, ended_at, stats))
        except ApprovalError:
            log.exception("could not record the end of session %s", session.id)

    def _expire_at(self, live: Live) -> asyncio.TimerHandle | None:
        """A session resting on a delegation ends when the delegation expires."""
        session = live.session
        delegation = session.delegation
        if delegation is None:
            return None
        left = (delegation.expires_at - self.service.clock.now()).total_seconds()
        message = f"delegation {delegation.id} to {session.connection} expired"
        return asyncio.get_running_loop().call_later(
            max(left, 0), live.end, Ending.EXPIRED, message
        )


def _delegation_id(session: Session) -> str | None:
    return session.delegation.id if session.delegation is not None else None
