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

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from store.engine import Database
from store.tables import AuditEventRow, DecisionRow, ReviewRow

__all__ = ["REVIEW_ACTIONS", "disagreements"]

OPENINGS = {"statement": "statement.held", "access": "access.requested"}
REVIEW_ACTIONS = (*OPENINGS.values(), "review.decision", "review.final")


@dataclass(frozen=True, slots=True)
class _Event:
    seq: int
    action: str
    actor: str | None
    connection: str | None
    outcome: str
    details: dict[str, Any]


async def disagreements(database: Database) -> list[str]:
    """Every place where a review or decision row and its audit events differ."""
    async with database.read() as session:
        reviews = list((await session.scalars(select(ReviewRow))).all())
        decisions = list((await session.scalars(select(DecisionRow))).all())
        rows = (
            await session.execute(
                select(
                    col(AuditEventRow.seq),
                    col(AuditEventRow.action),
                    col(AuditEventRow.target),
                    col(AuditEventRow.actor_subject),
                    col(AuditEventRow.connection),
                    col(AuditEventRow.outcome),
                    col(AuditEventRow.details),
                )
                .where(col(AuditEventRow.action).in_(REVIEW_ACTIONS))
                .order_by(col(AuditEventRow.seq))
            )
        ).all()
    events: dict[str, list[_Event]] = defaultdict(list)
    for seq, action, target, actor, connection, outcome, details in rows:
        events[target].append(_Event(seq, action, actor, connection, outcome, dict(details)))
    votes: dict[str, list[DecisionRow]] = defaultdict(list)
    for decision in decisions:
        votes[decision.review_id].append(decision)
    found: list[str] = []
    known = {review.id for review in reviews}
    for review in reviews:
        mine = events.pop(review.id, [])
        found += _review(review, mine)
        found += _votes(review.id, votes.pop(review.id, []), mine)
    for target, left in sorted(events.items(), key=lambda item: item[1][0].seq):
        if target not in known:
            found.append(
                f"audit event {left[0].seq} ({left[0].action}) is about review {target}, "
                "which the store does not have (the review row was deleted)"
            )
    return found


def _review(review: ReviewRow, events: list[_Event]) -> list[str]:
    """The review row against its opening and final events."""
    found: list[str] = []
    name = f"review {review.id}"
    action = OPENINGS.get(review.kind)
    opened = [e for e in events if e.action in OPENINGS.values()]
    if action is None:
        found.append(f"{name} has kind {review.kind!r}, which no audit event records")
    elif len(opened) != 1 or opened[0].action != action:
        found.append(f"{name} ({review.kind}) has no single {action} audit event")
    else:
        found += _opening(name, review, opened[0])
    final = [e for e in events if e.action == "review.final"]
    if review.state == "pending":
        if final:
            found.append(
                f"{name} is pending in the store, but audit event {final[0].seq} ended it as "
                f"{final[0].outcome}"
            )
    elif len(final) != 1:
        found.append(f"{name} is {review.state} in the store; no single review.final event")
    elif final[0].outcome != review.state:
        found.append(
            f"{name} is {review.state} in the store; audit event {final[0].seq} says "
            f"{final[0].outcome}"
        )
    return found


def _opening(name: str, review: ReviewRow, event: _Event) -> list[str]:
    wanted: dict[str, Any] = {
        "requester": (review.requester_subject, event.actor),
        "connection": (review.connection, event.connection),
    }
    if review.kind == "statement":
        wanted["statement"] = (review.statement, event.details.get("statement"))
    else:
        wanted["access role"] = (review.access_role, event.details.get("role"))
        wanted["access duration"] = (review.access_duration_s, event.details.get("duration_s"))
        wanted["access reason"] = (review.access_reason, event.details.get("reason"))
    return [
        f"{name}: its {what} in the store differs from audit event {event.seq}"
        for what, (stored, recorded) in wanted.items()
        if stored != recorded
    ]


def _votes(review_id: str, decisions: list[DecisionRow], events: list[_Event]) -> list[str]:
    """Decision rows against ``review.decision`` events, matched by approver."""
    found: list[str] = []
    recorded: dict[str | None, list[_Event]] = defaultdict(list)
    for event in events:
        if event.action == "review.decision":
            recorded[event.actor].append(event)
    for decision in sorted(decisions, key=lambda d: d.position):
        name = f"decision {decision.id} on review {review_id} by {decision.approver_subject}"
        matches = recorded.pop(decision.approver_subject, [])
        if len(matches) != 1:
            found.append(f"{name} has {len(matches)} review.decision audit events, not one")
            continue
        event = matches[0]
        stored = (decision.outcome, decision.reason, decision.break_glass)
        said = (event.outcome, event.details.get("reason"), event.details.get("break_glass"))
        for what, mine, theirs in zip(
            ("outcome", "reason", "break-glass"), stored, said, strict=True
        ):
            if mine != theirs:
                found.append(
                    f"{name}: its {what} is {mine!r} in the store, {theirs!r} in audit event "
                    f"{event.seq}"
                )
    for actor, left in recorded.items():
        for event in left:
            found.append(
                f"audit event {event.seq} records a decision by {actor} on review {review_id} "
                "that the store does not have"
            )
    return found
