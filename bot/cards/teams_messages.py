"""Teams' other messages (pure): thread replies, the requester's DM, the scheduler's reminders
and notices.

Text messages are sent with ``textFormat: "plain"``, so nothing a user typed is read as Markdown
or a mention; every text is cleaned and fitted to a byte budget well under Teams' limit. The
expiry notice's Extend button is an Adaptive Card ``Action.Execute`` that carries only an id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from approvals import Decision, Delegation
from approvals.model import Outcome, ReviewKind
from approvals.states import ReviewState
from bot.cards.model import Card, CardDecision, card_decision
from bot.cards.teams import adaptive, card_activity, fit_bytes, run
from bot.cards.text import clean, format_duration, format_time

__all__ = [
    "EXTEND_VERB",
    "escalation_note",
    "expiring_card",
    "idle_owner_notice",
    "reminder",
    "requester_dm",
    "revoked_dm",
    "text_activity",
    "thread_reply",
]

EXTEND_VERB = "airlock.extend"
_TEXT_BYTES = 6_000


def text_activity(text: str) -> dict[str, Any]:
    """A plain-text message (never Markdown), cut to the budget."""
    body = fit_bytes(text, _TEXT_BYTES, lambda p, omitted: clean(p) + ("…" if omitted else ""))
    return {"type": "message", "textFormat": "plain", "text": body}


def _review(card: Card) -> str:
    return f"\n(review {card.review_id})"


def _reason(reason: str | None) -> str:
    return f"\nReason: {reason}" if reason and reason.strip() else ""


def thread_reply(card: Card, decision: CardDecision | Decision | None) -> dict[str, Any]:
    """The reply in the card's thread for one vote, or (None) for how the review ended."""
    if decision is None:
        return text_activity(_ending(card) + _review(card))
    vote = decision if isinstance(decision, CardDecision) else card_decision(decision)
    if vote.break_glass:
        text = (
            f"🚨 Break-glass: {vote.who} approved their own request without an approver. "
            "Every approver is told; the decision is audited."
        )
    elif vote.outcome is Outcome.DENY:
        text = f"⛔ {vote.who} denied this request."
    else:
        text = f"✅ {vote.who} approved ({card.progress})."
    text += _reason(vote.reason)
    if card.state is ReviewState.APPROVED:
        text += "\n" + _effect(card)
    return text_activity(f"{text}\n{format_time(vote.at)}{_review(card)}")


def _effect(card: Card) -> str:
    if card.kind is ReviewKind.ACCESS and card.access is not None:
        return f"Access granted for {format_duration(card.access.duration)}."
    return "The statement runs now."


def _ending(card: Card) -> str:
    when = f" {format_time(card.decided_at)}" if card.decided_at else ""
    if card.state is ReviewState.EXPIRED:
        return f"⌛ Expired{when}: nobody decided in time ({card.progress})."
    if card.state is ReviewState.CANCELLED:
        why = f": {card.decision_reason}" if card.decision_reason else " by the requester"
        return f"🚫 Cancelled{when}{why}."
    if card.state is ReviewState.PENDING:
        return f"⏳ Still waiting: {card.progress}."
    outcome = "✅ Approved" if card.state is ReviewState.APPROVED else "⛔ Denied"
    return f"{outcome} by {card.decided_by or 'someone'}{when}."


def _subject(card: Card) -> str:
    if card.kind is ReviewKind.ACCESS and card.access is not None:
        role = f" as {card.access.role}" if card.access.role else ""
        return (
            f"Your request for access to {card.connection}{role} for "
            f"{format_duration(card.access.duration)}"
        )
    return f"Your statement on {card.connection}"


def requester_dm(card: Card) -> dict[str, Any]:
    """The requester's direct message once the review ended (or where it waits)."""
    subject, when = _subject(card), f" {format_time(card.decided_at)}" if card.decided_at else ""
    if card.pending:
        text = (
            f"⏳ {subject} is waiting for approval ({card.progress}); it expires "
            f"{format_time(card.expires_at)}."
        )
    elif card.state is ReviewState.APPROVED:
        text = f"✅ {subject} was approved by {card.decided_by or 'someone'}{when}."
        text += _reason(card.decision_reason)
        if card.access is not None and card.decided_at is not None:
            text += f"\nIt lasts until {format_time(card.decided_at + card.access.duration)}."
    elif card.state is ReviewState.DENIED:
        text = f"⛔ {subject} was denied by {card.decided_by or 'someone'}{when}."
        text += _reason(card.decision_reason)
    elif card.state is ReviewState.EXPIRED:
        text = f"⌛ {subject} expired{when}: nobody approved it in time."
    else:
        text = f"🚫 {subject} was cancelled{when}."
    if card.statement is not None:
        statement = fit_bytes(card.statement, 1000, lambda p, o: p + ("…" if o else ""))
        text += f"\n{statement}"
    return text_activity(text + _review(card))


def revoked_dm(delegation: Delegation) -> dict[str, Any]:
    reason = f": {delegation.revoke_reason}" if delegation.revoke_reason else ""
    return text_activity(
        f"🔒 Your access to {delegation.connection} was revoked{reason}. (grant {delegation.id})"
    )


def reminder(card: Card, step: int, of: int, now: datetime) -> dict[str, Any]:
    waited = format_duration(now - card.created_at)
    return text_activity(
        f"⏰ Reminder {step} of {of}: {card.requester_chain} has waited {waited} for a decision "
        f"on {card.connection} ({card.progress}). It expires {format_time(card.expires_at)}."
        + _review(card)
    )


def escalation_note(card: Card, where: list[str]) -> dict[str, Any]:
    targets = ", ".join(where[:10]) or "nobody reachable"
    return text_activity(
        f"📣 Escalated after the last reminder: the card was sent to {targets}." + _review(card)
    )


def _grant(delegation: Delegation) -> str:
    role = f" as {delegation.role}" if delegation.role else ""
    return f"{delegation.connection}{role}"


def idle_owner_notice(delegation: Delegation) -> dict[str, Any]:
    return text_activity(
        f"🔒 {delegation.subject}'s access to {_grant(delegation)} was revoked: "
        f"{delegation.revoke_reason or 'unused'}. Granted by {delegation.granted_by} "
        f"{format_time(delegation.created_at)}. (grant {delegation.id})"
    )


def expiring_card(delegation: Delegation, extension: timedelta) -> dict[str, Any]:
    """The holder's "ends soon" card with one Extend button (a new request approvers decide)."""
    text = (
        f"⏳ Your access to {_grant(delegation)} ends {format_time(delegation.expires_at)}. "
        "Need it longer? Ask to extend it: the approvers decide as for any request."
    )
    extend = {
        "type": "Action.Execute",
        "verb": EXTEND_VERB,
        "style": "positive",
        "title": f"Request {format_duration(extension)} more",
        "data": {"grant": delegation.id},
    }
    body = [
        {"type": "RichTextBlock", "inlines": [run(text, 1500)]},
        {"type": "RichTextBlock", "inlines": [run(f"Grant {delegation.id}", 400, isSubtle=True)]},
    ]
    return card_activity(adaptive(body, [extend]), text)
