"""Chat cards: one card model built from a review, and pure renderers for Slack Block Kit and the
console chat's HTML. No I/O; imports only :mod:`approvals` and the standard library.
"""

from bot.cards.html import DEFAULT_FORM_ACTION, render_html
from bot.cards.model import (
    MAX_REVIEW_ID_LENGTH,
    AccessDetails,
    Card,
    CardDecision,
    card_decision,
    card_from_review,
    impact_text,
)
from bot.cards.slack import ACTIONS_BLOCK_ID, APPROVE_ACTION_ID, DENY_ACTION_ID, render_slack
from bot.cards.slack_messages import (
    DENY_CALLBACK_ID,
    REASON_ACTION_ID,
    REASON_BLOCK_ID,
    REASON_MAX,
    deny_reason_modal,
    render_slack_dm,
    render_slack_thread_reply,
)

__all__ = [
    "ACTIONS_BLOCK_ID",
    "APPROVE_ACTION_ID",
    "DEFAULT_FORM_ACTION",
    "DENY_ACTION_ID",
    "DENY_CALLBACK_ID",
    "MAX_REVIEW_ID_LENGTH",
    "REASON_ACTION_ID",
    "REASON_BLOCK_ID",
    "REASON_MAX",
    "AccessDetails",
    "Card",
    "CardDecision",
    "card_decision",
    "card_from_review",
    "deny_reason_modal",
    "impact_text",
    "render_html",
    "render_slack",
    "render_slack_dm",
    "render_slack_thread_reply",
]
