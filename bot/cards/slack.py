"""The approval card in Slack Block Kit: ``render_slack(card) -> {"text", "blocks"}``.

Layout: a header; a fields section (requester and chain, connection, role / duration / reason
for access, risk, rule); the statement as a code block; the outcome once final; the votes; a
context line (review id, "k of N approvals", expiry); and, only while the review is pending, an
actions block with Approve (primary) and Deny (danger), each behind a confirm dialog, whose value
is the review id and nothing else.

Every user-provided string is cleaned and mrkdwn-escaped (&, <, >), so a statement cannot mention
anyone, link anywhere or close its code block; every text is fitted to its Slack limit, and a cut
statement says how much is missing and how to read it whole.
"""

from __future__ import annotations

from typing import Any

from approvals.model import Outcome, ReviewKind
from approvals.states import ReviewState
from bot.cards.blocks import (
    BUTTON_TEXT_MAX,
    CONFIRM_BUTTON_MAX,
    CONFIRM_TEXT_MAX,
    CONFIRM_TITLE_MAX,
    FIELD_MAX,
    HEADER_MAX,
    SECTION_TEXT_MAX,
    Block,
    context,
    header,
    plain,
    section,
)
from bot.cards.model import Card, CardDecision
from bot.cards.text import (
    clean,
    escape_mrkdwn,
    escape_short,
    fit,
    format_duration,
    shorten,
    slack_len,
    slack_time,
)

__all__ = [
    "ACTIONS_BLOCK_ID",
    "APPROVE_ACTION_ID",
    "DENY_ACTION_ID",
    "STATE_ICON",
    "STATE_LABEL",
    "code_block",
    "decision_line",
    "render_slack",
    "statement_text",
]

APPROVE_ACTION_ID = "airlock_approve"
DENY_ACTION_ID = "airlock_deny"
ACTIONS_BLOCK_ID = "airlock_actions"

STATE_ICON = {
    ReviewState.PENDING: "⏳",
    ReviewState.APPROVED: "✅",
    ReviewState.DENIED: "⛔",
    ReviewState.EXPIRED: "⌛",
    ReviewState.CANCELLED: "🚫",
}
STATE_LABEL = {
    ReviewState.PENDING: "awaiting approval",
    ReviewState.APPROVED: "approved",
    ReviewState.DENIED: "denied",
    ReviewState.EXPIRED: "expired",
    ReviewState.CANCELLED: "cancelled",
}
_FALLBACK_MAX = 1000
_WHO_MAX = 200
_DECISION_REASON_MAX = 300


def render_slack(card: Card) -> dict[str, Any]:
    """The card as a chat.postMessage / chat.update payload: ``{"text": ..., "blocks": [...]}``."""
    blocks: list[Block] = [header(_header_text(card)), section(fields=_fields(card))]
    if card.statement is not None:
        blocks.append(section(statement_text(card, SECTION_TEXT_MAX)))
    if not card.pending:
        blocks.append(section(_outcome_text(card)))
    if card.lists_votes:
        blocks.append(section(_votes_text(card)))
    blocks.append(context(*_context_items(card)))
    if card.pending:
        blocks.append(_actions(card))
    return {"text": _fallback(card), "blocks": blocks}


def _header_text(card: Card) -> str:
    icon = "🚨" if card.break_glass else STATE_ICON[card.state]
    suffix = f" — {STATE_LABEL[card.state]}"
    budget = HEADER_MAX - slack_len(f"{icon} ") - slack_len(suffix)
    return f"{icon} {shorten(clean(card.title), budget)}{suffix}"


def _field(label: str, value: str | None) -> str:
    raw = value if value and value.strip() else "—"
    return fit(
        raw,
        FIELD_MAX,
        lambda prefix, omitted: f"*{label}*\n{escape_mrkdwn(prefix)}{'…' if omitted else ''}",
    )


def _fields(card: Card) -> list[str]:
    fields = [_field("Requester", card.requester_chain), _field("Connection", card.connection)]
    if card.access is not None:
        fields += [
            _field("Role", card.access.role or "default"),
            _field("Duration", format_duration(card.access.duration)),
            _field("Reason", card.access.reason),
        ]
    fields += [_field("Risk", card.risk), _field("Rule", card.rule)]
    if card.impact is not None:
        fields.append(_field("Impact", card.impact))
    return fields


def code_block(escaped: str) -> str:
    """Wrap already-escaped text in a code block that its own backticks cannot close."""
    if escaped.startswith("`"):
        escaped = "\u200b" + escaped
    if escaped.endswith("`"):
        escaped += "\u200b"
    return f"```{escaped or ' '}```"


def statement_text(card: Card, limit: int, label: str = "*Statement*\n") -> str:
    """The statement as a code block within ``limit``; cut, it ends with a visible note saying
    how many characters are missing and how to read the whole text."""
    review_id = escape_mrkdwn(card.review_id)

    def render(prefix: str, omitted: int) -> str:
        text = label + code_block(escape_mrkdwn(prefix, code=True))
        if omitted:
            text += (
                f"\n_… truncated, {omitted:,} more characters — full text: "
                f"`airlock reviews show {review_id}`_"
            )
        return text

    return fit(card.statement or "", limit, render)


def _who(who: str | None) -> str:
    return escape_short(who or "someone", _WHO_MAX)


def _reason_line(reason: str | None, head: str) -> str:
    if not reason or not reason.strip():
        return head
    return fit(
        reason,
        SECTION_TEXT_MAX,
        lambda prefix, omitted: (
            f"{head}\n*Reason:* {escape_mrkdwn(prefix)}{'…' if omitted else ''}"
        ),
    )


def _outcome_text(card: Card) -> str:
    when = f" · {slack_time(card.decided_at)}" if card.decided_at else ""
    who = _who(card.decided_by)
    if card.break_glass and card.state is ReviewState.APPROVED:
        head = (
            f"🚨 *Break-glass:* {who} approved their own request{when}. "
            "Every approver is told; the decision is audited."
        )
    elif card.state is ReviewState.APPROVED:
        head = f"✅ *Approved* by {who}{when}"
    elif card.state is ReviewState.DENIED:
        head = f"⛔ *Denied* by {who}{when}"
    elif card.state is ReviewState.EXPIRED:
        return f"⌛ *Expired*{when}: nobody decided in time ({card.progress})"
    elif card.decision_reason and card.decision_reason.strip():
        return f"🚫 *Cancelled*{when}: {escape_short(card.decision_reason, 500)}"
    else:
        return f"🚫 *Cancelled* by the requester{when}"
    return _reason_line(card.decision_reason, head)


def decision_line(decision: CardDecision) -> str:
    """``✅ bob approved · <date> — reason`` (escaped, the reason shortened)."""
    verb = "approved" if decision.outcome is Outcome.APPROVE else "denied"
    icon = "✅" if decision.outcome is Outcome.APPROVE else "⛔"
    if decision.break_glass:
        icon, verb = "🚨", "approved with break-glass"
    line = f"{icon} {_who(decision.who)} {verb} · {slack_time(decision.at)}"
    if decision.reason and decision.reason.strip():
        line += f" — {escape_short(decision.reason, _DECISION_REASON_MAX)}"
    return line


def _votes_text(card: Card) -> str:
    review_id = escape_mrkdwn(card.review_id)

    def more(rest: int) -> str:
        return f"_… and {rest:,} more — `airlock reviews show {review_id}` lists them all_"

    lines = ["*Votes*"]
    used = slack_len(lines[0])
    room = SECTION_TEXT_MAX - 1 - slack_len(more(len(card.decisions)))
    for index, decision in enumerate(card.decisions):
        line = "• " + decision_line(decision)
        if used + 1 + slack_len(line) > room:
            lines.append(more(len(card.decisions) - index))
            break
        lines.append(line)
        used += 1 + slack_len(line)
    return "\n".join(lines)


def _context_items(card: Card) -> list[str]:
    items = [f"Review `{escape_mrkdwn(card.review_id)}`", f"*{card.progress}*"]
    if card.pending:
        items.append(f"Expires {slack_time(card.expires_at)}")
    else:
        items.append(f"Requested {slack_time(card.created_at)}")
    return items


def _confirm(title: str, text: str, confirm: str, style: str) -> dict[str, Any]:
    return {
        "title": plain(title, CONFIRM_TITLE_MAX),
        "text": plain(text, CONFIRM_TEXT_MAX),
        "confirm": plain(confirm, CONFIRM_BUTTON_MAX),
        "deny": plain("Cancel", CONFIRM_BUTTON_MAX),
        "style": style,
    }


def _approve_question(card: Card) -> str:
    if card.access is not None:
        role = card.access.role or "access"
        return (
            f"{card.requester_chain} gets {role} on {card.connection} for "
            f"{format_duration(card.access.duration)}."
        )
    return f"{card.requester_chain} runs on {card.connection}: {card.statement or ''}"


def _button(card: Card, action_id: str, text: str, style: str, confirm: dict[str, Any]) -> Block:
    return {
        "type": "button",
        "action_id": action_id,
        "text": plain(text, BUTTON_TEXT_MAX),
        "style": style,
        "value": card.review_id,
        "confirm": confirm,
    }


def _actions(card: Card) -> Block:
    noun = "statement" if card.kind is ReviewKind.STATEMENT else "access request"
    approve = _confirm(f"Approve this {noun}?", _approve_question(card), "Approve", "primary")
    deny = _confirm(
        f"Deny this {noun}?",
        f"You will be asked for a reason; {card.requester_chain} sees it.",
        "Deny",
        "danger",
    )
    return {
        "type": "actions",
        "block_id": ACTIONS_BLOCK_ID,
        "elements": [
            _button(card, APPROVE_ACTION_ID, "Approve", "primary", approve),
            _button(card, DENY_ACTION_ID, "Deny", "danger", deny),
        ],
    }


def _fallback(card: Card) -> str:
    """The notification text: what happened, to what, for whom."""
    icon = "🚨" if card.break_glass else STATE_ICON[card.state]
    lead = "Approval needed" if card.pending else STATE_LABEL[card.state].capitalize()
    raw = f"{card.title} for {card.requester_chain} (review {card.review_id})"
    return fit(
        raw,
        _FALLBACK_MAX,
        lambda prefix, omitted: f"{icon} {lead}: {escape_mrkdwn(prefix)}{'…' if omitted else ''}",
    )
