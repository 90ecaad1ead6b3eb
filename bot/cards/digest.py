"""The weekly access-review digest as Slack messages: ``render_slack_digest(card) -> [page, ...]``.

A :class:`DigestCard` is a stored digest (its lines as they were when it was built) plus what
became of each line since (kept, revoked, ended): the store is the truth, a redraw renders the
same lines with their new status. Pure: no I/O, only :mod:`approvals` and the standard library.

Layout of a page: a header; on the first page a summary and the bulk buttons (Keep all, Revoke
all unused); per connection a heading, then two blocks per line — the line (holder, role, who
granted it, since, expires, last used, uses, the actor chains seen; ⚠️ when unused) and either
its Keep / Revoke buttons or what became of it; a context footer (digest id, page i of n).
Unused lines come first within each connection. Pages are cut by block count (Slack's 50 per
message), never inside a line, so every page of every digest is within Slack's limits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from approvals.access_review import (
    AccessEntry,
    Digest,
    EntryKind,
    LineState,
    LineStatus,
    human_span,
)
from bot.cards.blocks import (
    BUTTON_VALUE_MAX,
    CONFIRM_BUTTON_MAX,
    CONFIRM_TEXT_MAX,
    CONFIRM_TITLE_MAX,
    Block,
    context,
    header,
    plain,
    section,
)
from bot.cards.text import escape_mrkdwn, escape_short, shorten, slack_time

__all__ = [
    "DIGEST_ACTIONS",
    "KEEP_ACTION_ID",
    "KEEP_ALL_ACTION_ID",
    "MAX_BLOCKS",
    "REVOKE_ACTION_ID",
    "REVOKE_UNUSED_ACTION_ID",
    "DigestCard",
    "DigestLine",
    "button_value",
    "digest_card",
    "parse_button_value",
    "render_slack_digest",
]

KEEP_ACTION_ID = "airlock_digest_keep"
REVOKE_ACTION_ID = "airlock_digest_revoke"
KEEP_ALL_ACTION_ID = "airlock_digest_keep_all"
REVOKE_UNUSED_ACTION_ID = "airlock_digest_revoke_unused"
DIGEST_ACTIONS = (KEEP_ACTION_ID, REVOKE_ACTION_ID, KEEP_ALL_ACTION_ID, REVOKE_UNUSED_ACTION_ID)
MAX_BLOCKS = 50
_CHAINS_SHOWN = 5
_OPEN = LineStatus(LineState.OPEN)


@dataclass(frozen=True, slots=True)
class DigestLine:
    index: int
    entry: AccessEntry
    unused: bool
    status: LineStatus

    @property
    def open(self) -> bool:
        return self.status.state is LineState.OPEN


@dataclass(frozen=True, slots=True)
class DigestCard:
    digest_id: str
    audience: str
    period: str
    created_at: datetime
    unused_after: timedelta
    lines: tuple[DigestLine, ...]

    @property
    def open_lines(self) -> int:
        return sum(line.open for line in self.lines)

    @property
    def open_unused(self) -> int:
        return sum(line.open and line.unused and _revocable(line) for line in self.lines)


def digest_card(digest: Digest, statuses: Mapping[str, LineStatus]) -> DigestCard:
    """The digest's lines (in stored order) with their current status."""
    return DigestCard(
        digest_id=digest.id,
        audience=digest.recipient.address,
        period=digest.period,
        created_at=digest.created_at,
        unused_after=digest.unused_after,
        lines=tuple(
            DigestLine(i, e, digest.unused(e), statuses.get(e.key, _OPEN))
            for i, e in enumerate(digest.entries)
        ),
    )


def button_value(digest_id: str, key: str | None = None) -> str:
    """What a digest button carries: the digest id and the line's key (nothing else)."""
    value = json.dumps({"d": digest_id, "k": key}, separators=(",", ":"))
    if len(value) > BUTTON_VALUE_MAX:
        raise ValueError("a digest id and line key must fit in a button value")
    return value


def parse_button_value(value: str) -> tuple[str, str | None]:
    """(digest id, line key or None) from a digest button's value; ValueError if malformed."""
    try:
        data = json.loads(value)
        digest_id, key = data["d"], data.get("k")
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("not a digest button value") from exc
    if not isinstance(digest_id, str) or not (key is None or isinstance(key, str)):
        raise ValueError("not a digest button value")
    return digest_id, key


# -- pages --------------------------------------------------------------------------------


def render_slack_digest(card: DigestCard) -> list[dict[str, Any]]:
    """The digest as chat.postMessage / chat.update payloads, one per page."""
    summary = _summary(card)
    # Room for the longest summary (text + bulk buttons) whatever it is now, so that a redraw
    # after decisions keeps every line on the page it was posted on.
    chunks = _paginate(card, 2)
    pages = []
    for number, rows in enumerate(chunks, start=1):
        blocks = [header(_title(card, number, len(chunks)))]
        if number == 1:
            blocks += summary
        blocks += rows
        blocks.append(
            context(
                f"Digest `{escape_mrkdwn(card.digest_id)}` · page {number} of {len(chunks)} · "
                f"built {slack_time(card.created_at)}"
            )
        )
        pages.append({"text": _fallback(card, number, len(chunks)), "blocks": blocks})
    return pages


def _paginate(card: DigestCard, summary_blocks: int) -> list[list[Block]]:
    """Rows (a connection heading: 1 block, a line: 2) packed into pages of at most 50."""
    counts: dict[str, list[int]] = {}
    for line in card.lines:
        count = counts.setdefault(line.entry.connection, [0, 0])
        count[line.entry.kind is EntryKind.GROUP] += 1
    room = MAX_BLOCKS - 2 - summary_blocks  # the header and the footer on every page
    pages: list[list[Block]] = []
    page: list[Block] = []
    connection: str | None = None
    for line in card.lines:
        name = line.entry.connection
        starts = name != connection
        if len(page) + 2 + (1 if starts or not page else 0) > room:
            pages.append(page)
            page, room = [], MAX_BLOCKS - 2
        if starts or not page:
            page.append(_heading(name, counts[name], continued=not starts))
        connection = name
        page += _line_blocks(card, line)
    if page or not pages:
        pages.append(page)
    return pages


def _title(card: DigestCard, number: int, total: int) -> str:
    suffix = f" (page {number} of {total})" if total > 1 else ""
    return f"🔎 Access review {card.period} — {shorten(card.audience, 80)}{suffix}"


def _fallback(card: DigestCard, number: int, total: int) -> str:
    pages = f", page {number} of {total}" if total > 1 else ""
    return shorten(
        f"Access review {card.period}: {len(card.lines)} lines, {card.open_lines} to decide{pages}",
        1000,
    )


def _summary(card: DigestCard) -> list[Block]:
    connections = len({line.entry.connection for line in card.lines})
    unused = sum(line.unused for line in card.lines)
    text = (
        f"*{len(card.lines)}* grants and standing groups on *{connections}* connections; "
        f"*{unused}* not used for {human_span(card.unused_after)} (⚠️, listed first). "
        "Keep what is still needed, revoke the rest: every decision is recorded."
    )
    if card.open_lines == 0:
        return [section(text + "\n✅ *Every line is decided.* Thank you.")]
    buttons = [
        _button(
            KEEP_ALL_ACTION_ID, f"Keep all ({card.open_lines})", "primary",
            button_value(card.digest_id),
            _confirm("Keep every open line?", "Each is recorded as recertified by you.",
                     "Keep all", "primary"),
        )
    ]  # fmt: skip
    if card.open_unused:
        buttons.append(
            _button(
                REVOKE_UNUSED_ACTION_ID, f"Revoke all unused ({card.open_unused})", "danger",
                button_value(card.digest_id),
                _confirm("Revoke every unused grant?",
                         f"{card.open_unused} grants unused for {human_span(card.unused_after)} "
                         "end now; their sessions are closed.", "Revoke", "danger"),
            )
        )  # fmt: skip
    return [section(text), {"type": "actions", "block_id": "digest_bulk", "elements": buttons}]


def _heading(connection: str, counts: list[int], *, continued: bool) -> Block:
    grants, groups = counts
    more = " (continued)" if continued else ""
    return section(
        f"*{escape_short(connection, 200)}*{more} — {grants} grants, {groups} standing groups"
    )


def _line_blocks(card: DigestCard, line: DigestLine) -> list[Block]:
    text = _grant_text(line) if line.entry.kind is EntryKind.GRANT else _group_text(line)
    blocks: list[Block] = [section(text)]
    if line.open:
        blocks.append(_line_actions(card, line))
    else:
        blocks.append(context(_status_text(line.status)))
    return blocks


def _when(at: datetime | None, never: str = "never") -> str:
    return slack_time(at) if at is not None else never


def _chains(entry: AccessEntry) -> str:
    if not entry.chains:
        return "no sessions seen"
    shown = ", ".join(escape_short(c, 200) for c in entry.chains[:_CHAINS_SHOWN])
    rest = len(entry.chains) - _CHAINS_SHOWN
    return f"via {shown}" + (f" and {rest} more" if rest > 0 else "")


def _usage(entry: AccessEntry) -> str:
    uses = f"{entry.uses} use{'' if entry.uses == 1 else 's'}"
    return f"Last used {_when(entry.last_used_at)} · {uses} · {_chains(entry)}"


def _flag(line: DigestLine) -> str:
    return "⚠️ " if line.unused else ""


def _grant_text(line: DigestLine) -> str:
    entry = line.entry
    role = f" as `{escape_short(entry.role, 60)}`" if entry.role else ""
    head = f"{_flag(line)}*{escape_short(entry.holder, 200)}*{role}"
    if line.unused:
        head += " — *unused*"
    granted = (
        f"Granted by {escape_short(entry.granted_by or 'someone', 200)} · since "
        f"{_when(entry.since, 'unknown')} · expires {_when(entry.expires_at, 'never')}"
    )
    if entry.recertified_at is not None:
        granted += f" · last kept {slack_time(entry.recertified_at)}"
    return f"{head}\n{granted}\n{_usage(entry)}"


def _group_text(line: DigestLine) -> str:
    entry = line.entry
    head = f"{_flag(line)}👥 Standing group *{escape_short(entry.holder, 200)}*"
    if line.unused:
        head += " — *unused*"
    note = "Members connect without a request; revoke it by removing it from allow_groups."
    if entry.recertified_at is not None:
        note += f" Last kept {slack_time(entry.recertified_at)}."
    return f"{head}\n{note}\n{_usage(entry)}"


def _revocable(line: DigestLine) -> bool:
    return line.entry.kind is EntryKind.GRANT


def _line_actions(card: DigestCard, line: DigestLine) -> Block:
    value = button_value(card.digest_id, line.entry.key)
    buttons = [_button(f"{KEEP_ACTION_ID}:{line.index}", "Keep", "primary", value, None)]
    if _revocable(line):
        question = (
            f"{line.entry.holder} loses access to {line.entry.connection} now; "
            "their sessions are closed."
        )
        confirm = _confirm("Revoke this grant?", question, "Revoke", "danger")
        buttons.append(
            _button(f"{REVOKE_ACTION_ID}:{line.index}", "Revoke", "danger", value, confirm)
        )
    return {"type": "actions", "block_id": f"digest_line_{line.index}", "elements": buttons}


def _status_text(status: LineStatus) -> str:
    by = f" by {escape_short(status.by, 200)}" if status.by else ""
    when = f" · {slack_time(status.at)}" if status.at else ""
    if status.state is LineState.KEPT:
        return f"✅ Kept{by}{when}"
    if status.state is LineState.REVOKED:
        reason = f" — {escape_short(status.reason, 300)}" if status.reason else ""
        return f"🔒 Revoked{by}{when}{reason}"
    return f"⌛ Ended{when} (expired)"


def _confirm(title: str, text: str, confirm: str, style: str) -> dict[str, Any]:
    return {
        "title": plain(title, CONFIRM_TITLE_MAX),
        "text": plain(text, CONFIRM_TEXT_MAX),
        "confirm": plain(confirm, CONFIRM_BUTTON_MAX),
        "deny": plain("Cancel", CONFIRM_BUTTON_MAX),
        "style": style,
    }


def _button(
    action_id: str, text: str, style: str, value: str, confirm: dict[str, Any] | None
) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": plain(text, 75),
        "style": style,
        "value": value,
    }
    if confirm is not None:
        button["confirm"] = confirm
    return button
