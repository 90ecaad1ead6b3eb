"""The approval card as an HTML fragment for the console chat page: ``render_html(card) -> str``.

The same information as the Slack card. Every user-provided string is cleaned and HTML-escaped
(a statement may well contain ``<script>``); the statement is shown whole. While the review is
pending the card carries one ``<form>`` with a reason ``<textarea>`` and Approve / Deny buttons
(``data-review-id`` / ``data-action``); a final card has no form. Pure string building.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from approvals.model import Outcome
from approvals.states import ReviewState
from bot.cards.model import Card, CardDecision
from bot.cards.slack import STATE_ICON, STATE_LABEL
from bot.cards.text import clean, format_duration, format_time

__all__ = ["DEFAULT_FORM_ACTION", "REASON_MAXLENGTH", "render_html"]

DEFAULT_FORM_ACTION = "/chat/decisions"
REASON_MAXLENGTH = 3000


def _text(value: str) -> str:
    return escape(clean(value), quote=True)


def _time(when: datetime) -> str:
    return f'<time datetime="{when.isoformat()}">{format_time(when)}</time>'


def render_html(
    card: Card, *, form_action: str = DEFAULT_FORM_ACTION, csrf_token: str | None = None
) -> str:
    """The card as an ``<article>``. Decisions post to ``form_action`` as ``review_id``,
    ``action`` (approve | deny), ``reason`` and, when given, ``csrf_token``."""
    state = card.state.value
    parts = [
        f'<article class="airlock-card airlock-card--{state}" '
        f'data-review-id="{_text(card.review_id)}" data-state="{state}">',
        _header(card),
        _fields(card),
    ]
    if card.statement is not None:
        parts.append(
            f'<pre class="airlock-card__statement"><code>{_text(card.statement)}</code></pre>'
        )
    if not card.pending:
        parts.append(f'<p class="airlock-card__outcome">{_outcome(card)}</p>')
    if card.lists_votes:
        parts.append(_votes(card.decisions))
    parts.append(_meta(card))
    if card.pending:
        parts.append(_form(card, form_action, csrf_token))
    parts.append("</article>")
    return "\n".join(parts) + "\n"


def _header(card: Card) -> str:
    icon = "🚨" if card.break_glass else STATE_ICON[card.state]
    return (
        f'<header class="airlock-card__header"><span class="airlock-card__icon">{icon}</span> '
        f"<h3>{_text(card.title)}</h3> "
        f'<span class="airlock-card__state">{STATE_LABEL[card.state]}</span></header>'
    )


def _fields(card: Card) -> str:
    rows = [("Requester", card.requester_chain), ("Connection", card.connection)]
    if card.access is not None:
        rows += [
            ("Role", card.access.role or "default"),
            ("Duration", format_duration(card.access.duration)),
            ("Reason", card.access.reason),
        ]
    rows += [("Risk", card.risk or "—"), ("Rule", card.rule or "—")]
    if card.impact is not None:
        rows.append(("Impact", card.impact))
    items = "".join(f"<dt>{label}</dt><dd>{_text(value)}</dd>" for label, value in rows)
    return f'<dl class="airlock-card__fields">{items}</dl>'


def _reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        return ""
    return f' <span class="airlock-card__reason">Reason: {_text(reason)}</span>'


def _outcome(card: Card) -> str:
    when = f" · {_time(card.decided_at)}" if card.decided_at else ""
    who = f"<strong>{_text(card.decided_by or 'someone')}</strong>"
    if card.break_glass and card.state is ReviewState.APPROVED:
        return (
            f"🚨 Break-glass: {who} approved their own request{when}. "
            "Every approver is told; the decision is audited." + _reason(card.decision_reason)
        )
    if card.state is ReviewState.APPROVED:
        return f"✅ Approved by {who}{when}." + _reason(card.decision_reason)
    if card.state is ReviewState.DENIED:
        return f"⛔ Denied by {who}{when}." + _reason(card.decision_reason)
    if card.state is ReviewState.EXPIRED:
        return f"⌛ Expired{when}: nobody decided in time ({card.progress})."
    if card.decision_reason and card.decision_reason.strip():
        return f"🚫 Cancelled{when}: {_text(card.decision_reason)}."
    return f"🚫 Cancelled by the requester{when}."


def _vote(decision: CardDecision) -> str:
    approve = decision.outcome is Outcome.APPROVE
    icon, verb = ("✅", "approved") if approve else ("⛔", "denied")
    if decision.break_glass:
        icon, verb = "🚨", "approved with break-glass"
    return (
        f'<li data-outcome="{decision.outcome.value}">{icon} {_text(decision.who)} {verb} · '
        f"{_time(decision.at)}{_reason(decision.reason)}</li>"
    )


def _votes(decisions: tuple[CardDecision, ...]) -> str:
    items = "".join(_vote(decision) for decision in decisions)
    return f'<ol class="airlock-card__votes">{items}</ol>'


def _meta(card: Card) -> str:
    when = (
        f"Expires {_time(card.expires_at)}"
        if card.pending
        else f"Requested {_time(card.created_at)}"
    )
    return (
        f'<p class="airlock-card__meta">Review <code>{_text(card.review_id)}</code> · '
        f'<span class="airlock-card__progress">{card.progress}</span> · {when}</p>'
    )


def _form(card: Card, form_action: str, csrf_token: str | None) -> str:
    review_id = _text(card.review_id)
    csrf = (
        f'<input type="hidden" name="csrf_token" value="{_text(csrf_token)}">'
        if csrf_token is not None
        else ""
    )
    buttons = "".join(
        f'<button type="submit" name="action" value="{action}" class="airlock-card__{action}" '
        f'data-review-id="{review_id}" data-action="{action}">{label}</button>'
        for action, label in (("approve", "Approve"), ("deny", "Deny"))
    )
    return (
        f'<form class="airlock-card__actions" method="post" action="{_text(form_action)}">'
        f'<input type="hidden" name="review_id" value="{review_id}">{csrf}'
        "<label>Reason (required to deny) "
        f'<textarea name="reason" maxlength="{REASON_MAXLENGTH}" rows="2"></textarea></label>'
        f"{buttons}</form>"
    )
