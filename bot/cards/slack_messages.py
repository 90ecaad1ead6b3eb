"""The other Slack messages about a review: the thread reply per vote, the requester's DM, and
the deny-reason modal. Same rules as the card: user text escaped, every text within its limit.
"""

from __future__ import annotations

import re
from typing import Any

from approvals.model import Decision, Outcome, ReviewKind
from approvals.states import ReviewState
from bot.cards.blocks import MODAL_TITLE_MAX, SECTION_TEXT_MAX, context, plain, section
from bot.cards.model import MAX_REVIEW_ID_LENGTH, Card, CardDecision, card_decision
from bot.cards.slack import STATE_ICON, statement_text
from bot.cards.text import (
    escape_mrkdwn,
    escape_short,
    format_duration,
    shorten,
    slack_len,
    slack_time,
)

__all__ = [
    "DENY_CALLBACK_ID",
    "REASON_ACTION_ID",
    "REASON_BLOCK_ID",
    "REASON_MAX",
    "deny_reason_modal",
    "render_slack_dm",
    "render_slack_thread_reply",
]

DENY_CALLBACK_ID = "airlock_deny_reason"
REASON_BLOCK_ID = "airlock_reason"
REASON_ACTION_ID = "reason"
REASON_MAX = 3000
_DM_STATEMENT_MAX = 1000
_DM_REASON_MAX = 800
_FALLBACK_MAX = 1000
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")
_DATE_TOKEN = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")


def _message(text: str, card: Card) -> dict[str, Any]:
    # Every part is bounded so that the whole stays under the section limit; the cut is a guard.
    body = shorten(text, SECTION_TEXT_MAX)
    first_line = _DATE_TOKEN.sub(r"\1", body.split("\n", 1)[0])
    return {
        "text": first_line if slack_len(first_line) <= _FALLBACK_MAX else "Airlock review update",
        "blocks": [section(body), context(f"Review `{escape_mrkdwn(card.review_id)}`")],
    }


def _who(who: str) -> str:
    return escape_short(who, 200)


def _reason(reason: str | None, limit: int = 2000) -> str:
    if not reason or not reason.strip():
        return ""
    return f"\n*Reason:* {escape_short(reason, limit)}"


def render_slack_thread_reply(
    card: Card, decision: CardDecision | Decision | None = None
) -> dict[str, Any]:
    """The reply in the card's thread for one vote (``decision``), or, without one, for how the
    review ended (expired, cancelled). The caller adds ``channel`` and ``thread_ts``."""
    if decision is None:
        return _message(_ending_text(card), card)
    vote = decision if isinstance(decision, CardDecision) else card_decision(decision)
    return _message(_vote_text(card, vote), card)


def _vote_text(card: Card, vote: CardDecision) -> str:
    who = _who(vote.who)
    if vote.break_glass:
        text = (
            f"🚨 *Break-glass:* {who} approved their own request without an approver. "
            "Every approver is told; the decision is audited."
        )
    elif vote.outcome is Outcome.DENY:
        text = f"⛔ {who} *denied* this request."
    else:
        text = f"✅ {who} *approved* ({escape_mrkdwn(card.progress)})."
    text += _reason(vote.reason)
    if card.state is ReviewState.APPROVED and not card.pending:
        text += "\n" + _approved_effect(card)
    return f"{text}\n_{slack_time(vote.at)}_"


def _approved_effect(card: Card) -> str:
    if card.kind is ReviewKind.ACCESS and card.access is not None:
        return f"Access granted for {format_duration(card.access.duration)}."
    return "The statement runs now."


def _ending_text(card: Card) -> str:
    when = f" {slack_time(card.decided_at)}" if card.decided_at else ""
    if card.state is ReviewState.EXPIRED:
        return f"⌛ *Expired*{when}: nobody decided in time ({escape_mrkdwn(card.progress)})."
    if card.state is ReviewState.CANCELLED:
        return f"🚫 *Cancelled*{when}{_why_cancelled(card)}."
    if card.state is ReviewState.PENDING:
        return f"⏳ Still waiting: {escape_mrkdwn(card.progress)}."
    outcome = "Approved" if card.state is ReviewState.APPROVED else "Denied"
    return f"{STATE_ICON[card.state]} *{outcome}* by {_who(card.decided_by or 'someone')}{when}."


def _why_cancelled(card: Card) -> str:
    """``: the gateway holding it is gone; ...`` for a review the system cancelled, else who
    did: the requester."""
    if card.decision_reason and card.decision_reason.strip():
        return f": {escape_short(card.decision_reason, 500)}"
    return " by the requester"


def _channel(channel: str | None) -> str:
    if channel is None:
        return ""
    if _CHANNEL_ID.fullmatch(channel):
        return f" in <#{channel}>"
    return f" in {escape_short(channel, 200)}"


def _subject(card: Card) -> str:
    connection = f"*{escape_short(card.connection, 300)}*"
    if card.kind is ReviewKind.ACCESS and card.access is not None:
        role = f" as {escape_short(card.access.role, 200)}" if card.access.role else ""
        return (
            f"Your request for access to {connection}{role} for "
            f"{format_duration(card.access.duration)}"
        )
    return f"Your statement on {connection}"


def render_slack_dm(card: Card) -> dict[str, Any]:
    """The requester's direct message: where the review waits, or how it ended and why."""
    subject = _subject(card)
    when = f" {slack_time(card.decided_at)}" if card.decided_at else ""
    if card.pending:
        text = (
            f"⏳ {subject} is waiting for approval{_channel(card.channel)} "
            f"({escape_mrkdwn(card.progress)}); it expires {slack_time(card.expires_at)}."
        )
    elif card.state is ReviewState.APPROVED:
        by = "break-glass" if card.break_glass else _who(card.decided_by or "someone")
        text = f"{'🚨' if card.break_glass else '✅'} {subject} was approved by {by}{when}."
        if card.break_glass:
            text += " Every approver has been told."
        text += _reason(card.decision_reason, _DM_REASON_MAX)
        if card.access is not None and card.decided_at is not None:
            text += f"\nIt lasts until {slack_time(card.decided_at + card.access.duration)}."
    elif card.state is ReviewState.DENIED:
        text = f"⛔ {subject} was denied by {_who(card.decided_by or 'someone')}{when}."
        text += _reason(card.decision_reason, _DM_REASON_MAX)
    elif card.state is ReviewState.EXPIRED:
        text = f"⌛ {subject} expired{when}: nobody approved it in time."
    else:
        text = f"🚫 {subject} was cancelled{when}{_why_cancelled(card)}."
    if card.statement is not None:
        text += "\n" + statement_text(card, _DM_STATEMENT_MAX, label="")
    return _message(text, card)


def deny_reason_modal(review_id: str) -> dict[str, Any]:
    """The views.open ``view`` asking an approver why they deny; ``private_metadata`` carries the
    review id, the reason arrives at ``state.values[REASON_BLOCK_ID][REASON_ACTION_ID].value``."""
    if not 0 < len(review_id) <= MAX_REVIEW_ID_LENGTH:
        raise ValueError(f"a review id has 1 to {MAX_REVIEW_ID_LENGTH} characters")
    return {
        "type": "modal",
        "callback_id": DENY_CALLBACK_ID,
        "private_metadata": review_id,
        "title": plain("Deny request", MODAL_TITLE_MAX),
        "submit": plain("Deny", MODAL_TITLE_MAX),
        "close": plain("Cancel", MODAL_TITLE_MAX),
        "blocks": [
            section(
                f"Denying review `{escape_mrkdwn(review_id)}`. "
                "The requester sees your reason, and it is audited."
            ),
            {
                "type": "input",
                "block_id": REASON_BLOCK_ID,
                "label": plain("Reason", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_ACTION_ID,
                    "multiline": True,
                    "min_length": 1,
                    "max_length": REASON_MAX,
                    "placeholder": plain("e.g. not during business hours; use the replica", 150),
                },
            },
        ],
    }
