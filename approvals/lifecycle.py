"""How grants end and are kept: expiry, idle revocation, and the owners' access-review decisions.

Rules:

- A delegation past its ``expires_at`` is **recorded as revoked** with the reason ``expired``,
  by ``airlock-scheduler``, at its ``expires_at`` (the moment access really ended). One state
  ("ended") answers "is it still held?" everywhere, and the ``delegation.revoked`` event that
  ends live sessions on every replica is the same one a manual revocation sends. The audit
  action is ``delegation.expired``.
- A delegation whose connection has ``idle_revoke_after`` and that has not been used for that
  long (never used: counted from when it was granted) is revoked with the reason
  ``unused for N days``; audit ``delegation.revoked`` with ``cause = idle``. The holder and the
  owners are told (the event's ``cause`` says so).
- In an access review an owner (or an admin) keeps a line (a recertification: the delegation's
  ``recertified_at`` and audit ``delegation.recertified``; a standing group: audit
  ``group.recertified``) or revokes a grant (audit ``delegation.revoked``, ``cause = review``).
  A standing group is changed in the configuration, never from chat. Every decision of one
  click is one transaction, together with the ``digest.updated`` event that redraws the digest.

Every write carries its audit entry and outbox event in the same transaction; a line already
ended or decided is skipped, so each step is idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from approvals import policy
from approvals.access_review import AccessEntry, EntryKind, human_span
from approvals.errors import PolicyViolation
from approvals.model import AuditEntry, Connection, Delegation, DomainEvent, Identity, IdentityKind
from approvals.ports import Clock, Repository, Transaction
from approvals.service import DELEGATION_REVOKED

__all__ = [
    "DELEGATION_EXPIRING",
    "DELEGATION_RECERTIFIED",
    "DIGEST_READY",
    "DIGEST_UPDATED",
    "EXPIRED",
    "REVIEW_ESCALATED",
    "REVIEW_REMINDER",
    "SCHEDULER",
    "GrantLifecycle",
    "LineDecision",
    "reminder_steps",
]

REVIEW_REMINDER = "review.reminder"
REVIEW_ESCALATED = "review.escalated"
DELEGATION_EXPIRING = "delegation.expiring"
DELEGATION_RECERTIFIED = "delegation.recertified"
DIGEST_READY = "digest.ready"
DIGEST_UPDATED = "digest.updated"
EXPIRED = "expired"
SCHEDULER = Identity("airlock-scheduler", kind=IdentityKind.SERVICE)


def reminder_steps(created_at: datetime, now: datetime, backoff: Sequence[timedelta]) -> int:
    """How many reminder steps are due: step k comes ``sum(backoff[:k])`` after creation."""
    due, at = 0, created_at
    for wait in backoff:
        at += wait
        if now < at:
            break
        due += 1
    return due


@dataclass(frozen=True, slots=True)
class LineDecision:
    """An owner's decision on one line of a digest: ``keep`` or ``revoke``."""

    entry: AccessEntry
    verdict: str


class GrantLifecycle:
    def __init__(
        self, repository: Repository, clock: Clock, connections: Mapping[str, Connection]
    ) -> None:
        self.repository = repository
        self.clock = clock
        self.connections = connections

    async def expire(self, delegation_id: str) -> Delegation | None:
        """End a delegation past its expiry; None when it is not due or already ended."""
        async with self.repository.transaction() as tx:
            held = await tx.get_delegation(delegation_id, for_update=True)
            if held is None or held.revoked_at is not None or self.clock.now() < held.expires_at:
                return None
            return await _revoke(
                tx, held, SCHEDULER, EXPIRED, cause="expired", at=self.clock.now(),
                ended_at=held.expires_at, action="delegation.expired",
            )  # fmt: skip

    async def revoke_unused(
        self, delegation_id: str, window: timedelta, last_used_at: datetime | None
    ) -> Delegation | None:
        """Revoke a live delegation unused for ``window``; ``last_used_at`` is what the sessions
        say (the delegation's own ``last_used_at`` counts too). None when it was used since."""
        now = self.clock.now()
        async with self.repository.transaction() as tx:
            held = await tx.get_delegation(delegation_id, for_update=True)
            if held is None or not held.active(now):
                return None
            last = max(
                t for t in (held.last_used_at, last_used_at, held.created_at) if t is not None
            )
            if last > now - window:
                return None
            reason = f"unused for {human_span(window)}"
            return await _revoke(tx, held, SCHEDULER, reason, cause="idle", at=now)

    async def decide(
        self, digest_id: str, decisions: Sequence[LineDecision], by: Identity
    ) -> list[tuple[str, str]]:
        """Record owners' decisions on digest lines in one transaction; returns (key, what
        happened) for each line acted on (``kept``, ``revoked``; ended grants are skipped).
        ``by`` passes :func:`approvals.policy.check_actor` first: no agent, no revoked link."""
        now = self.clock.now()
        done: list[tuple[str, str]] = []
        async with self.repository.transaction() as tx:
            await policy.check_actor(tx, by, policy.Power.OWNER)
            for decision in decisions:
                outcome = await self._decide_line(tx, digest_id, decision, by, now)
                if outcome is not None:
                    done.append((decision.entry.key, outcome))
            if done:
                await tx.emit(DomainEvent(DIGEST_UPDATED, digest_id, {"lines": len(done)}))
        return done

    async def _decide_line(
        self, tx: Transaction, digest_id: str, decision: LineDecision, by: Identity, now: datetime
    ) -> str | None:
        entry = decision.entry
        if entry.kind is EntryKind.GROUP:
            if decision.verdict != "keep":
                raise PolicyViolation(
                    f"{entry.holder} on {entry.connection} is a standing group: remove it from "
                    "allow_groups in the configuration to revoke it"
                )
            await tx.append_audit(_recertified("group.recertified", entry, by, now, digest_id))
            return "kept"
        held = await tx.get_delegation(entry.key, for_update=True)
        if held is None or not held.active(now):
            return None
        if decision.verdict == "keep":
            await tx.save_delegation(replace(held, recertified_at=now))
            await tx.append_audit(_recertified("delegation.recertified", entry, by, now, digest_id))
            await tx.emit(DomainEvent(DELEGATION_RECERTIFIED, held.id, {"digest": digest_id}))
            return "kept"
        reason = f"revoked in the access review by {by.subject}"
        await _revoke(tx, held, by, reason, cause="review", at=now, digest=digest_id)
        return "revoked"


def _recertified(
    action: str, entry: AccessEntry, by: Identity, now: datetime, digest_id: str
) -> AuditEntry:
    return AuditEntry(
        action=action,
        actor=by,
        target=entry.key,
        outcome="kept",
        at=now,
        connection=entry.connection,
        details={"holder": entry.holder, "digest": digest_id},
    )


async def _revoke(
    tx: Transaction,
    held: Delegation,
    by: Identity,
    reason: str,
    *,
    cause: str,
    at: datetime,
    ended_at: datetime | None = None,
    action: str = "delegation.revoked",
    digest: str | None = None,
) -> Delegation:
    """Record the end (``ended_at``, default ``at``), its audit entry (at ``at``) and the
    ``delegation.revoked`` event that ends the sessions resting on it."""
    revoked = replace(held, revoked_at=ended_at or at, revoked_by=by.subject, revoke_reason=reason)
    await tx.save_delegation(revoked)
    details: dict[str, object] = {"subject": held.subject, "reason": reason, "cause": cause}
    if digest is not None:
        details["digest"] = digest
    await tx.append_audit(
        AuditEntry(
            action=action,
            actor=by,
            target=held.id,
            outcome="expired" if action == "delegation.expired" else "revoked",
            at=at,
            connection=held.connection,
            details=details,
        )
    )
    payload = {"subject": held.subject, "connection": held.connection, "cause": cause}
    await tx.emit(DomainEvent(DELEGATION_REVOKED, held.id, {**payload, "reason": reason}))
    return revoked
