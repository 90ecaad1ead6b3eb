"""Small Block Kit constructors and the Slack limits the renderers keep to.

Lengths are counted the way :func:`bot.cards.text.slack_len` counts them (UTF-16 code units), so
a payload within these limits is within Slack's whichever way Slack counts.
"""

from __future__ import annotations

from typing import Any

from bot.cards.text import clean, shorten

__all__ = [
    "BUTTON_TEXT_MAX",
    "BUTTON_VALUE_MAX",
    "CONFIRM_BUTTON_MAX",
    "CONFIRM_TEXT_MAX",
    "CONFIRM_TITLE_MAX",
    "CONTEXT_TEXT_MAX",
    "FIELD_MAX",
    "HEADER_MAX",
    "MESSAGE_TEXT_MAX",
    "MODAL_TITLE_MAX",
    "SECTION_TEXT_MAX",
    "Block",
    "context",
    "header",
    "mrkdwn",
    "plain",
    "section",
]

Block = dict[str, Any]

HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_MAX = 2000
CONTEXT_TEXT_MAX = 3000
MESSAGE_TEXT_MAX = 40_000
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
CONFIRM_BUTTON_MAX = 30
MODAL_TITLE_MAX = 24


def plain(text: str, limit: int) -> dict[str, Any]:
    """A plain_text object (never parsed for mentions or links), cut to ``limit``."""
    return {"type": "plain_text", "text": shorten(clean(text), limit) or "—", "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn object whose text is already escaped and fitted; ``verbatim`` turns off Slack's
    automatic linking of bare URLs, channel names and mentions."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, HEADER_MAX)}


def section(text: str | None = None, fields: list[str] | None = None) -> Block:
    block: Block = {"type": "section"}
    if text is not None:
        block["text"] = mrkdwn(text)
    if fields:
        block["fields"] = [mrkdwn(field) for field in fields[:10]]
    return block


def context(*elements: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(element) for element in elements[:10]]}
