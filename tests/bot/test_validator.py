"""validate_blocks names each Block Kit limit a payload breaks, and accepts what is within them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.fake_slack import validate_blocks


def _text(text: str, kind: str = "mrkdwn") -> dict[str, Any]:
    return {"type": kind, "text": text}


def _button(action_id: str, text: str = "Go", value: str = "r") -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": _text(text, "plain_text"),
        "value": value,
    }


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("message text", {"text": "x" * 40_001}, "message text is 40,001 characters"),
    ("no text", {"channel": "C1"}, "no_text"),
    ("blocks", {"blocks": [{"type": "divider"}] * 51}, "51 blocks, allowed 0 to 50"),
    ("header", {"blocks": [{"type": "header", "text": _text("h" * 151, "plain_text")}]},
     "header text is 151 characters, over the limit of 150"),
    ("header kind", {"blocks": [{"type": "header", "text": _text("h")}]}, "must be plain_text"),
    ("section", {"blocks": [{"type": "section", "text": _text("s" * 3001)}]},
     "section text is 3,001"),
    ("field", {"blocks": [{"type": "section", "fields": [_text("f" * 2001)]}]},
     "section field is 2,001"),
    ("fields", {"blocks": [{"type": "section", "fields": [_text("f")] * 11}]},
     "11 section fields"),
    ("empty", {"blocks": [{"type": "section", "text": _text("  ")}]}, "must not be empty"),
    ("actions", {"blocks": [{"type": "actions", "elements": [_button(f"a{i}") for i in range(6)]}]},
     "6 action elements, allowed 1 to 5"),
    ("button text", {"blocks": [{"type": "actions", "elements": [_button("a", "b" * 76)]}]},
     "button text is 76"),
    ("button value",
     {"blocks": [{"type": "actions", "elements": [_button("a", value="v" * 2001)]}]},
     "button value is 2,001"),
    ("action ids", {"blocks": [{"type": "actions", "elements": [_button("a"), _button("a")]}]},
     "action_id 'a' is not unique"),
    ("confirm", {"blocks": [{"type": "actions", "elements": [{**_button("a"), "confirm": {
        "title": _text("t" * 101, "plain_text"), "text": _text("x" * 301, "plain_text"),
        "confirm": _text("ok", "plain_text"), "deny": _text("no", "plain_text")}}]}]},
     "confirm title is 101"),
    ("unknown block", {"blocks": [{"type": "marquee"}]}, "unsupported block type 'marquee'"),
    ("emoji count double", {"blocks": [{"type": "header", "text": _text("😀" * 76, "plain_text")}]},
     "header text is 152"),
    ("modal title",
     {"view": {"type": "modal", "title": _text("t" * 25, "plain_text"), "blocks": []}},
     "modal title is 25"),
    ("metadata", {"view": {"type": "modal", "title": _text("t", "plain_text"), "blocks": [],
                           "private_metadata": "m" * 3001}}, "private_metadata is 3,001"),
    ("input needs submit", {"view": {"type": "modal", "title": _text("t", "plain_text"), "blocks": [
        {"type": "input", "label": _text("l", "plain_text"),
         "element": {"type": "plain_text_input", "action_id": "r"}}]}}, "needs a submit button"),
]  # fmt: skip


@pytest.mark.parametrize(("payload", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_limit_is_named(payload: dict[str, Any], expected: str) -> None:
    """An over-limit payload is rejected with a message naming the limit it breaks."""
    errors = validate_blocks(payload)
    assert any(expected in error for error in errors), errors


def test_within_limits_is_accepted() -> None:
    """A payload exactly at each limit has no errors."""
    payload = {
        "text": "x" * 40_000,
        "blocks": [
            {"type": "header", "text": _text("h" * 150, "plain_text")},
            {"type": "section", "text": _text("s" * 3000), "fields": [_text("f" * 2000)] * 10},
            {
                "type": "actions",
                "elements": [_button(f"a{i}", "b" * 75, "v" * 2000) for i in range(5)],
            },
            {"type": "context", "elements": [_text("c")] * 10},
        ]
        + [{"type": "divider"}] * 46,
    }
    assert validate_blocks(payload) == []
