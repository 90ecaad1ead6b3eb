"""The approval card as a Teams Adaptive Card: ``render_teams(card, ...) -> card JSON``.

Adaptive Cards schema 1.4 (the highest Teams renders everywhere with Universal Actions):
buttons are ``Action.Execute`` (their click arrives as an ``adaptiveCard/action`` invoke with
``verb`` and ``data``). Approve carries only the review id; Deny opens an inline form whose
``Input.Text`` (``isRequired``, with an ``errorMessage``) must hold a reason before the client
sends it; the bot refuses an empty reason again (a client is not a check).

Layout (the same facts as the Slack card): a header with state and title; a FactSet
(requester and whole agent chain, connection, role / duration / reason for access, risk, rule,
impact, k-of-N progress, expiry); the statement in a monospace ``RichTextBlock``; the outcome
once final; the votes; the review id.

Text: user-provided strings go into ``TextRun``\\s of ``RichTextBlock``\\s, which Teams does not
read as Markdown, so a statement cannot form a link, a mention or a heading; the few that go
into a FactSet (which is Markdown) are backslash-escaped. Everything is cleaned of control and
bidirectional characters and fitted to a byte budget measured on the JSON as it is sent, so the
whole card stays under ``MAX_CARD_BYTES`` whatever the statement.

``refresh.userIds``: when the approvers' Teams ids are all known and there are at most
``REFRESH_MAX_USERS`` (Teams' limit is 60), everyone sees the card without buttons and the
approvers' clients fetch the version with buttons (``airlock.refresh``); otherwise every reader
sees the buttons and the gateway's policy refuses whoever may not decide.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from approvals.model import Outcome, ReviewKind
from approvals.states import ReviewState
from bot.cards.model import Card, CardDecision
from bot.cards.slack import STATE_ICON, STATE_LABEL
from bot.cards.text import clean, fit, format_duration, format_time

__all__ = [
    "ADAPTIVE_CARD",
    "APPROVE_VERB",
    "DENY_VERB",
    "MAX_CARD_BYTES",
    "REASON_INPUT",
    "REASON_MAX",
    "REFRESH_MAX_USERS",
    "REFRESH_VERB",
    "adaptive",
    "card_activity",
    "escape_md",
    "fit_bytes",
    "json_bytes",
    "render_teams",
    "run",
]

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
APPROVE_VERB = "airlock.approve"
DENY_VERB = "airlock.deny"
REFRESH_VERB = "airlock.refresh"
REASON_INPUT = "reason"
REASON_MAX = 3000
REFRESH_MAX_USERS = 60
MAX_CARD_BYTES = 24_000  # Teams refuses activities over ~28 KB; the envelope needs the rest

_FACT_BYTES = 600
_STATEMENT_BYTES = 9_000
_REASON_BYTES = 1_500
_VOTE_BYTES = 400
_VOTES_SHOWN = 8
_MD = re.compile(r"([\\`*_\[\]<>#~|!()])")


def json_bytes(value: Any) -> int:
    """What ``value`` costs in the JSON body as the connector client sends it."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def fit_bytes(raw: str, limit: int, render: Callable[[str, int], str]) -> str:
    """:func:`bot.cards.text.fit` measured in JSON-encoded UTF-8 bytes."""
    return fit(raw, limit, render, measure=json_bytes)


def escape_md(text: str) -> str:
    """``text`` cleaned, with the characters Teams' Markdown acts on backslash-escaped."""
    return _MD.sub(r"\\\1", clean(text))


def _short(text: str, limit: int) -> str:
    return fit_bytes(text, limit, lambda p, omitted: escape_md(p) + ("…" if omitted else ""))


def run(text: str, limit: int, **style: Any) -> dict[str, Any]:
    """A literal ``TextRun`` (never Markdown) of at most ``limit`` bytes."""
    body = fit_bytes(text, limit, lambda p, omitted: clean(p) + ("…" if omitted else ""))
    return {"type": "TextRun", "text": body, **style}


def _rich(*runs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(runs), **extra}


def adaptive(
    body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": body,
        **extra,
    }
    if actions:
        card["actions"] = actions
    return card


def card_activity(card: dict[str, Any], summary: str) -> dict[str, Any]:
    """A message activity carrying one Adaptive Card."""
    return {
        "type": "message",
        "summary": fit_bytes(summary, 300, lambda p, o: clean(p) + ("…" if o else "")),
        "attachments": [{"contentType": ADAPTIVE_CARD, "content": card}],
    }


def render_teams(
    card: Card,
    *,
    approvers: Sequence[str] = (),
    for_approver: bool = False,
    notice: str | None = None,
) -> dict[str, Any]:
    """The card; ``approvers``: their Teams ids (empty: not all known); ``for_approver``: the
    version with buttons a refresh returns; ``notice``: a line for the clicker alone."""
    targeted = card.pending and 0 < len(approvers) <= REFRESH_MAX_USERS
    body: list[dict[str, Any]] = []
    if notice:
        body.append(_rich(run(notice, 1000, color="attention", weight="bolder")))
    body += [_header(card), {"type": "FactSet", "facts": _facts(card)}]
    if card.statement is not None:
        body += _statement(card)
    if not card.pending:
        body.append(_outcome(card))
    if card.lists_votes:
        body.append(_votes(card))
    if targeted and not for_approver:
        body.append(
            _rich(
                run(
                    "Approvers see Approve and Deny on this card.", 200, isSubtle=True, size="small"
                )
            )
        )
    body.append(_rich(run(f"Review {card.review_id}", 400, isSubtle=True, size="small")))
    buttons = card.pending and (for_approver or not targeted)
    extra: dict[str, Any] = {}
    if targeted:
        refresh = {
            "type": "Action.Execute",
            "verb": REFRESH_VERB,
            "title": "Refresh",
            "data": {"review": card.review_id},
        }
        extra["refresh"] = {"action": refresh, "userIds": list(approvers)}
    return adaptive(body, _actions(card) if buttons else None, **extra)


def _header(card: Card) -> dict[str, Any]:
    icon = "🚨" if card.break_glass else STATE_ICON[card.state]
    text = f"{icon} {card.title} — {STATE_LABEL[card.state]}"
    return _rich(run(text, 400, weight="bolder", size="medium"))


def _fact(title: str, value: str | None) -> dict[str, str]:
    return {"title": title, "value": _short(value if value and value.strip() else "—", _FACT_BYTES)}


def _facts(card: Card) -> list[dict[str, str]]:
    facts = [_fact("Requester", card.requester_chain), _fact("Connection", card.connection)]
    if card.access is not None:
        facts += [
            _fact("Role", card.access.role or "default"),
            _fact("Duration", format_duration(card.access.duration)),
            _fact("Reason", card.access.reason),
        ]
    facts += [_fact("Risk", card.risk), _fact("Rule", card.rule)]
    if card.impact is not None:
        facts.append(_fact("Impact", card.impact))
    facts.append(_fact("Progress", card.progress))
    if card.pending:
        facts.append(_fact("Expires", format_time(card.expires_at)))
    else:
        facts.append(_fact("Requested", format_time(card.created_at)))
    return facts


def _statement(card: Card) -> list[dict[str, Any]]:
    raw, cut = card.statement or "", [0]

    def render(prefix: str, omitted: int) -> str:
        cut[0] = omitted
        return clean(prefix) or " "

    text = fit_bytes(raw, _STATEMENT_BYTES, render)
    blocks = [
        _rich(run("Statement", 100, weight="bolder")),
        _rich({"type": "TextRun", "text": text, "fontType": "monospace"}),
    ]
    omitted = cut[0]
    if omitted:
        note = (
            f"… truncated, {omitted:,} more characters — full text: "
            f"airlock reviews show {card.review_id}"
        )
        blocks.append(_rich(run(note, 500, isSubtle=True, italic=True)))
    return blocks


def _outcome(card: Card) -> dict[str, Any]:
    when = f" · {format_time(card.decided_at)}" if card.decided_at else ""
    who = card.decided_by or "someone"
    reason = card.decision_reason if card.decision_reason and card.decision_reason.strip() else None
    if card.break_glass and card.state is ReviewState.APPROVED:
        head = (
            f"🚨 Break-glass: {who} approved their own request{when}. "
            "Every approver is told; the decision is audited."
        )
    elif card.state is ReviewState.APPROVED:
        head = f"✅ Approved by {who}{when}"
    elif card.state is ReviewState.DENIED:
        head = f"⛔ Denied by {who}{when}"
    elif card.state is ReviewState.EXPIRED:
        head, reason = f"⌛ Expired{when}: nobody decided in time ({card.progress})", None
    elif reason:
        head, reason = f"🚫 Cancelled{when}: {reason}", None
    else:
        head = f"🚫 Cancelled by the requester{when}"
    runs = [run(head, 1200, weight="bolder")]
    if reason:
        runs += [run("\nReason: ", 20, weight="bolder"), run(reason, _REASON_BYTES)]
    return _rich(*runs, wrap=True)


def vote_line(decision: CardDecision) -> str:
    """``✅ bob approved · 2024-05-01 12:15 UTC — reason`` (plain text, the reason cut)."""
    verb = "approved" if decision.outcome is Outcome.APPROVE else "denied"
    icon = "✅" if decision.outcome is Outcome.APPROVE else "⛔"
    if decision.break_glass:
        icon, verb = "🚨", "approved with break-glass"
    line = f"{icon} {decision.who} {verb} · {format_time(decision.at)}"
    if decision.reason and decision.reason.strip():
        line += f" — {decision.reason}"
    return line


def _votes(card: Card) -> dict[str, Any]:
    runs = [run("Votes", 20, weight="bolder")]
    for decision in card.decisions[:_VOTES_SHOWN]:
        runs.append(run("\n• " + vote_line(decision), _VOTE_BYTES))
    rest = len(card.decisions) - _VOTES_SHOWN
    if rest > 0:
        note = f"\n… and {rest:,} more — airlock reviews show {card.review_id} lists them all"
        runs.append(run(note, 500, isSubtle=True))
    return _rich(*runs)


def _actions(card: Card) -> list[dict[str, Any]]:
    data = {"review": card.review_id}
    noun = "statement" if card.kind is ReviewKind.STATEMENT else "access request"
    reason = {
        "type": "Input.Text",
        "id": REASON_INPUT,
        "label": f"Why deny this {noun}? The requester sees your reason.",
        "isMultiline": True,
        "isRequired": True,
        "errorMessage": "Say why: the requester sees it.",
        "maxLength": REASON_MAX,
        "placeholder": "e.g. not during business hours; use the replica",
    }
    deny = {
        "type": "Action.Execute",
        "verb": DENY_VERB,
        "title": "Deny",
        "style": "destructive",
        "data": data,
        "associatedInputs": "auto",
    }
    return [
        {
            "type": "Action.Execute",
            "verb": APPROVE_VERB,
            "title": "Approve",
            "style": "positive",
            "data": data,
        },
        {"type": "Action.ShowCard", "title": "Deny…", "card": adaptive([reason], [deny])},
    ]
