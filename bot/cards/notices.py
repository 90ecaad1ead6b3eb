"""The scheduler's messages in Slack (pure): a reminder in a card's thread, the note that a review
was escalated, the holder's "your grant ends soon" message with its Extend button, and the
owners' notice that an unused grant was revoked. Same rules as the cards: user text escaped,
every text within its Slack limit, buttons carry only an id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from approvals import Delegation
from bot.cards.blocks import BUTTON_TEXT_MAX, context, plain, section
from bot.cards.model import Card
from bot.cards.text import escape_mrkdwn, escape_short, format_duration, shorten, slack_time

__all__ = [
    "EXTEND_ACTION_ID",
    "render_escalation_note",
    "render_expiring_dm",
    "render_idle_owner_notice",
    "render_reminder",
]

EXTEND_ACTION_ID = "airlock_extend"


def _message(text: str, footer: str, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    first = text.split("\n", 1)[0]
    return {
        "text": shorten(first, 1000),
        "blocks": [section(shorten(text, 3000)), *(extra or []), context(footer)],
    }


def _review(card: Card) -> str:
    return f"Review `{escape_mrkdwn(card.review_id)}`"


def render_reminder(card: Card, step: int, of: int, now: datetime) -> dict[str, Any]:
    """Reminder ``step`` of ``of`` in the card's thread (the caller adds ``thread_ts``)."""
    waited = format_duration(now - card.created_at)
    text = (
        f"⏰ *Reminder {step} of {of}:* {escape_short(card.requester_chain, 300)} has waited "
        f"{waited} for a decision on *{escape_short(card.connection, 200)}* "
        f"({escape_mrkdwn(card.progress)}). It expires {slack_time(card.expires_at)}."
    )
    return _message(text, _review(card))


def render_escalation_note(card: Card, where: list[str]) -> dict[str, Any]:
    """The thread note saying where an unanswered review was escalated."""
    targets = ", ".join(escape_short(w, 200) for w in where[:10]) or "nobody reachable"
    text = f"📣 *Escalated* after the last reminder: the card was sent to {targets}."
    return _message(text, _review(card))


def _grant_line(delegation: Delegation) -> str:
    role = f" as `{escape_short(delegation.role, 60)}`" if delegation.role else ""
    return f"*{escape_short(delegation.connection, 200)}*{role}"


def render_expiring_dm(delegation: Delegation, extend_for: str) -> dict[str, Any]:
    """The holder's notice that their grant ends soon, with a one-click request to extend it
    (for ``extend_for``, e.g. ``8h``: a new access request that approvers decide as usual)."""
    text = (
        f"⏳ Your access to {_grant_line(delegation)} ends "
        f"{slack_time(delegation.expires_at)}. Need it longer? Ask to extend it: the "
        "approvers decide as for any request."
    )
    button = {
        "type": "button",
        "action_id": EXTEND_ACTION_ID,
        "text": plain(f"Request {extend_for} more", BUTTON_TEXT_MAX),
        "style": "primary",
        "value": delegation.id,
    }
    actions = {"type": "actions", "block_id": "airlock_extend", "elements": [button]}
    return _message(text, f"Grant `{escape_mrkdwn(delegation.id)}`", [actions])


def render_idle_owner_notice(delegation: Delegation) -> dict[str, Any]:
    """The owners' notice that a grant on their connection was revoked for not being used."""
    reason = escape_short(delegation.revoke_reason or "unused", 300)
    text = (
        f"🔒 {escape_short(delegation.subject, 200)}'s access to {_grant_line(delegation)} was "
        f"revoked: {reason}. Granted by {escape_short(delegation.granted_by, 200)} "
        f"{slack_time(delegation.created_at)}."
    )
    return _message(text, f"Grant `{escape_mrkdwn(delegation.id)}`")
