"""The approvals service: the one place where reviews are opened, decided, expired and cancelled,
where access is granted and revoked, and where connecting is authorised.

Every write happens in one store transaction together with its audit entry and outbox event, so a
crash never leaves a decision without its audit trail or its ``review.decided`` event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from approvals import chain, jit, policy
from approvals.errors import (
    AlreadyDecided,
    InvalidTransition,
    NotFound,
    PolicyViolation,
    ReviewExpired,
)
from approvals.model import (
    AccessRequest,
    AuditEntry,
    Connection,
    Decision,
    Delegation,
    DomainEvent,
    Identity,
    Impact,
    Outcome,
    Review,
    ReviewEnding,
    ReviewKind,
    new_id,
)
from approvals.ports import Clock, EventBus, Repository, Transaction
from approvals.states import ReviewInput, ReviewState, transition

__all__ = [
    "DELEGATION_GRANTED",
    "DELEGATION_REVOKED",
    "REVIEW_CREATED",
    "REVIEW_DECIDED",
    "REVIEW_UPDATED",
    "ApprovalService",
]

REVIEW_CREATED = "review.created"
REVIEW_UPDATED = "review.updated"
REVIEW_DECIDED = "review.decided"
DELEGATION_GRANTED = "delegation.granted"
DELEGATION_REVOKED = "delegation.revoked"


class ApprovalService:
    def __init__(
        self,
        repository: Repository,
        bus: EventBus,
        clock: Clock,
        connections: Mapping[str, Connection],
    ) -> None:
        self.repository = repository
        self.bus = bus
        self.clock = clock
        self.connections = connections

    def connection(self, name: str) -> Connection:
        try:
            return self.connections[name]
        except KeyError:
            raise NotFound(f"no connection named {name!r}") from None

    # -- opening reviews ------------------------------------------------------------------

    async def hold_statement(
        self,
        requester: Identity,
        connection: str,
        statement: str,
        *,
        risk: str,
        rule: str,
        session_id: str | None = None,
        impact: Impact | None = None,
        statement_sha256: str | None = None,
        via: str | None = None,
        ticket: str | None = None,
    ) -> Review:
        """Open a pending review for a statement the guardrails held.

        ``statement`` is the text shown and stored (secrets in it already redacted);
        ``statement_sha256`` is the hash of the exact bytes the session holds, ``impact`` what
        the database counted the statement would touch. ``via`` names a door other than a
        database listener (the card shows it); ``ticket`` makes the approval a single-use
        ticket for the caller to redeem (:meth:`redeem_approval`) instead of a session waiting
        for it."""
        review = self._pending(
            ReviewKind.STATEMENT,
            requester,
            self.connection(connection),
            statement=statement,
            risk=risk,
            rule=rule,
            session_id=session_id,
            impact=impact,
            statement_sha256=statement_sha256,
            via=via,
            ticket=ticket,
        )
        await self._open(review, "statement.held")
        return review

    async def request_access(
        self,
        requester: Identity,
        connection: str,
        *,
        role: str | None,
        duration: timedelta,
        reason: str,
    ) -> Review:
        """Open a pending review for time-bounded access to a connection."""
        conn = self.connection(connection)
        policy.check_access_request(conn, requester, duration, reason, role)
        review = self._pending(
            ReviewKind.ACCESS,
            requester,
            conn,
            access=AccessRequest(role=role, duration=duration, reason=reason.strip()),
            risk="access",
            rule="access-request",
        )
        await self._open(review, "access.requested")
        return review

    def _pending(
        self, kind: ReviewKind, requester: Identity, conn: Connection, **fields: Any
    ) -> Review:
        """A new pending review on ``conn``, timed from now by the connection's review timeout."""
        now = self.clock.now()
        return Review(
            id=new_id(),
            kind=kind,
            requester=requester,
            connection=conn.name,
            state=ReviewState.PENDING,
            quorum=conn.approvers.quorum,
            created_at=now,
            expires_at=now + conn.review_timeout,
            **fields,
        )

    async def _open(self, review: Review, action: str) -> None:
        async with self.repository.transaction() as tx:
            await policy.check_actor(tx, review.requester, None)
            await tx.add_review(review)
            await tx.append_audit(
                AuditEntry(
                    action=action,
                    actor=review.requester,
                    target=review.id,
                    outcome="pending",
                    at=review.created_at,
                    connection=review.connection,
                    details=_statement_details(review)
                    if review.statement is not None
                    else _access_details(review),
                )
            )
            await tx.emit(_review_event(REVIEW_CREATED, review))

    # -- deciding -------------------------------------------------------------------------

    async def decide(
        self,
        review_id: str,
        approver: Identity,
        outcome: Outcome,
        reason: str | None = None,
        *,
        break_glass: bool = False,
    ) -> Review:
        """Record one decision; returns the review as it stands after it.

        Raises AlreadyDecided (naming the decider) when the review is final, ReviewExpired when
        its time ran out (the expiry is recorded), or the PolicyViolation that forbids it. This
        is the one decision path: the API, the chat bot (Slack, console) and the CLI all end
        here, so :func:`approvals.policy.check_actor` (no agents, no revoked link) runs first,
        in the decision's transaction, for every one of them.
        """
        expired = False
        async with self.repository.transaction() as tx:
            await policy.check_actor(tx, approver, policy.Power.APPROVER)
            review = await _locked(tx, review_id)
            if review.is_final:
                raise _already_decided(review)
            now = self.clock.now()
            if now >= review.expires_at:
                await self._finish(tx, review, ReviewInput.EXPIRE, None, None)
                expired = True
            else:
                conn = self.connection(review.connection)
                policy.check_decision(
                    review, conn, approver, outcome, reason, break_glass=break_glass
                )
                decision = Decision(
                    id=new_id(),
                    review_id=review.id,
                    approver=approver,
                    outcome=outcome,
                    reason=(reason or "").strip() or None,
                    at=now,
                    break_glass=break_glass,
                )
                review = await self._apply(tx, review, decision)
        if expired:
            raise ReviewExpired(f"review {review_id} expired before it was decided")
        return review

    async def _apply(self, tx: Transaction, review: Review, decision: Decision) -> Review:
        await tx.add_decision(decision, len(review.decisions))  # read under the review's lock
        if decision.break_glass:
            await jit.announce_break_glass(tx, review, decision, self.connection(review.connection))
        await tx.append_audit(
            AuditEntry(
                action="review.decision",
                actor=decision.approver,
                target=review.id,
                outcome=decision.outcome.value,
                at=decision.at,
                connection=review.connection,
                details={"reason": decision.reason, "break_glass": decision.break_glass},
            )
        )
        if decision.outcome is Outcome.DENY:
            event = ReviewInput.DENY
        else:
            # Subjects are canonical (approvals.subjects): one person counts once, however spelt.
            approvers = {d.approver.subject for d in review.approvals} | {decision.approver.subject}
            final = decision.break_glass or len(approvers) >= review.quorum
            event = ReviewInput.APPROVE_FINAL if final else ReviewInput.APPROVE_PARTIAL
        return await self._finish(tx, review, event, decision, decision.approver)

    async def _finish(
        self,
        tx: Transaction,
        review: Review,
        event: ReviewInput,
        decision: Decision | None,
        actor: Identity | None,
    ) -> Review:
        state = transition(review.state, event)
        now = decision.at if decision else self.clock.now()
        updated = replace(
            review,
            state=state,
            decisions=review.decisions + ((decision,) if decision else ()),
            decided_at=now if state is not ReviewState.PENDING else None,
            version=review.version + 1,
        )
        await tx.save_review(updated)
        if state is ReviewState.PENDING:
            await tx.emit(_review_event(REVIEW_UPDATED, updated))
            return updated
        await tx.append_audit(
            AuditEntry(
                action="review.final",
                actor=actor,
                target=review.id,
                outcome=state.value,
                at=now,
                connection=review.connection,
                details=_final_details(review),
            )
        )
        await tx.emit(_review_event(REVIEW_DECIDED, updated))
        if state is ReviewState.APPROVED and review.kind is ReviewKind.ACCESS:
            await self._grant(tx, updated)
        return updated

    async def _grant(self, tx: Transaction, review: Review) -> None:
        assert review.access is not None and review.decided_at is not None
        deciding = review.deciding
        delegation = Delegation(
            id=new_id(),
            subject=review.requester.subject,
            connection=review.connection,
            role=review.access.role,
            granted_by=deciding.approver.subject if deciding else "system",
            reason=review.access.reason,
            created_at=review.decided_at,
            expires_at=review.decided_at + review.access.duration,
            review_id=review.id,
            break_glass=bool(deciding and deciding.break_glass),
        )
        await tx.add_delegation(delegation)
        await tx.append_audit(
            AuditEntry(
                action="delegation.granted",
                actor=deciding.approver if deciding else None,
                target=delegation.id,
                outcome="granted",
                at=delegation.created_at,
                connection=delegation.connection,
                details={
                    "subject": delegation.subject,
                    "role": delegation.role,
                    "expires_at": delegation.expires_at.isoformat(),
                    "break_glass": delegation.break_glass,
                },
            )
        )
        await tx.emit(
            DomainEvent(DELEGATION_GRANTED, delegation.id, {"subject": delegation.subject})
        )

    async def expire(self, review_id: str) -> Review:
        """End a pending review whose time ran out; a final review, or one whose deadline has
        not come yet, is returned as it is."""
        async with self.repository.transaction() as tx:
            review = await _locked(tx, review_id)
            if review.is_final or self.clock.now() < review.expires_at:
                return review
            return await self._finish(tx, review, ReviewInput.EXPIRE, None, None)

    async def cancel(self, review_id: str, by: Identity) -> Review:
        """Withdraw a pending review (the requester gave up, or its client cancelled)."""
        async with self.repository.transaction() as tx:
            review = await _locked(tx, review_id)
            if review.is_final:
                raise _already_decided(review)
            # The requester's own subject, directly or through any agents acting for it. A shared
            # agent (ci-runner) is in many people's chains: overlapping chains are not enough.
            if by.subject != review.requester.subject:
                raise PolicyViolation("only the requester can cancel a review")
            return await self._finish(tx, review, ReviewInput.CANCEL, None, by)

    async def abandon(self, review_id: str, reason: str) -> Review:
        """The system's cancel: end a pending statement review that nothing can run any more
        (the gateway process holding its statement is gone), saying why. Audited and announced
        (``review.decided``: the bot shows ``reason`` on the card) like every ending; from here
        the review is final, so no approval can follow. A review already final is returned as
        it is (a racing reaper or a decider came first): one ending, whoever races. An access
        request belongs to no session and is never abandoned."""
        async with self.repository.transaction() as tx:
            review = await _locked(tx, review_id)
            if review.is_final:
                return review
            if review.kind is not ReviewKind.STATEMENT:
                raise PolicyViolation(f"review {review_id} is an access request: it has no gateway")
            abandoned = replace(review, cancel_reason=reason)
            return await self._finish(tx, abandoned, ReviewInput.ABANDON, None, None)

    async def redeem_approval(
        self, requester: Identity, ticket: str, *, ttl: timedelta
    ) -> Review | None:
        """Use a single-use approval: the oldest approved review bound to ``ticket`` (the hash
        of the exact request, its connection and its caller chain), decided within ``ttl`` and
        not used yet, is marked used and returned, with its ``statement.ticket_redeemed`` audit
        entry, in one transaction; None when there is none (the statement needs a new review).
        A requester with a revoked link in its chain redeems nothing (Revoked)."""
        async with self.repository.transaction() as tx:
            await policy.check_actor(tx, requester, None)
            now = self.clock.now()
            review = await tx.redeem_ticket(ticket, approved_since=now - ttl, at=now)
            if review is None:
                return None
            await tx.append_audit(
                AuditEntry(
                    action="statement.ticket_redeemed",
                    actor=requester,
                    target=review.id,
                    outcome="redeemed",
                    at=now,
                    connection=review.connection,
                    details={"via": review.via, "statement_sha256": review.statement_sha256},
                )
            )
            return review

    async def await_decision(self, review_id: str) -> Review:
        """Wait until the review is final; at its deadline, expire it. Returns the final review."""
        async with self.bus.subscribe(REVIEW_DECIDED) as subscription:
            review = await self._get(review_id)
            while not review.is_final:
                remaining = (review.expires_at - self.clock.now()).total_seconds()
                if remaining <= 0:
                    return await self.expire(review_id)
                try:
                    async with asyncio.timeout(remaining):
                        while (await subscription.get()).key != review_id:
                            pass
                except TimeoutError:
                    pass
                review = await self._get(review_id)
            return review

    async def await_ending(self, review_id: str) -> ReviewEnding:
        """``await_decision`` for a held command: how the review ended. A sealed
        ``review.decided`` event (DomainEvent.sealed) is taken at its word, so the decision
        reaches the holder without reading the review again; any other is read from the store."""
        async with self.bus.subscribe(REVIEW_DECIDED) as subscription:
            review = await self._get(review_id)
            while not review.is_final:
                remaining = (review.expires_at - self.clock.now()).total_seconds()
                if remaining <= 0:
                    return ReviewEnding.of(await self.expire(review_id))
                try:
                    async with asyncio.timeout(remaining):
                        while (event := await subscription.get()).key != review_id:
                            pass
                except TimeoutError:
                    pass
                else:
                    if (told := ReviewEnding.told(event)) is not None:
                        return told
                review = await self._get(review_id)
            return ReviewEnding.of(review)

    async def _get(self, review_id: str) -> Review:
        review = await self.repository.get_review(review_id)
        if review is None:
            raise NotFound(f"no review {review_id}")
        return review

    # -- access ---------------------------------------------------------------------------

    async def authorize_connect(self, who: Identity, connection: str) -> Delegation | None:
        """May ``who`` open a session on ``connection``? Returns the delegation it rests on.

        Standing access: a member of ``allow_groups`` connects; anyone else needs a delegation.
        Request access: a live delegation is needed. Every link of a chain must have access on
        its own and the token's scope must include the connection (:mod:`approvals.chain`);
        of the delegations the chain rests on, the one that expires first is returned. Raises
        AccessNotAllowed saying how to ask.
        """
        conn = self.connection(connection)
        return await chain.authorize_chain(self.repository, who, conn, self.clock.now())

    async def revoke_delegation(self, delegation_id: str, by: Identity, reason: str) -> Delegation:
        async with self.repository.transaction() as tx:
            await policy.check_actor(tx, by, None)
            delegation = await tx.get_delegation(delegation_id, for_update=True)
            if delegation is None:
                raise NotFound(f"no delegation {delegation_id}")
            if delegation.revoked_at is not None:
                raise InvalidTransition(f"delegation {delegation_id} is already revoked")
            now = self.clock.now()
            revoked = replace(
                delegation, revoked_at=now, revoked_by=by.subject, revoke_reason=reason
            )
            await tx.save_delegation(revoked)
            await tx.append_audit(
                AuditEntry(
                    action="delegation.revoked",
                    actor=by,
                    target=delegation_id,
                    outcome="revoked",
                    at=now,
                    connection=delegation.connection,
                    details={"subject": delegation.subject, "reason": reason},
                )
            )
            await tx.emit(
                DomainEvent(
                    DELEGATION_REVOKED,
                    delegation_id,
                    {"subject": delegation.subject, "connection": delegation.connection},
                )
            )
            return revoked

    async def record(self, entry: AuditEntry) -> None:
        """Append one audit entry on its own."""
        async with self.repository.transaction() as tx:
            await tx.append_audit(entry)


async def _locked(tx: Transaction, review_id: str) -> Review:
    review = await tx.get_review(review_id, for_update=True)
    if review is None:
        raise NotFound(f"no review {review_id}")
    return review


def _already_decided(review: Review) -> AlreadyDecided:
    deciding = review.deciding
    by = deciding.approver.subject if deciding else None
    who = f" by {by}" if by else ""
    why = f": {review.cancel_reason}" if review.cancel_reason else ""
    return AlreadyDecided(
        f"review {review.id} is already {review.state.value}{who}{why}",
        state=review.state.value,
        decided_by=by,
    )


def _review_event(topic: str, review: Review) -> DomainEvent:
    deciding = review.deciding
    return DomainEvent(
        topic,
        review.id,
        {
            "state": review.state.value,
            "connection": review.connection,
            "decided_by": deciding.approver.subject if deciding else None,
            "reason": deciding.reason if deciding else review.cancel_reason,
        },
    )


def _final_details(review: Review) -> dict[str, object]:
    """A review's ending's audit details: its kind, and why the system cancelled it."""
    details: dict[str, object] = {"kind": review.kind.value}
    if review.cancel_reason is not None:
        details["reason"] = review.cancel_reason
    return details


def _access_details(review: Review) -> dict[str, object]:
    assert review.access is not None
    return {
        "role": review.access.role,
        "duration_s": int(review.access.duration.total_seconds()),
        "reason": review.access.reason,
    }


def _statement_details(review: Review) -> dict[str, object]:
    """A held statement's audit details: the text as stored (secrets redacted), its rule, the
    hash of the exact bytes the approval binds to (when the session gave one), and what it
    would touch (the count the gateway made when it held it, or why it did not count)."""
    details: dict[str, object] = {"statement": review.statement, "rule": review.rule}
    if review.via is not None:
        details["via"] = review.via
    if review.statement_sha256 is not None:
        details["statement_sha256"] = review.statement_sha256
    if review.impact is not None:
        details["impact"] = {"rows": review.impact.rows, "note": review.impact.note}
    return details
