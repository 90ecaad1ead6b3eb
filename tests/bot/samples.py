"""Reviews and cards the renderer tests share: the six golden cases and a card builder."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from approvals.model import (
    AccessRequest,
    Actor,
    Decision,
    Identity,
    Outcome,
    Review,
    ReviewKind,
)
from approvals.states import ReviewState
from bot.cards import Card, card_from_review

__all__ = [
    "ALICE",
    "BOB",
    "CAROL",
    "DAVE",
    "GOLDEN_CASES",
    "NOW",
    "golden_card",
    "statement_review",
]

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
ALICE = Identity(
    "alice@example.com",
    groups=frozenset({"eng"}),
    email="alice@example.com",
    actors=(Actor("ci-runner"), Actor("sql-agent")),
)
BOB = Identity("bob@example.com", groups=frozenset({"dba-oncall"}))
CAROL = Identity("carol@example.com", groups=frozenset({"dba-oncall"}))
DAVE = Identity("dave@example.com")
CHANNEL = "#dba-oncall"


def statement_review(statement: str = "DROP TABLE orders;", **changes: object) -> Review:
    """A pending statement review on pg-prod, held two minutes ago, expiring in 13 minutes."""
    review = Review(
        id="5f0c2a9e-4b7d-4e55-8c1a-2d9e6b3f7a42",
        kind=ReviewKind.STATEMENT,
        requester=ALICE,
        connection="pg-prod",
        state=ReviewState.PENDING,
        quorum=1,
        created_at=NOW - timedelta(minutes=2),
        expires_at=NOW + timedelta(minutes=13),
        statement=statement,
        risk="destructive",
        rule="ddl-drop",
        session_id="s-1",
    )
    return replace(review, **changes)  # type: ignore[arg-type]


def _vote(
    who: Identity,
    outcome: Outcome,
    reason: str | None,
    minutes: int,
    *,
    break_glass: bool = False,
) -> Decision:
    return Decision(
        id=f"d-{who.subject}",
        review_id="r",
        approver=who,
        outcome=outcome,
        reason=reason,
        at=NOW - timedelta(minutes=minutes),
        break_glass=break_glass,
    )


def _access_review(**changes: object) -> Review:
    review = Review(
        id="9a1e7c3b-0f64-4d2a-b8e5-71c4d2f0e913",
        kind=ReviewKind.ACCESS,
        requester=Identity("dave@example.com", groups=frozenset({"eng"})),
        connection="pg-prod",
        state=ReviewState.PENDING,
        quorum=2,
        created_at=NOW - timedelta(minutes=5),
        expires_at=NOW + timedelta(minutes=10),
        access=AccessRequest(role="app_ro", duration=timedelta(hours=2), reason="INC-42 triage"),
        risk="access",
        rule="access-request",
    )
    return replace(review, **changes)  # type: ignore[arg-type]


def _reviews() -> dict[str, Review]:
    approved_at = NOW - timedelta(minutes=1)
    return {
        "pending_statement": statement_review(),
        "pending_access_1_of_2": _access_review(decisions=(_vote(BOB, Outcome.APPROVE, None, 1),)),
        "approved": statement_review(
            state=ReviewState.APPROVED,
            decisions=(_vote(BOB, Outcome.APPROVE, "checked with the owner", 1),),
            decided_at=approved_at,
        ),
        "denied": statement_review(
            "DELETE FROM users;",
            rule="delete-without-where",
            state=ReviewState.DENIED,
            decisions=(_vote(CAROL, Outcome.DENY, "not during business hours", 1),),
            decided_at=approved_at,
        ),
        "expired": statement_review(
            state=ReviewState.EXPIRED,
            created_at=NOW - timedelta(minutes=20),
            expires_at=NOW - timedelta(minutes=5),
            decided_at=NOW - timedelta(minutes=5),
        ),
        "break_glass": _access_review(
            requester=DAVE,
            quorum=1,
            state=ReviewState.APPROVED,
            access=AccessRequest("app_rw", timedelta(hours=1), "INC-99: primary is down"),
            decisions=(
                _vote(DAVE, Outcome.APPROVE, "INC-99: nobody on call answers", 1, break_glass=True),
            ),
            decided_at=approved_at,
        ),
    }


GOLDEN_CASES = tuple(_reviews())


def golden_card(name: str) -> Card:
    """The card of one golden case, as the bot would build it at NOW for #dba-oncall."""
    return card_from_review(_reviews()[name], now=NOW, channel=CHANNEL)
