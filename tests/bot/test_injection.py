"""User text cannot inject Slack mentions, links or markup, nor HTML, into a card."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from approvals.model import Outcome
from bot.cards import (
    Card,
    CardDecision,
    render_html,
    render_slack,
    render_slack_dm,
    render_slack_thread_reply,
)
from tests.bot.samples import NOW, golden_card

HOSTILE = "<!channel> <@U0BOSS> <http://evil.example|click me> <#C0SECRET> &amp; ```\n> quoted"
SCRIPT = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>"


def _hostile_card(text: str) -> Card:
    vote = CardDecision(text, Outcome.DENY, text, NOW)
    return replace(
        golden_card("pending_statement"),
        statement=text,
        requester=text,
        actor_chain=(text,),
        connection=text,
        risk=text,
        rule=text,
        channel=text,
        decisions=(vote,),
        decided_by=text,
        decision_reason=text,
    )


def _mrkdwn_texts(payload: Any) -> list[str]:
    """Every mrkdwn text and the fallback text in a payload."""
    found: list[str] = []
    if isinstance(payload, dict):
        if payload.get("type") == "mrkdwn" or isinstance(payload.get("blocks"), list):
            text = payload.get("text")
            if isinstance(text, str):
                found.append(text)
        for value in payload.values():
            found += _mrkdwn_texts(value)
    elif isinstance(payload, list):
        for item in payload:
            found += _mrkdwn_texts(item)
    return found


def _payloads(card: Card) -> list[dict[str, Any]]:
    return [
        render_slack(card),
        render_slack_dm(card),
        render_slack_thread_reply(card, card.decisions[0]),
        render_slack_thread_reply(card),
    ]


def test_mrkdwn_control_characters_are_escaped() -> None:
    """No mention, channel or link syntax survives from user text; '&' stays literal."""
    for payload in _payloads(_hostile_card(HOSTILE)):
        for text in _mrkdwn_texts(payload):
            assert "<!channel>" not in text and "<@U0BOSS>" not in text
            assert "<http" not in text and "<#C0SECRET>" not in text
    statement = render_slack(_hostile_card(HOSTILE))["blocks"][2]["text"]["text"]
    assert "&lt;!channel&gt; &lt;@U0BOSS&gt;" in statement
    assert "&amp;amp;" in statement


def test_only_our_own_angle_brackets_remain() -> None:
    """The only '<' left in mrkdwn are the date tokens the renderer writes itself."""
    for payload in _payloads(_hostile_card(HOSTILE)):
        for text in _mrkdwn_texts(payload):
            for chunk in text.split("<")[1:]:
                assert chunk.startswith("!date^"), chunk[:40]


def test_verbatim_turns_off_auto_linking() -> None:
    """Every mrkdwn object is verbatim, so bare URLs and #names are not linkified."""
    payload = render_slack(_hostile_card("see https://evil.example and #general"))
    blob = json.dumps(payload)
    assert blob.count('"type": "mrkdwn"') == blob.count('"verbatim": true')


def test_statement_cannot_close_its_code_block() -> None:
    """Backticks in a statement never form a fence that ends the code block early."""
    statement = "SELECT 1;```*bold* <!here>```` `x` ``"
    card = replace(golden_card("pending_statement"), statement=statement)
    text = render_slack(card)["blocks"][2]["text"]["text"]
    body = text.removeprefix("*Statement*\n```").removesuffix("```")
    assert "``" not in body
    assert text.count("```") == 2


def test_html_escapes_everything_user_provided() -> None:
    """A <script> statement, name or id is inert text in the console card."""
    card = replace(_hostile_card(SCRIPT), review_id='r"><script>x</script>')
    html = render_html(card)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert 'data-review-id="r&quot;&gt;&lt;script&gt;x&lt;/script&gt;"' in html


def test_html_form_and_csrf_are_escaped() -> None:
    """The form action and CSRF token given by the caller are attribute-escaped."""
    html = render_html(golden_card("pending_statement"), form_action='/x"y', csrf_token="<t>")
    assert 'action="/x&quot;y"' in html
    assert 'name="csrf_token" value="&lt;t&gt;"' in html


def test_buttons_only_while_pending() -> None:
    """Approve/Deny exist on a pending card and vanish once it is final, in both renderers."""
    pending, final = golden_card("pending_statement"), golden_card("denied")
    assert render_slack(pending)["blocks"][-1]["type"] == "actions"
    assert all(block["type"] != "actions" for block in render_slack(final)["blocks"])
    assert 'data-action="approve"' in render_html(pending)
    assert "<form" not in render_html(final) and "data-action" not in render_html(final)


def test_button_value_is_only_the_review_id() -> None:
    """Buttons carry the review id and nothing else; action ids are stable."""
    card = golden_card("pending_access_1_of_2")
    buttons = render_slack(card)["blocks"][-1]["elements"]
    assert [(b["action_id"], b["value"], b["style"]) for b in buttons] == [
        ("airlock_approve", card.review_id, "primary"),
        ("airlock_deny", card.review_id, "danger"),
    ]
    assert all("confirm" in button for button in buttons)
