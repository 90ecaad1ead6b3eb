"""What ``access ...`` answers in Teams (pure): the usage, the request form for a request with
parts missing, and ``access list``'s overview. Plain text, or an Adaptive Card whose
``Action.Execute`` carries no data but the form's inputs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.cards.teams import adaptive, card_activity, fit_bytes, run
from bot.cards.text import clean, format_time
from bot.commands import RequestAccess
from bot.queries import Overview

__all__ = ["REQUEST_VERB", "TEAMS_USAGE", "overview_text", "request_form"]

REQUEST_VERB = "airlock.request"

TEAMS_USAGE = (
    "access request <connection> [as <role>] for <duration> because <reason> — ask for access\n"
    "access list — your grants, your pending requests and what waits for your vote\n"
    "access help — this text\n"
    "(In a channel, @mention the bot first.)"
)


def request_form(given: RequestAccess, problem: str | None = None) -> dict[str, Any]:
    """``access request`` with parts missing: a form holding what was typed."""
    fields = (
        ("connection", "Connection", given.connection, True),
        ("role", "Role (optional)", given.role, False),
        ("duration", "For how long (e.g. 30m, 2h, 1d)", given.duration, True),
        ("reason", "Why", given.reason, True),
    )
    body: list[dict[str, Any]] = [
        {"type": "RichTextBlock", "inlines": [run("Request access", 100, weight="bolder")]}
    ]
    if problem:
        body.append({"type": "RichTextBlock", "inlines": [run(problem, 500, color="attention")]})
    for key, label, value, required in fields:
        field: dict[str, Any] = {
            "type": "Input.Text",
            "id": key,
            "label": label,
            "isRequired": required,
            "maxLength": 2000,
        }
        if required:
            field["errorMessage"] = f"{label.split(' (')[0]} is needed."
        if value:
            field["value"] = fit_bytes(value, 2000, lambda p, o: clean(p))
        body.append(field)
    submit = {
        "type": "Action.Execute",
        "verb": REQUEST_VERB,
        "title": "Request",
        "style": "positive",
        "data": {},
        "associatedInputs": "auto",
    }
    return card_activity(adaptive(body, [submit]), "Request access")


def overview_text(view: Overview, now: datetime) -> str:
    """``access list``: what waits for my vote, my requests, my grants."""
    lines = ["Waiting for your vote:"]
    lines += [f"• {r.connection}: {r.requester.subject} (review {r.id})" for r in view.pending]
    lines += ["• nothing"] if not view.pending else []
    lines.append("Your requests:")
    for review in view.requests:
        state = review.state.value
        if not review.is_final and review.expires_at <= now:
            state = "expired"
        lines.append(f"• {review.connection}: {state} (review {review.id})")
    lines += ["• none"] if not view.requests else []
    lines.append("Your grants:")
    for grant in view.grants:
        role = f" as {grant.role}" if grant.role else ""
        lines.append(
            f"• {grant.connection}{role} until {format_time(grant.expires_at)} (grant {grant.id})"
        )
    lines += ["• none"] if not view.grants else []
    return "\n".join(lines)
