"""Do the reviews and decisions in the store agree with the audit events that recorded them?

The approval service writes a review's rows and its audit events in one transaction
(:mod:`approvals.service`): opening a review appends ``statement.held`` or ``access.requested``
(requester, connection, statement or access request); each vote appends ``review.decision``
(approver, outcome, reason, break-glass); a final state appends ``review.final`` (the state).
The audit events are anchored by the chain and its checkpoints; the review and decision rows
are not. Someone who edits a decision row (``deny`` made ``approve``, another approver) or a
review (its state, its statement) leaves the chain intact, so :func:`disagreements` reads
both sides and names every review, decision and event where they differ.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from store.agreement_check import EVENT_COLUMNS, REVIEW_ACTIONS, compare
from store.engine import Database
from store.tables import AuditEventRow, DecisionRow, ReviewRow

__all__ = ["REVIEW_ACTIONS", "disagreements"]


async def disagreements(database: Database) -> list[str]:
    """Every place where a review or decision row and its audit events differ
    (:func:`store.agreement_check.compare`)."""
    async with database.read() as session:
        reviews = list((await session.scalars(select(ReviewRow))).all())
        decisions = list((await session.scalars(select(DecisionRow))).all())
        columns = [col(getattr(AuditEventRow, name)) for name in EVENT_COLUMNS]
        rows = (
            await session.execute(
                select(*columns)
                .where(col(AuditEventRow.action).in_(REVIEW_ACTIONS))
                .order_by(col(AuditEventRow.seq))
            )
        ).all()
    return compare(reviews, decisions, rows)
