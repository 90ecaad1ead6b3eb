"""The Teams Adaptive Card (pure): the same facts as the Slack card, buttons only while pending,
Deny's required reason, refresh.userIds for a small approver list, user text never read as
Markdown, and every card and digest page under Teams' size limit."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approvals import Outcome
from approvals.access_review import AccessEntry, Digest, EntryKind, Recipient
from bot.cards import CardDecision
from bot.cards.digest import digest_card
from bot.cards.teams import (
    APPROVE_VERB,
    DENY_VERB,
    MAX_CARD_BYTES,
    REFRESH_MAX_USERS,
    REFRESH_VERB,
    card_activity,
    json_bytes,
    render_teams,
)
from bot.cards.teams_digest import KEEP_VERB, REVOKE_VERB, render_teams_digest
from bot.cards.teams_messages import requester_dm, thread_reply
from tests.bot.samples import NOW, golden_card
from tests.support.fake_teams import MAX_ACTIVITY_BYTES


def _texts(node: Any) -> str:
    return json.dumps(node, ensure_ascii=False)


def _size(card: dict[str, Any]) -> int:
    return json_bytes(card_activity(card, "summary"))


def _verbs(card: dict[str, Any]) -> list[str]:
    found = []
    for action in card.get("actions") or []:
        if action["type"] == "Action.Execute":
            found.append(action["verb"])
        for inner in (action.get("card") or {}).get("actions") or []:
            found.append(inner["verb"])
    return found


def test_pending_card_shows_every_fact_and_both_buttons() -> None:
    """Requester with its agent chain, connection, rule, risk, impact, k of N and expiry are
    facts; Approve and Deny are Action.Execute carrying only the review id; schema 1.4."""
    card = replace(
        golden_card("pending_statement"),
        actor_chain=("ci-runner", "sql-agent"),
        impact="100 rows (counted when held)",
        required=2,
    )
    rendered = render_teams(card)
    facts = {f["title"]: f["value"] for f in rendered["body"][1]["facts"]}
    assert rendered["version"] == "1.4"
    assert "ci-runner" in facts["Requester"] and "sql\\-agent" not in facts["Requester"]
    assert facts["Connection"] == card.connection and facts["Rule"] and facts["Risk"]
    assert facts["Impact"].startswith("100 rows") and facts["Progress"] == "0 of 2 approvals"
    assert "UTC" in facts["Expires"] and "DROP TABLE orders" in _texts(rendered)
    assert _verbs(rendered) == [APPROVE_VERB, DENY_VERB]
    approve = rendered["actions"][0]
    assert approve["data"] == {"review": card.review_id}


def test_deny_asks_for_a_required_reason() -> None:
    """Deny opens a form whose reason input is required, with an error message."""
    deny = render_teams(golden_card("pending_statement"))["actions"][1]
    reason = deny["card"]["body"][0]
    assert deny["type"] == "Action.ShowCard" and reason["type"] == "Input.Text"
    assert reason["isRequired"] is True and reason["errorMessage"]


@pytest.mark.parametrize("name", ["approved", "denied", "expired", "break_glass"])
def test_final_cards_have_no_buttons_and_say_the_outcome(name: str) -> None:
    """A decided, denied, expired or break-glass card offers nothing to click."""
    rendered = render_teams(golden_card(name))
    assert "actions" not in rendered and "refresh" not in rendered
    assert any(w in _texts(rendered) for w in ("Approved", "Denied", "Expired", "Break-glass"))


def test_small_approver_list_gets_refresh_user_ids() -> None:
    """With the approvers' ids known, everyone sees the card without buttons and a refresh for
    exactly those ids; the refreshed version has the buttons; over the limit: no refresh."""
    card = golden_card("pending_statement")
    ids = ("29:bob", "29:carol")
    base = render_teams(card, approvers=ids)
    assert "actions" not in base and base["refresh"]["userIds"] == list(ids)
    assert base["refresh"]["action"]["verb"] == REFRESH_VERB
    assert _verbs(render_teams(card, approvers=ids, for_approver=True)) == [
        APPROVE_VERB,
        DENY_VERB,
    ]
    many = tuple(f"29:u{i}" for i in range(REFRESH_MAX_USERS + 1))
    crowded = render_teams(card, approvers=many)
    assert "refresh" not in crowded and _verbs(crowded) == [APPROVE_VERB, DENY_VERB]


def test_user_text_cannot_form_links_or_mentions() -> None:
    """A statement with a Markdown link sits in a TextRun (not Markdown); the same text in a
    fact is backslash-escaped; control and bidi characters are replaced."""
    evil = "[click](https://evil.example) <at>bob</at> **x** \u202e"
    card = replace(golden_card("pending_statement"), statement=evil, rule=evil)
    rendered = render_teams(card)
    statement = rendered["body"][3]["inlines"][0]
    assert statement["type"] == "TextRun" and "[click]" in statement["text"]
    rule = next(f["value"] for f in rendered["body"][1]["facts"] if f["title"] == "Rule")
    assert "\\[click\\]" in rule and "\\<at\\>" in rule and "\\*\\*x" in rule
    assert "\u202e" not in _texts(rendered)


def test_a_huge_statement_stays_under_the_limit_and_says_what_is_missing() -> None:
    """A 300 KB statement of multi-byte characters and quotes, with long names, reasons and
    200 votes, renders under MAX_CARD_BYTES with a note counting what was left out."""
    statement = "UPDATE \"ü\" SET v = '€' WHERE id IN (" + ", ".join(
        "😀" * 3 for _ in range(40_000)
    )
    votes = tuple(
        CardDecision(f"a{i}@example.com", Outcome.APPROVE, 'é"' * 300, NOW) for i in range(200)
    )
    card = replace(
        golden_card("pending_access_1_of_2"),
        statement=statement,
        requester="r" * 5000,
        actor_chain=("agent" * 500,) * 5,
        connection="c" * 2000,
        rule="\\" * 3000,
        risk="\"'" * 3000,
        impact="i" * 3000,
        decisions=votes,
    )
    rendered = render_teams(card, notice="⚠️ " * 2000)
    assert _size(rendered) < MAX_CARD_BYTES < MAX_ACTIVITY_BYTES
    assert "truncated" in _texts(rendered) and "more characters" in _texts(rendered)
    assert "… and 192 more" in _texts(rendered)


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=0, max_size=20_000), st.text(max_size=3000))
def test_any_text_fits(statement: str, reason: str) -> None:
    """Whatever the statement and reason, the card is under the limit."""
    card = replace(golden_card("denied"), statement=statement, decision_reason=reason)
    assert _size(render_teams(card)) < MAX_CARD_BYTES


def test_thread_reply_and_dm_are_plain_text() -> None:
    """Replies and the requester's DM are textFormat plain (nothing read as Markdown) and
    carry the reason."""
    card = golden_card("denied")
    reply = thread_reply(card, card.decisions[0])
    dm = requester_dm(card)
    assert reply["textFormat"] == dm["textFormat"] == "plain"
    assert "denied" in reply["text"] and "not during business hours" in dm["text"]


def test_a_forty_line_digest_is_paged_under_the_limit() -> None:
    """40 grants with long chains become pages each under the limit, every line with Keep and
    (for a grant) Revoke carrying the digest id and line key only."""
    entries = tuple(
        AccessEntry(
            EntryKind.GRANT, f"grant-{i}", "pg-prod", f"user{i}@example.com" + "x" * 300,
            role="rw", granted_by="bob@example.com", since=NOW - timedelta(days=50),
            expires_at=NOW + timedelta(days=5), last_used_at=NOW - timedelta(days=45),
            uses=i, chains=tuple("a → b → c" * 30 for _ in range(8)),
        )
        for i in range(40)
    )  # fmt: skip
    digest = Digest(
        id="dig-1", recipient=Recipient("person", "carol@example.com"), period="2025-W11",
        created_at=NOW, entries=entries,
    )  # fmt: skip
    pages = render_teams_digest(digest_card(digest, {}))
    assert len(pages) == 4
    for page in pages:
        assert json_bytes(page) < MAX_CARD_BYTES
    buttons = [
        a for p in pages for b in p["attachments"][0]["content"]["body"]
        for a in b.get("actions", [])
    ]  # fmt: skip
    assert [b["verb"] for b in buttons].count(KEEP_VERB) == 40
    assert [b["verb"] for b in buttons].count(REVOKE_VERB) == 40
    assert buttons[0]["data"] == {"d": "dig-1", "k": "grant-0"}
