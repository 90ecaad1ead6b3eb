"""The chat card: everything an approver (or the requester) sees about one review, as one frozen
value built from the domain's :class:`approvals.model.Review`.

Renderers (Slack, console HTML) read only this value, never the review, and never parse anything
back out of a posted message: the store is the source of truth, a card is a view of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from approvals.model import Decision, Impact, Outcome, Review, ReviewKind
from approvals.states import ReviewState

__all__ = [
    "MAX_REVIEW_ID_LENGTH",
    "AccessDetails",
    "Card",
    "CardDecision",
    "card_decision",
    "card_from_review",
    "impact_text",
]

# Review ids are ours (UUID4 text); this bound keeps them far inside every Slack id/value limit.
MAX_REVIEW_ID_LENGTH = 255


@dataclass(frozen=True, slots=True)
class AccessDetails:
    """What an access request asks for: a role on the connection, for how long, and why."""

    role: str | None
    duration: timedelta
    reason: str


@dataclass(frozen=True, slots=True)
class CardDecision:
    """One vote on the review: who (with their chain), approve or deny, why, when."""

    who: str
    outcome: Outcome
    reason: str | None
    at: datetime
    break_glass: bool = False


@dataclass(frozen=True, slots=True)
class Card:
    """One review as a chat card.

    ``state`` is the review's state, except that a review still pending at or after its expiry
    is shown ``EXPIRED`` (the clock ended it even if nobody recorded that yet), so a card
    rendered late never offers buttons. ``requester`` is the subject; ``actor_chain`` the agents
    acting for it, in delegation order (the last one is on the wire). ``approvals`` counts
    distinct approvers so far, ``required`` is the quorum.
    """

    review_id: str
    title: str
    kind: ReviewKind
    requester: str
    connection: str
    state: ReviewState
    approvals: int
    required: int
    created_at: datetime
    expires_at: datetime
    actor_chain: tuple[str, ...] = ()
    statement: str | None = None
    access: AccessDetails | None = None
    risk: str | None = None
    rule: str | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    decided_at: datetime | None = None
    break_glass: bool = False
    decisions: tuple[CardDecision, ...] = ()
    channel: str | None = None
    impact: str | None = None  # a held write's row count (or why not): ``impact_text``

    def __post_init__(self) -> None:
        if not 0 < len(self.review_id) <= MAX_REVIEW_ID_LENGTH:
            raise ValueError(f"a review id has 1 to {MAX_REVIEW_ID_LENGTH} characters")

    @property
    def pending(self) -> bool:
        """True while approvers can still decide: the only time a card carries buttons."""
        return self.state is ReviewState.PENDING

    @property
    def requester_chain(self) -> str:
        """``alice@example.com → ci-runner → sql-agent``."""
        return " → ".join((self.requester, *self.actor_chain))

    @property
    def lists_votes(self) -> bool:
        """Whether the card lists the votes: not when the only one is the decision that ended
        the review, which the outcome line already shows."""
        if not self.decisions:
            return False
        final_by_it = self.state in (ReviewState.APPROVED, ReviewState.DENIED)
        return not (final_by_it and len(self.decisions) == 1)

    @property
    def progress(self) -> str:
        """``1 of 2 approvals``."""
        noun = "approval" if self.required == 1 else "approvals"
        return f"{self.approvals} of {self.required} {noun}"


def card_decision(decision: Decision) -> CardDecision:
    """The card's view of one domain decision."""
    return CardDecision(
        who=decision.approver.describe(),
        outcome=decision.outcome,
        reason=decision.reason,
        at=decision.at,
        break_glass=decision.break_glass,
    )


def card_from_review(review: Review, *, now: datetime, channel: str | None) -> Card:
    """Build the card for ``review`` as it stands at ``now``, for posting to ``channel``."""
    state = review.state
    decided_at = review.decided_at
    if state is ReviewState.PENDING and now >= review.expires_at:
        state, decided_at = ReviewState.EXPIRED, review.expires_at
    deciding = review.deciding
    access = review.access
    break_glass = any(d.break_glass for d in review.decisions)
    return Card(
        review_id=review.id,
        title=_title(review, break_glass=break_glass),
        kind=review.kind,
        requester=review.requester.subject,
        actor_chain=tuple(actor.subject for actor in review.requester.actors),
        connection=review.connection,
        state=state,
        approvals=len({d.approver.subject for d in review.approvals}),
        required=max(review.quorum, 1),
        created_at=review.created_at,
        expires_at=review.expires_at,
        statement=review.statement,
        access=AccessDetails(access.role, access.duration, access.reason) if access else None,
        risk=review.risk,
        rule=review.rule,
        decided_by=deciding.approver.describe() if deciding else None,
        # A review the system cancelled (its gateway is gone) says why in the same place.
        decision_reason=deciding.reason if deciding else review.cancel_reason,
        decided_at=decided_at,
        break_glass=break_glass,
        decisions=tuple(card_decision(d) for d in review.decisions),
        channel=channel,
        impact=impact_text(review.impact),
    )


def impact_text(impact: Impact | None) -> str | None:
    """What the card says of a held write's count: ``100 rows (counted when held)`` or the
    reason it was not counted. A count is evidence, not a promise: rows may change before the
    statement runs."""
    if impact is None:
        return None
    if impact.rows is None:
        return impact.note or "not counted"
    noun = "row" if impact.rows == 1 else "rows"
    note = f"; {impact.note}" if impact.note else ""
    return f"{impact.rows} {noun} (counted when held{note})"


def _title(review: Review, *, break_glass: bool) -> str:
    if review.kind is not ReviewKind.ACCESS:
        title = f"Statement on {review.connection}" + (f" via {review.via}" if review.via else "")
    elif review.access is not None and review.access.role:
        title = f"Access request: {review.access.role} on {review.connection}"
    else:
        title = f"Access request for {review.connection}"
    return f"Break-glass: {title}" if break_glass else title
