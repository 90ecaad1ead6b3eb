"""Slack messages and views other than the card (pure): the access-request modal, App Home,
the ``/access`` answers, and the holder's DM when a grant is revoked. Same rules as the cards:
user text escaped, every text within its Slack limit.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from approvals import Delegation, Review, ReviewKind, ReviewState
from bot.cards.blocks import SECTION_TEXT_MAX, Block, context, header, plain, section
from bot.cards.slack import STATE_ICON, STATE_LABEL
from bot.cards.text import escape_mrkdwn, escape_short, format_duration, shorten, slack_time
from bot.commands import USAGE, RequestAccess
from bot.queries import Overview

__all__ = [
    "REQUEST_CALLBACK_ID",
    "REQUEST_FIELDS",
    "access_request_modal",
    "home_view",
    "overview_text",
    "request_metadata",
    "review_line",
    "revoked_dm",
    "usage_text",
]

REQUEST_CALLBACK_ID = "airlock_access_request"
# (block_id / action_id, label, placeholder, optional, multiline, max_length)
REQUEST_FIELDS = (
    ("connection", "Connection", "pg-prod", False, False, 63),
    ("role", "Role (optional)", "read_only", True, False, 63),
    ("duration", "For how long", "2h (30m, 1d, …)", False, False, 20),
    ("reason", "Why", "INC-42: fix the orders table", False, True, 2000),
)
_LIST_MAX = 10


def usage_text(problem: str | None = None) -> str:
    lead = f"⚠️ {escape_short(problem, 500)}\n\n" if problem else ""
    return f"{lead}*Airlock `/access`*\n{USAGE}"


def request_metadata(channel: str | None) -> str:
    return json.dumps({"channel": channel})


def access_request_modal(partial: RequestAccess, channel: str | None) -> dict[str, Any]:
    """A modal asking for the parts of an access request still missing (the rest pre-filled);
    ``private_metadata`` carries the channel to answer in."""
    given = {
        "connection": partial.connection,
        "role": partial.role,
        "duration": partial.duration,
        "reason": partial.reason,
    }
    blocks: list[Block] = [section("Ask for time-limited access. Approvers see your reason.")]
    for key, label, placeholder, optional, multiline, limit in REQUEST_FIELDS:
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": key,
            "multiline": multiline,
            "max_length": limit,
            "placeholder": plain(placeholder, 150),
        }
        if given[key]:
            element["initial_value"] = shorten(str(given[key]), limit)
        blocks.append(
            {
                "type": "input",
                "block_id": key,
                "optional": optional,
                "label": plain(label, 2000),
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": REQUEST_CALLBACK_ID,
        "private_metadata": request_metadata(channel),
        "title": plain("Request access", 24),
        "submit": plain("Request", 24),
        "close": plain("Cancel", 24),
        "blocks": blocks,
    }


def review_line(review: Review, now: datetime) -> str:
    """``⏳ Statement on pg-prod by alice — `TRUNCATE t` · review `id```."""
    state = review.state
    if state is ReviewState.PENDING and now >= review.expires_at:
        state = ReviewState.EXPIRED
    if review.kind is ReviewKind.ACCESS and review.access is not None:
        role = f" as {escape_short(review.access.role, 60)}" if review.access.role else ""
        what = (
            f"Access to *{escape_short(review.connection, 80)}*{role} for "
            f"{format_duration(review.access.duration)} — {escape_short(review.access.reason, 200)}"
        )
    else:
        statement = escape_short(" ".join((review.statement or "").split()), 200)
        what = f"Statement on *{escape_short(review.connection, 80)}* — `{statement}`"
    who = escape_short(review.requester.describe(), 200)
    return (
        f"{STATE_ICON[state]} {what}\n    by {who} · {STATE_LABEL[state]} · "
        f"review `{escape_mrkdwn(review.id)}`"
    )


def _grant_line(grant: Delegation) -> str:
    role = f" as {escape_short(grant.role, 60)}" if grant.role else ""
    return (
        f"🔑 *{escape_short(grant.connection, 80)}*{role} until {slack_time(grant.expires_at)}"
        f" · grant `{escape_mrkdwn(grant.id)}`"
    )


def _listing(title: str, lines: list[str], empty: str) -> str:
    body = "\n".join(f"• {line}" for line in lines[:_LIST_MAX]) if lines else f"_{empty}_"
    return shorten(f"*{title}*\n{body}", SECTION_TEXT_MAX)


def overview_text(view: Overview, now: datetime) -> str:
    """``/access list``: grants and requests (and what waits for the person's vote)."""
    parts = [
        _listing("Your active grants", [_grant_line(g) for g in view.grants], "none"),
        _listing(
            "Your requests",
            [review_line(r, now) for r in view.requests],
            "none; ask with `/access request`",
        ),
    ]
    if view.pending:
        parts.append(
            _listing("Waiting for your approval", [review_line(r, now) for r in view.pending], "")
        )
    return shorten("\n\n".join(parts), SECTION_TEXT_MAX)


def home_view(view: Overview, now: datetime) -> dict[str, Any]:
    """App Home: my pending approvals, my requests, my active grants."""
    blocks: list[Block] = [header("Airlock")]
    pending = [review_line(r, now) for r in view.pending]
    requests = [review_line(r, now) for r in view.requests]
    grants = [_grant_line(g) for g in view.grants]
    blocks.append(section(_listing("Waiting for your approval", pending, "nothing right now")))
    blocks.append(section(_listing("Your requests", requests, "none")))
    blocks.append(section(_listing("Your active grants", grants, "none")))
    blocks.append(context("Ask for access with `/access request`; `/access help` for more."))
    return {"type": "home", "blocks": blocks}


def revoked_dm(delegation: Delegation) -> dict[str, Any]:
    role = f" as {escape_short(delegation.role, 60)}" if delegation.role else ""
    if delegation.revoke_reason == "expired" and delegation.revoked_at is not None:
        text = (
            f"⌛ Your access to *{escape_short(delegation.connection, 80)}*{role} ended "
            f"{slack_time(delegation.revoked_at)}: the grant expired. Ask again with "
            f"`/access request {escape_short(delegation.connection, 80)} for <duration> because "
            "<reason>` if you still need it."
        )
        return {
            "text": shorten(f"Your access to {delegation.connection} ended", 1000),
            "blocks": [section(text), context(f"Grant `{escape_mrkdwn(delegation.id)}`")],
        }
    by = escape_short(delegation.revoked_by or "someone", 200)
    text = (
        f"🔒 Your access to *{escape_short(delegation.connection, 80)}*{role} was revoked by {by}."
    )
    if delegation.revoke_reason:
        text += f"\n*Reason:* {escape_short(delegation.revoke_reason, 1000)}"
    return {
        "text": shorten(f"Your access to {delegation.connection} was revoked", 1000),
        "blocks": [section(text), context(f"Grant `{escape_mrkdwn(delegation.id)}`")],
    }
