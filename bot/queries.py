"""What a person sees in chat, read from the store: their pending approvals, their requests,
their active grants, and whether they may see a review at all. Reads only; writes go through the
gateway's HTTP API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from approvals import Connection, Delegation, Identity, Review, ReviewState, policy

__all__ = ["Overview", "ReviewReader", "may_see", "overview", "pending_for"]


class ReviewReader(Protocol):
    """The store queries the bot reads with (``store.SqlRepository`` implements them)."""

    async def get_review(self, review_id: str) -> Review | None: ...

    async def list_reviews(
        self,
        *,
        state: ReviewState | None = None,
        connection: str | None = None,
        requester: str | None = None,
        limit: int = 100,
    ) -> Sequence[Review]: ...

    async def get_delegation(self, delegation_id: str) -> Delegation | None: ...

    async def list_delegations(
        self,
        *,
        subject: str | None = None,
        connection: str | None = None,
        active_at: datetime | None = None,
    ) -> Sequence[Delegation]: ...


@dataclass(frozen=True, slots=True)
class Overview:
    """One person's view: reviews waiting for their vote, their own requests, their grants."""

    pending: tuple[Review, ...]
    requests: tuple[Review, ...]
    grants: tuple[Delegation, ...]


def may_see(
    who: Identity, review: Review, connection: Connection | None, *, auditor: bool = False
) -> bool:
    """The requester's chain, and (acting directly) the connection's approvers and owners, see
    a review; auditors see all (:func:`approvals.policy.may_see`, the API's own rule)."""
    return policy.may_see(who, review, connection, auditor=auditor)


def _awaits_vote(who: Identity, review: Review, connection: Connection | None) -> bool:
    if who.actors or connection is None or not connection.approvers.admits(who):
        return False
    if review.requester.in_chain(who.subject):
        return False
    return all(d.approver.subject != who.subject for d in review.decisions)


async def pending_for(
    reader: ReviewReader,
    who: Identity,
    connections: Mapping[str, Connection],
    now: datetime,
    limit: int = 20,
) -> list[Review]:
    """Pending, unexpired reviews ``who`` may still vote on, oldest first."""
    pending = await reader.list_reviews(state=ReviewState.PENDING, limit=500)
    mine = [
        r
        for r in pending
        if r.expires_at > now and _awaits_vote(who, r, connections.get(r.connection))
    ]
    return sorted(mine, key=lambda r: r.created_at)[:limit]


async def overview(
    reader: ReviewReader,
    who: Identity,
    connections: Mapping[str, Connection],
    now: datetime,
    limit: int = 10,
) -> Overview:
    pending = await pending_for(reader, who, connections, now, limit)
    requests = await reader.list_reviews(requester=who.subject, limit=limit)
    grants = await reader.list_delegations(subject=who.subject, active_at=now)
    return Overview(tuple(pending), tuple(requests), tuple(grants[:limit]))
