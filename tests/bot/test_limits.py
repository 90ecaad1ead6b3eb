"""Oversized and unusual cards still render inside Slack's limits, with visible truncation."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from approvals.model import Outcome
from approvals.states import ReviewState
from bot.cards import (
    Card,
    CardDecision,
    deny_reason_modal,
    render_html,
    render_slack,
    render_slack_dm,
    render_slack_thread_reply,
)
from tests.bot.samples import NOW, golden_card
from tests.support.fake_slack import validate_blocks


def _all_payloads(card: Card) -> list[dict[str, Any]]:
    vote = card.decisions[-1] if card.decisions else None
    return [render_slack(card), render_slack_dm(card), render_slack_thread_reply(card, vote)]


def _assert_valid(card: Card) -> None:
    for payload in _all_payloads(card):
        assert validate_blocks(payload) == []


def test_100kb_statement_is_truncated_with_a_note() -> None:
    """A 100 KB statement fits its section and says how much is missing and how to see it."""
    statement = "UPDATE t SET v = 1 WHERE id IN (" + ", ".join(str(i) for i in range(20_000)) + ");"
    assert len(statement) > 100_000
    card = replace(golden_card("pending_statement"), statement=statement)
    _assert_valid(card)
    block = render_slack(card)["blocks"][2]["text"]["text"]
    match = re.search(
        r"… truncated, ([\d,]+) more characters — full text: `airlock reviews show ", block
    )
    assert match is not None
    shown = block.split("```")[1]
    assert len(shown) + int(match.group(1).replace(",", "")) == len(statement)
    assert len(block) <= 3000
    assert statement in render_html(card)


def test_truncation_never_splits_an_escape() -> None:
    """A statement of '<' characters is cut between escapes, never inside '&lt;'."""
    card = replace(golden_card("pending_statement"), statement="<" * 5000)
    text = render_slack(card)["blocks"][2]["text"]["text"]
    shown = text.split("```")[1]
    assert re.fullmatch(r"(&lt;)+", shown)
    assert validate_blocks(render_slack(card)) == []


def test_500_character_connection_name() -> None:
    """A 500-character connection name is shortened in the header and fits every field."""
    card = replace(golden_card("pending_access_1_of_2"), connection="c" * 500, title="T" * 500)
    _assert_valid(card)
    header = render_slack(card)["blocks"][0]["text"]["text"]
    assert len(header) <= 150 and header.endswith("— awaiting approval") and "…" in header


def test_200_decisions_fit_and_say_how_many_are_left_out() -> None:
    """Two hundred votes fit one section; the rest are counted, not dropped silently."""
    votes = tuple(
        CardDecision(f"approver-{i}@example.com", Outcome.APPROVE, "looks fine " * 20, NOW)
        for i in range(200)
    )
    card = replace(golden_card("pending_access_1_of_2"), decisions=votes, required=250)
    _assert_valid(card)
    votes_text = render_slack(card)["blocks"][2]["text"]["text"]
    listed = votes_text.count("\n• ")
    assert 0 < listed < 200
    assert f"… and {200 - listed:,} more" in votes_text
    assert render_html(card).count("<li ") == 200


@pytest.mark.parametrize(
    "text",
    ["🚨🔥 DROP TABLE 👩‍👩‍👧‍👦;", "SELECT 'Ωμέγα', '中文', 'עברית'", "x\u0000y\u202ez\r\n\tw"],
)
def test_unicode_emoji_and_controls(text: str) -> None:
    """Emoji, scripts and control characters render, cleaned, within limits."""
    card = replace(
        golden_card("pending_statement"), statement=text * 400, requester=text, risk=text
    )
    _assert_valid(card)
    rendered = repr(render_slack(card)) + render_html(card)
    assert "\x00" not in rendered and "\u202e" not in rendered


def test_emoji_are_counted_as_slack_counts_them() -> None:
    """Astral-plane emoji count double (UTF-16) so a cut never lands over a limit."""
    card = replace(golden_card("pending_statement"), statement="😀" * 3000)
    text = render_slack(card)["blocks"][2]["text"]["text"]
    assert len(text.encode("utf-16-le")) // 2 <= 3000
    assert "… truncated" in text


def test_long_reasons_and_names_in_final_cards() -> None:
    """Huge reasons and approver names on a denied card stay within every limit."""
    card = replace(
        golden_card("denied"),
        decided_by="b" * 5000,
        decision_reason="<&>" * 5000,
        decisions=(CardDecision("b" * 5000, Outcome.DENY, "<&>" * 5000, NOW),),
    )
    _assert_valid(card)


def test_long_access_request_dm() -> None:
    """An approved access DM with long fields stays within limits and says until when."""
    card = replace(
        golden_card("break_glass"),
        statement="s" * 9000,
        channel="#" + "c" * 900,
        decision_reason="r" * 9000,
    )
    _assert_valid(card)
    assert "It lasts until" in render_slack_dm(card)["blocks"][0]["text"]["text"]


def test_deny_modal_is_valid_and_keeps_the_id() -> None:
    """The modal passes views.open limits and carries the review id in private_metadata."""
    view = deny_reason_modal("r" * 255)
    assert validate_blocks({"view": view}) == []
    assert view["private_metadata"] == "r" * 255
    with pytest.raises(ValueError):
        deny_reason_modal("")


def test_expiry_uses_slack_date_formatting() -> None:
    """Times are Slack date tokens that read in each approver's zone, with a UTC fallback."""
    card = replace(golden_card("pending_statement"), expires_at=NOW + timedelta(hours=1))
    context = render_slack(card)["blocks"][-2]["elements"]
    assert context[-1]["text"] == (
        f"Expires <!date^{int((NOW + timedelta(hours=1)).timestamp())}^{{date_short_pretty}}"
        " at {time}|2025-03-14 10:30 UTC>"
    )
    assert card.state is ReviewState.PENDING
