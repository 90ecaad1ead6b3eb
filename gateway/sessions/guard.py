"""What every listener's sessions rest on, ending them when it is revoked, and counting their
use of delegations. One guard serves every listener of the process.

:class:`SessionGuard` is the core's one hook into identity:

- ``authenticate(secret, edge)``: the credential is a gateway token, an OIDC token or a
  service-account secret (:class:`~gateway.identity.Authenticator`); a refusal raises
  :class:`~gateway.sessions.errors.AuthRefused` (logged, counted per edge). The verified token
  is remembered for the session task, so ``attach`` knows which token ids the session rests on.
- ``attach(live)`` / ``detach(live)``: a session starts / ends. At attach the guard notes every
  delegation the chain rests on (one per link that needs one) and counts one use of each; at
  detach it counts the session's statements and writes them at once.
- ``run()``: listens on the event bus (every replica hears every revocation) for
  ``identity.revoked`` (a subject anywhere in the chain, a disabled service account, a token id
  the session's token rests on) and ``delegation.revoked`` (any delegation of the chain) and
  ends each affected session (``Live.end``: PostgreSQL says FATAL 57P01 "terminating
  connection: access revoked: ...").
  Every ``flush_every`` seconds it writes the statements counted since the last flush, so usage
  costs one small transaction per interval, never a write per statement.
- ``closing()`` then ``close()``: at shutdown, ending sessions only count their use; once
  ``run`` is cancelled, ``close`` writes it all in one transaction (the caller bounds it by the
  shutdown's deadline: a stuck store must not hold the process).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from approvals import AccessNotAllowed, ApprovalService, DomainEvent, Identity
from approvals.chain import rests_on
from approvals.revocation import IDENTITY_REVOKED, RevokedWhat
from approvals.service import DELEGATION_REVOKED
from gateway.errors import AuthError
from gateway.identity import Authenticator, Principal
from gateway.metrics import Metrics
from gateway.sessions.errors import AuthRefused
from gateway.sessions.session import Ending, Live
from store import IdentityStore, StoreError

__all__ = ["SessionGuard"]

log = logging.getLogger("airlock.sessions")


@dataclass
class _Tracked:
    live: Live
    token_ids: frozenset[str]
    delegations: tuple[str, ...]
    seen: int = 0  # statements already counted


class SessionGuard:
    def __init__(
        self,
        service: ApprovalService,
        authenticator: Authenticator,
        store: IdentityStore,
        metrics: Metrics,
        *,
        flush_every: float = 30.0,
    ) -> None:
        self.service, self.authenticator, self.store = service, authenticator, store
        self.metrics, self.flush_every = metrics, flush_every
        self._principals: weakref.WeakKeyDictionary[asyncio.Task[object], Principal] = (
            weakref.WeakKeyDictionary()
        )
        self._sessions: dict[str, _Tracked] = {}  # by session id
        self._uses: dict[str, tuple[int, datetime]] = {}
        self._closing = False

    # -- the listener's hooks -------------------------------------------------------------

    async def authenticate(self, secret: str, edge: str) -> Identity:
        """The identity ``secret`` (a token) stands for; AuthRefused when it stands for none."""
        try:
            principal = await self.authenticator.authenticate(secret, edge=edge)
        except AuthError as exc:
            self.metrics.auth_failures.labels(edge).inc()
            raise AuthRefused(exc.message) from exc
        task = asyncio.current_task()
        if task is not None:
            self._principals[task] = principal
        return principal.identity

    async def attach(self, live: Live) -> None:
        """Track a session that starts relaying. It is registered before anything is checked
        again, so a revocation that lands from here on finds it; one that landed between the
        start-up's checks and now is caught by checking again (then the session ends at once)."""
        task = asyncio.current_task()
        principal = self._principals.pop(task, None) if task is not None else None
        session = live.session
        ids = principal.token_ids if principal is not None else frozenset()
        tracked = _Tracked(live, ids, (session.delegation.id,) if session.delegation else ())
        self._sessions[session.id] = tracked
        refusal = await self._recheck(tracked)
        if refusal is not None:
            log.info("ending session %s at its start: %s", session.id, refusal)
            live.end(Ending.REVOKED, f"access revoked: {refusal}")
            return
        self._count(tracked.delegations, 1, self.service.clock.now())

    async def _recheck(self, tracked: _Tracked) -> str | None:
        """Why the session may no longer run, or None; notes the delegations it rests on (one
        per link of the chain that needs one)."""
        identity = tracked.live.session.identity
        try:
            reason = await self.authenticator.revocations.revoked(identity.chain, tracked.token_ids)
            if reason is not None:
                return reason
            conn = self.service.connection(tracked.live.session.connection)
            found = await rests_on(
                self.service.repository, identity, conn, self.service.clock.now()
            )
        except AccessNotAllowed as exc:
            return exc.message
        except StoreError as exc:  # keep the start-up's answer; events still end it
            log.warning("could not re-check session %s: %s", tracked.live.session.id, exc)
            return None
        tracked.delegations = tuple(d.id for d in found)
        return None

    async def detach(self, live: Live) -> None:
        tracked = self._sessions.pop(live.session.id, None)
        if tracked is None:
            return
        self._collect(tracked, self.service.clock.now())
        if not self._closing:  # closing: ``close`` writes every session's use in one go
            await self.flush(tracked.delegations)

    def closing(self) -> None:
        """The process is stopping: sessions that end from here only count their use (a store
        that is slow to write must not hold their ends up); ``close`` writes it, once."""
        self._closing = True

    # -- usage ----------------------------------------------------------------------------

    def _count(self, delegations: Iterable[str], uses: int, at: datetime) -> None:
        for delegation in delegations:
            count, _ = self._uses.get(delegation, (0, at))
            self._uses[delegation] = (count + uses, at)

    def _collect(self, tracked: _Tracked, at: datetime) -> None:
        statements = tracked.live.session.statements_seen
        if statements > tracked.seen:
            self._count(tracked.delegations, statements - tracked.seen, at)
            tracked.seen = statements

    async def flush(self, only: Iterable[str] | None = None) -> None:
        """Write the counted uses (of ``only`` these delegations, or all); kept on failure."""
        chosen = set(self._uses) if only is None else set(only) & set(self._uses)
        batch = {d: self._uses.pop(d) for d in chosen}
        try:
            await self.store.add_delegation_uses(batch)
        except StoreError as exc:
            log.warning("could not record delegation use (will retry): %s", exc)
            for delegation, (count, at) in batch.items():
                self._count([delegation], count, at)

    # -- watching ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch revocations and flush usage until cancelled; then ``close`` writes the rest."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._watch(IDENTITY_REVOKED))
            group.create_task(self._watch(DELEGATION_REVOKED))
            group.create_task(self._flush_periodically())

    async def close(self) -> bool:
        """Count the statements of the sessions still tracked and write every use counted;
        False when the store did not take them. The caller bounds it (``asyncio.timeout``: a
        stuck store must not hold a stopping process)."""
        now = self.service.clock.now()
        for tracked in self._sessions.values():
            self._collect(tracked, now)
        if self._uses:
            await self.flush()
        return not self._uses

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.flush_every)
            now = self.service.clock.now()
            for tracked in list(self._sessions.values()):
                self._collect(tracked, now)
            await self.flush()

    async def _watch(self, topic: str) -> None:
        async with self.service.bus.subscribe(topic) as subscription:
            while True:
                event = await subscription.get()
                try:
                    await self._revoked(event)
                except Exception:  # one bad event must not deafen the listener
                    log.exception("could not act on %s %s", event.topic, event.key)

    async def _revoked(self, event: DomainEvent) -> None:
        hit = [t for t in self._sessions.values() if self._rests_on(t, event)]
        if not hit:
            return
        reason = await self._reason(event)
        for tracked in hit:
            session = tracked.live.session
            log.info("ending session %s of %s: %s", session.id, session.identity.describe(), reason)
            tracked.live.end(Ending.REVOKED, f"access revoked: {reason}")

    @staticmethod
    def _rests_on(tracked: _Tracked, event: DomainEvent) -> bool:
        if event.topic == DELEGATION_REVOKED:
            return event.key in tracked.delegations
        if event.payload.get("what") == RevokedWhat.TOKEN.value:
            return event.key in tracked.token_ids
        return tracked.live.session.identity.in_chain(event.key)

    async def _reason(self, event: DomainEvent) -> str:
        payload = event.payload
        if event.topic == DELEGATION_REVOKED:
            held = await self.service.repository.list_delegations(subject=payload.get("subject"))
            found = next((d for d in held if d.id == event.key), None)
            by = f" by {found.revoked_by}" if found and found.revoked_by else ""
            why = f": {found.revoke_reason}" if found and found.revoke_reason else ""
            return f"delegation {event.key} to {payload.get('connection')} was revoked{by}{why}"
        what, reason = payload.get("what"), payload.get("reason") or "no reason given"
        if what == RevokedWhat.SERVICE_ACCOUNT.value:
            return f"service account {event.key} is disabled: {reason}"
        if what == RevokedWhat.TOKEN.value:
            return f"token {event.key} was revoked: {reason}"
        return f"{event.key} was revoked: {reason}"
