"""Thread replies, requester DMs and the deny modal say the right thing for each outcome."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from approvals.model import Decision, Outcome
from approvals.states import ReviewState
from bot.cards import (
    DENY_CALLBACK_ID,
    REASON_ACTION_ID,
    REASON_BLOCK_ID,
    card_from_review,
    deny_reason_modal,
    render_html,
    render_slack,
    render_slack_dm,
    render_slack_thread_reply,
)
from tests.bot.samples import BOB, NOW, golden_card, statement_review


def _body(payload: dict[str, object]) -> str:
    blocks = payload["blocks"]
    assert isinstance(blocks, list)
    text: str = blocks[0]["text"]["text"]
    return text


def test_thread_reply_accepts_a_domain_decision() -> None:
    """A domain Decision and its card view give the same thread reply."""
    card = golden_card("pending_access_1_of_2")
    decision = Decision("d", card.review_id, BOB, Outcome.APPROVE, None, card.decisions[0].at)
    assert render_slack_thread_reply(card, decision) == render_slack_thread_reply(
        card, card.decisions[0]
    )


def test_cancelled_card() -> None:
    """A cancelled review has no buttons and says it was cancelled, in Slack and HTML."""
    card = card_from_review(
        statement_review(state=ReviewState.CANCELLED, decided_at=NOW), now=NOW, channel=None
    )
    blocks = render_slack(card)["blocks"]
    assert all(block["type"] != "actions" for block in blocks)
    assert any("Cancelled" in str(block) for block in blocks)
    assert "Cancelled by the requester" in render_html(card)
    assert "was cancelled" in _body(render_slack_dm(card))
    assert "Cancelled" in _body(render_slack_thread_reply(card))


def test_a_card_the_system_cancelled_says_why() -> None:
    """A review cancelled because its gateway is gone says so on the card, in the thread, in
    the requester's DM and in the console, not "by the requester"."""
    gone = "the gateway holding it is gone; the statement never ran"
    review = replace(
        statement_review(state=ReviewState.CANCELLED, decided_at=NOW), cancel_reason=gone
    )
    card = card_from_review(review, now=NOW, channel=None)
    texts = [
        str(render_slack(card)["blocks"]),
        _body(render_slack_thread_reply(card)),
        _body(render_slack_dm(card)),
        render_html(card),
    ]
    for text in texts:
        assert "the gateway holding it is gone" in text, text
        assert "by the requester" not in text, text


def test_late_card_has_no_buttons() -> None:
    """A pending review rendered after its deadline shows as expired, with no buttons."""
    review = statement_review()
    card = card_from_review(review, now=review.expires_at + timedelta(seconds=1), channel=None)
    assert all(block["type"] != "actions" for block in render_slack(card)["blocks"])
    assert "<form" not in render_html(card)


def test_dm_links_a_channel_id() -> None:
    """The DM links the approval channel when it is an id, and names it otherwise."""
    card = golden_card("pending_statement")
    assert "in <#C0DBAONCALL>" in _body(render_slack_dm(replace(card, channel="C0DBAONCALL")))
    assert "in #dba-oncall" in _body(render_slack_dm(card))


def test_denied_dm_carries_the_reason() -> None:
    """The requester's DM says who denied and why."""
    body = _body(render_slack_dm(golden_card("denied")))
    assert "denied by carol@example.com" in body
    assert "*Reason:* not during business hours" in body


def test_deny_modal_ids() -> None:
    """The modal's callback, block and action ids are the published constants."""
    view = deny_reason_modal("r-9")
    assert view["callback_id"] == DENY_CALLBACK_ID
    reason = view["blocks"][1]
    assert reason["block_id"] == REASON_BLOCK_ID
    assert reason["element"]["action_id"] == REASON_ACTION_ID
    assert reason["element"]["multiline"] is True
