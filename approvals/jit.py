"""Just-in-time access: what happens around a break-glass approval.

Break-glass lets a requester approve their own access request (or held statement) where the
connection allows it, with a mandatory reason (see :mod:`approvals.policy`). Nobody checked it
beforehand, so everybody who could have is told afterwards: in the decision's own transaction
the service writes

- an outbox event ``review.break_glass`` (key: the review id) naming the requester's chain, the
  connection, the reason and the approvers to tell (their channel, groups and identities), which
  chat delivery shows to every approver of the connection; and
- an audit entry ``review.break_glass`` (outcome ``approved``, ``details.break_glass = true``),
  so an auditor finds every break-glass use with one filter on the action.
"""

from __future__ import annotations

from approvals.model import AuditEntry, Connection, Decision, DomainEvent, Review
from approvals.ports import Transaction

__all__ = ["BREAK_GLASS", "announce_break_glass", "break_glass_event"]

BREAK_GLASS = "review.break_glass"


def break_glass_event(review: Review, decision: Decision, conn: Connection) -> DomainEvent:
    """The ``review.break_glass`` outbox event for a self-approval."""
    return DomainEvent(
        BREAK_GLASS,
        review.id,
        {
            "kind": review.kind.value,
            "connection": review.connection,
            "requester": review.requester.subject,
            "chain": list(review.requester.chain),
            "reason": decision.reason,
            "statement": review.statement,
            "role": review.access.role if review.access else None,
            "at": decision.at.isoformat(),
            "notify": {
                "channel": conn.approvers.channel,
                "groups": sorted(conn.approvers.groups),
                "identities": sorted(conn.approvers.identities),
            },
        },
    )


async def announce_break_glass(
    tx: Transaction, review: Review, decision: Decision, conn: Connection
) -> None:
    """Write the break-glass audit entry and outbox event in the decision's transaction."""
    await tx.append_audit(
        AuditEntry(
            action=BREAK_GLASS,
            actor=decision.approver,
            target=review.id,
            outcome="approved",
            at=decision.at,
            connection=review.connection,
            details={"break_glass": True, "reason": decision.reason, "kind": review.kind.value},
        )
    )
    await tx.emit(break_glass_event(review, decision, conn))
