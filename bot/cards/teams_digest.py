"""The weekly access-review digest as Teams Adaptive Cards: ``render_teams_digest(card) ->
[activity, ...]`` (pure), one card per page.

Each line is a ``RichTextBlock`` (holder, role, who granted it, since, expiry, last use, uses,
the actor chains; ⚠️ when unused) followed by Keep / Revoke (``Action.Execute`` carrying only
the digest id and the line's key) or what became of it; the first page has the summary and
Keep all / Revoke all unused. Pages hold at most ``LINES_PER_PAGE`` lines and every text is
byte-budgeted, so a page stays under Teams' size limit; the split does not depend on the lines'
status, so a redraw keeps every line on the page it was posted on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from approvals.access_review import EntryKind, LineState, LineStatus, human_span
from bot.cards.digest import DigestCard, DigestLine
from bot.cards.teams import adaptive, card_activity, run
from bot.cards.text import format_time

__all__ = [
    "KEEP_ALL_VERB",
    "KEEP_VERB",
    "LINES_PER_PAGE",
    "REVOKE_UNUSED_VERB",
    "REVOKE_VERB",
    "render_teams_digest",
]

KEEP_VERB = "airlock.digest.keep"
REVOKE_VERB = "airlock.digest.revoke"
KEEP_ALL_VERB = "airlock.digest.keep_all"
REVOKE_UNUSED_VERB = "airlock.digest.revoke_unused"
LINES_PER_PAGE = 10
_LINE_BYTES = 900


def render_teams_digest(card: DigestCard) -> list[dict[str, Any]]:
    """The digest as message activities, one per page."""
    chunks = [
        card.lines[i : i + LINES_PER_PAGE] for i in range(0, len(card.lines), LINES_PER_PAGE)
    ] or [()]
    pages = []
    for number, lines in enumerate(chunks, start=1):
        suffix = f" (page {number} of {len(chunks)})" if len(chunks) > 1 else ""
        title = f"🔎 Access review {card.period} — {card.audience}{suffix}"
        body: list[dict[str, Any]] = [_text(title, 400, weight="bolder", size="medium")]
        actions: list[dict[str, Any]] = []
        if number == 1:
            body.append(_text(_summary(card), 1000))
            actions = _bulk(card)
        for line in lines:
            body += _line(card, line)
        footer = f"Digest {card.digest_id} · page {number} of {len(chunks)} · built " + (
            format_time(card.created_at)
        )
        body.append(_text(footer, 500, isSubtle=True, size="small"))
        summary = f"Access review {card.period}: {card.open_lines} lines to decide{suffix}"
        pages.append(card_activity(adaptive(body, actions or None), summary))
    return pages


def _text(text: str, limit: int, **style: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": [run(text, limit, **style)]}


def _data(card: DigestCard, key: str | None = None) -> dict[str, Any]:
    return {"d": card.digest_id, "k": key}


def _summary(card: DigestCard) -> str:
    connections = len({line.entry.connection for line in card.lines})
    unused = sum(line.unused for line in card.lines)
    text = (
        f"{len(card.lines)} grants and standing groups on {connections} connections; {unused} "
        f"not used for {human_span(card.unused_after)} (⚠️). Keep what is still needed, revoke "
        "the rest: every decision is recorded."
    )
    return text + ("\n✅ Every line is decided. Thank you." if card.open_lines == 0 else "")


def _bulk(card: DigestCard) -> list[dict[str, Any]]:
    if card.open_lines == 0:
        return []
    actions = [_execute(KEEP_ALL_VERB, f"Keep all ({card.open_lines})", "positive", _data(card))]
    if card.open_unused:
        title = f"Revoke all unused ({card.open_unused})"
        actions.append(_execute(REVOKE_UNUSED_VERB, title, "destructive", _data(card)))
    return actions


def _execute(verb: str, title: str, style: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Action.Execute", "verb": verb, "title": title, "style": style, "data": data}


def _when(at: datetime | None, never: str = "never") -> str:
    return format_time(at) if at is not None else never


def _line(card: DigestCard, line: DigestLine) -> list[dict[str, Any]]:
    entry = line.entry
    flag = "⚠️ " if line.unused else ""
    unused = " — unused" if line.unused else ""
    if entry.kind is EntryKind.GRANT:
        role = f" as {entry.role}" if entry.role else ""
        head = f"{flag}{entry.holder}{role} on {entry.connection}{unused}"
        detail = (
            f"Granted by {entry.granted_by or 'someone'} · since {_when(entry.since, 'unknown')}"
            f" · expires {_when(entry.expires_at)}"
        )
    else:
        head = f"{flag}👥 Standing group {entry.holder} on {entry.connection}{unused}"
        detail = "Members connect without a request; revoke it by removing it from allow_groups."
    chains = ", ".join(entry.chains[:5]) if entry.chains else "no sessions seen"
    usage = f"Last used {_when(entry.last_used_at)} · {entry.uses} uses · via {chains}"
    text = {
        "type": "RichTextBlock",
        "separator": True,
        "inlines": [
            run(head, 300, weight="bolder"),
            run(f"\n{detail}\n{usage}", _LINE_BYTES),
        ],
    }
    if not line.open:
        return [text, _text(_status(line.status), 600, isSubtle=True)]
    buttons = [_execute(KEEP_VERB, "Keep", "positive", _data(card, entry.key))]
    if entry.kind is EntryKind.GRANT:
        buttons.append(_execute(REVOKE_VERB, "Revoke", "destructive", _data(card, entry.key)))
    return [text, {"type": "ActionSet", "actions": buttons}]


def _status(status: LineStatus) -> str:
    by = f" by {status.by}" if status.by else ""
    when = f" · {format_time(status.at)}" if status.at else ""
    if status.state is LineState.KEPT:
        return f"✅ Kept{by}{when}"
    if status.state is LineState.REVOKED:
        reason = f" — {status.reason}" if status.reason else ""
        return f"🔒 Revoked{by}{when}{reason}"
    return f"⌛ Ended{when} (expired)"
