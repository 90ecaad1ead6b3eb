"""card_from_review: what a card shows about a review, derived purely from it and the clock."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from html import escape

import pytest

from approvals.model import Decision, Identity, Impact, Outcome
from approvals.states import ReviewState
from bot.cards import (
    MAX_REVIEW_ID_LENGTH,
    Card,
    card_decision,
    card_from_review,
    render_html,
    render_slack,
)
from tests.bot.samples import ALICE, BOB, CAROL, NOW, golden_card, statement_review


def _approve(who: Identity, minutes: int) -> Decision:
    return Decision(
        f"d{minutes}", "r", who, Outcome.APPROVE, None, NOW - timedelta(minutes=minutes)
    )


def test_requester_and_actor_chain() -> None:
    """The requester is the subject; the chain lists the agents acting for it, in order."""
    card = card_from_review(statement_review(), now=NOW, channel="#dba-oncall")
    assert card.requester == "alice@example.com"
    assert card.actor_chain == ("ci-runner", "sql-agent")
    assert card.requester_chain == "alice@example.com → ci-runner → sql-agent"
    assert card.channel == "#dba-oncall"
    assert card.statement == "DROP TABLE orders;"


def test_progress_counts_distinct_approvers() -> None:
    """k of N counts distinct approvers against the quorum."""
    review = statement_review(quorum=3, decisions=(_approve(BOB, 3), _approve(CAROL, 2)))
    card = card_from_review(review, now=NOW, channel=None)
    assert (card.approvals, card.required, card.progress) == (2, 3, "2 of 3 approvals")
    assert card.pending and card.lists_votes


def test_pending_past_expiry_is_shown_expired() -> None:
    """A review still pending at its deadline is drawn expired: no buttons on a late card."""
    review = statement_review()
    card = card_from_review(review, now=review.expires_at, channel=None)
    assert card.state is ReviewState.EXPIRED and not card.pending
    assert card.decided_at == review.expires_at


def test_denied_card_names_decider_and_reason() -> None:
    """A denied card says who denied, why and when."""
    card = golden_card("denied")
    assert card.state is ReviewState.DENIED
    assert card.decided_by == "carol@example.com"
    assert card.decision_reason == "not during business hours"
    assert card.decided_at == NOW - timedelta(minutes=1)
    assert not card.lists_votes


def test_break_glass_flag_and_title() -> None:
    """A break-glass decision flags the card and says so in its title."""
    card = golden_card("break_glass")
    assert card.break_glass and card.decisions[0].break_glass
    assert card.title.startswith("Break-glass: ")


def test_card_decision_carries_the_chain() -> None:
    """A vote names its approver with their whole chain."""
    decision = replace(_approve(ALICE, 1), reason="ok")
    vote = card_decision(decision)
    assert vote.who == "alice@example.com → ci-runner → sql-agent"
    assert (vote.outcome, vote.reason, vote.at) == (Outcome.APPROVE, "ok", decision.at)


@pytest.mark.parametrize("review_id", ["", "x" * (MAX_REVIEW_ID_LENGTH + 1)])
def test_review_id_must_fit_a_button_value(review_id: str) -> None:
    """A card refuses a review id it could not carry in a button value."""
    with pytest.raises(ValueError, match="review id"):
        replace(golden_card("approved"), review_id=review_id)


def test_card_is_frozen() -> None:
    """Cards are values: assigning to one fails."""
    card: Card = golden_card("approved")
    with pytest.raises(AttributeError):
        card.state = ReviewState.PENDING  # type: ignore[misc]


@pytest.mark.parametrize(
    ("impact", "shown"),
    [
        (None, None),
        (Impact(100), "100 rows (counted when held)"),
        (Impact(1), "1 row (counted when held)"),
        (
            Impact(7, "rows with a matching source row (at most)"),
            "7 rows (counted when held; rows with a matching source row (at most))",
        ),
        (Impact(None, "not counted: calls random()"), "not counted: calls random()"),
    ],
)
def test_impact_is_on_the_card(impact: Impact | None, shown: str | None) -> None:
    """A held write's count (or why it was not counted) is on the card, Slack's and the
    console's alike; a review without one shows no Impact field."""
    card = card_from_review(statement_review(impact=impact), now=NOW, channel=None)
    assert card.impact == shown
    slack = json.dumps(render_slack(card))
    html = render_html(card)
    if shown is None:
        assert "Impact" not in slack and "Impact" not in html
    else:
        assert f"*Impact*\\n{shown}" in slack
        assert f"<dt>Impact</dt><dd>{escape(shown)}</dd>" in html
