"""One unit of work: :class:`SqlTransaction` implements :class:`approvals.ports.Transaction`.

Locking: ``get_review(..., for_update=True)`` takes ``SELECT ... FOR NO KEY UPDATE`` on
PostgreSQL (the ``FOR UPDATE`` variant for updates that keep the key: it serialises deciders
exactly like ``FOR UPDATE`` but does not block the foreign-key checks of rows that merely point at
the review, such as a chat message reference being stored meanwhile). On SQLite the transaction
began ``BEGIN IMMEDIATE`` and holds the database's write lock from its first statement, which
serialises deciders already.

Writes of reviews and delegations are checked: ``save_review`` expects ``review.version`` to be
one more than the stored version (the service bumps it) and raises StaleWrite otherwise, so a
save that did not hold the lock can never silently overwrite a newer decision.

Audit entries and outbox events are buffered and written by :meth:`SqlTransaction.finish` just
before the commit: the outbox rows (plus ``pg_notify`` on PostgreSQL), then the audit entries,
whose chain lock is thereby the last lock the transaction takes.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from approvals.model import AuditEntry, Decision, Delegation, DomainEvent, Review
from approvals.states import ReviewState
from store.audit import append_entries
from store.engine import Database
from store.errors import StaleWrite
from store.identity_tables import revocation_reason
from store.mapping import (
    DELEGATION_FIELDS,
    decision_to_row,
    delegation_from_row,
    delegation_to_row,
    review_from_row,
    review_to_row,
)
from store.outbox import write_events
from store.tables import DecisionRow, DelegationRow, ReviewRow

__all__ = ["SqlTransaction"]


class SqlTransaction:
    """The store side of one approvals transaction; made by ``SqlRepository.transaction()``."""

    def __init__(
        self, session: AsyncSession, database: Database, *, notify_channel: str | None
    ) -> None:
        self.session = session
        self.database = database
        self.events: list[DomainEvent] = []
        self.audit_entries: list[AuditEntry] = []
        self.outbox_ids: list[int] = []
        self._notify_channel = notify_channel

    # -- reviews and decisions ------------------------------------------------------------

    async def get_review(self, review_id: str, *, for_update: bool = False) -> Review | None:
        query = (
            select(ReviewRow)
            .where(col(ReviewRow.id) == review_id)
            .execution_options(populate_existing=True)
        )
        if for_update and self.database.is_postgres:
            query = query.with_for_update(key_share=True)
        row = (await self.session.scalars(query)).one_or_none()
        if row is None:
            return None
        decisions = await self.session.scalars(
            select(DecisionRow).where(col(DecisionRow.review_id) == review_id)
        )
        return review_from_row(row, decisions)

    async def add_review(self, review: Review) -> None:
        # Core INSERTs of the rows' values: the ORM's unit of work (add, flush) cost more than
        # the statement on this hot path (issue 23).
        await self.session.execute(insert(ReviewRow).values(**review_to_row(review).model_dump()))
        for position, decision in enumerate(review.decisions):
            await self._insert_decision(decision, position)

    async def save_review(self, review: Review) -> None:
        """Store the review's own fields (decisions go through ``add_decision``)."""
        values = review_to_row(review).model_dump(exclude={"id"})
        result = await self.session.execute(
            update(ReviewRow)
            .where(col(ReviewRow.id) == review.id, col(ReviewRow.version) == review.version - 1)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) != 1:
            raise StaleWrite(
                f"review {review.id} is not at version {review.version - 1}: "
                "it was changed or removed since it was read"
            )

    async def add_decision(self, decision: Decision, position: int) -> None:
        """``position`` comes from the review read under its lock (no count query); a wrong
        one breaks ``uq_decision_review_position`` instead of reordering votes."""
        await self._insert_decision(decision, position)

    async def _insert_decision(self, decision: Decision, position: int) -> None:
        row = decision_to_row(decision, position)
        await self.session.execute(insert(DecisionRow).values(**row.model_dump()))

    async def redeem_ticket(
        self, ticket: str, *, approved_since: datetime, at: datetime
    ) -> Review | None:
        """The oldest approved, unused review bound to ``ticket`` is marked used by a
        conditional update (``redeemed_at IS NULL``): on PostgreSQL a second transaction's
        update waits for the first's row lock, then finds the row used and changes nothing; on
        SQLite the transaction holds the write lock already. So one redeemer wins."""
        found = await self.session.scalar(
            select(col(ReviewRow.id))
            .where(
                col(ReviewRow.ticket) == ticket,
                col(ReviewRow.state) == ReviewState.APPROVED.value,
                col(ReviewRow.redeemed_at).is_(None),
                col(ReviewRow.decided_at) >= approved_since,
            )
            .order_by(col(ReviewRow.decided_at))
            .limit(1)
        )
        if found is None:
            return None
        result = await self.session.execute(
            update(ReviewRow)
            .where(col(ReviewRow.id) == found, col(ReviewRow.redeemed_at).is_(None))
            .values(redeemed_at=at)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) != 1:
            return None
        return await self.get_review(found)

    # -- delegations ----------------------------------------------------------------------

    async def get_delegation(
        self, delegation_id: str, *, for_update: bool = False
    ) -> Delegation | None:
        query = (
            select(DelegationRow)
            .where(col(DelegationRow.id) == delegation_id)
            .execution_options(populate_existing=True)
        )
        if for_update and self.database.is_postgres:
            query = query.with_for_update(key_share=True)
        row = (await self.session.scalars(query)).one_or_none()
        return delegation_from_row(row) if row is not None else None

    async def add_delegation(self, delegation: Delegation) -> None:
        self.session.add(delegation_to_row(delegation))
        await self.session.flush()

    async def save_delegation(self, delegation: Delegation) -> None:
        values = {name: getattr(delegation, name) for name in DELEGATION_FIELDS}
        result = await self.session.execute(
            update(DelegationRow)
            .where(col(DelegationRow.id) == delegation.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) != 1:
            raise StaleWrite(f"delegation {delegation.id} does not exist")

    # -- audit and outbox -----------------------------------------------------------------

    async def append_audit(self, entry: AuditEntry) -> None:
        """Buffer ``entry``; it joins the chain when the transaction finishes."""
        self.audit_entries.append(entry)

    async def emit(self, event: DomainEvent) -> None:
        """Buffer ``event`` for the outbox; it is published once the transaction commits."""
        self.events.append(event)

    async def revoked(self, subjects: Collection[str]) -> str | None:
        """Why one of ``subjects`` stands revoked or disabled, read in this transaction."""
        return await revocation_reason(self.session, subjects)

    async def finish(self) -> None:
        """Write the buffered outbox events and audit entries; the caller then commits."""
        self.outbox_ids = await write_events(
            self.session,
            self.events,
            notify_channel=self._notify_channel,
            notify_key=self.database.notify_key,
        )
        await append_entries(self.session, self.audit_entries, postgres=self.database.is_postgres)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
