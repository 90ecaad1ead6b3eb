"""The fake Slack Web API: token checks, limits, rate limiting, and the methods the bot uses."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from bot.cards import deny_reason_modal, render_slack
from tests.bot.samples import golden_card
from tests.support.fake_slack import FakeSlack, sign_slack_request


def _call(fake: FakeSlack, method: str, token: str | None = None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or fake.bot_token}"}
    return httpx.post(fake.base_url + method, json=params, headers=headers)


def test_bad_or_missing_token_is_refused(fake_slack: FakeSlack) -> None:
    """A wrong bot token answers invalid_auth, none answers not_authed."""
    wrong = _call(fake_slack, "auth.test", token="xoxb-wrong")
    assert wrong.status_code == 200
    assert wrong.json() == {"ok": False, "error": "invalid_auth"}
    missing = httpx.post(fake_slack.base_url + "auth.test")
    assert missing.json() == {"ok": False, "error": "not_authed"}
    assert _call(fake_slack, "auth.test").json()["ok"] is True


def test_over_limit_payload_is_rejected(fake_slack: FakeSlack) -> None:
    """chat.postMessage with an over-long header answers invalid_blocks naming the limit."""
    payload = render_slack(golden_card("pending_statement"))
    payload["blocks"][0]["text"]["text"] = "h" * 151
    body = _call(fake_slack, "chat.postMessage", channel="#dba-oncall", **payload).json()
    assert body["ok"] is False and body["error"] == "invalid_blocks"
    assert body["errors"] == [
        "blocks[0].text.text: header text is 151 characters, over the limit of 150"
    ]
    assert fake_slack.messages == {}


def test_rate_limit_answers_429_with_retry_after(fake_slack: FakeSlack) -> None:
    """After rate_limit(2), two calls get 429 + Retry-After; the third goes through."""
    fake_slack.rate_limit(2, retry_after=7)
    for _ in range(2):
        response = _call(fake_slack, "auth.test")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "7"
        assert response.json()["error"] == "ratelimited"
    assert _call(fake_slack, "auth.test").status_code == 200
    assert [c.status for c in fake_slack.calls_to("auth.test")] == [429, 429, 200]


def test_post_then_update_in_place(fake_slack: FakeSlack) -> None:
    """postMessage returns channel id and ts; chat.update on them replaces the card."""
    posted = _call(
        fake_slack,
        "chat.postMessage",
        channel="#dba-oncall",
        **render_slack(golden_card("pending_statement")),
    ).json()
    assert posted["ok"] and posted["channel"] == fake_slack.channel_id("#dba-oncall")
    final = render_slack(golden_card("approved"))
    updated = _call(fake_slack, "chat.update", channel=posted["channel"], ts=posted["ts"], **final)
    assert updated.json()["ok"] is True
    assert fake_slack.messages[(posted["channel"], posted["ts"])]["blocks"] == final["blocks"]
    missing = _call(fake_slack, "chat.update", channel=posted["channel"], ts="1.0", text="x")
    assert missing.json()["error"] == "message_not_found"
    by_name = _call(fake_slack, "chat.update", channel="#dba-oncall", ts=posted["ts"], text="x")
    assert by_name.json()["error"] == "channel_not_found"


def test_form_encoded_calls_with_token_param(fake_slack: FakeSlack) -> None:
    """Form bodies work, with the token as a parameter and blocks as a JSON string."""
    payload = render_slack(golden_card("denied"))
    form = {"token": fake_slack.bot_token, "channel": "C0TEST", "text": payload["text"],
            "blocks": json.dumps(payload["blocks"])}  # fmt: skip
    body = httpx.post(fake_slack.base_url + "chat.postMessage", data=form).json()
    assert body["ok"] is True and body["channel"] == "C0TEST"
    assert fake_slack.calls[-1].params["blocks"] == payload["blocks"]


def test_users_info_and_dm(fake_slack: FakeSlack) -> None:
    """users.info reports profile.email; conversations.open gives one stable DM per user."""
    user = _call(fake_slack, "users.info", user="U0BOB").json()["user"]
    assert user["profile"]["email"] == "bob@example.com"
    assert "email" not in _call(fake_slack, "users.info", user="U0NOMAIL").json()["user"]["profile"]
    assert _call(fake_slack, "users.info", user="U0GHOST").json()["error"] == "user_not_found"
    first = _call(fake_slack, "conversations.open", users="U0BOB").json()["channel"]["id"]
    again = _call(fake_slack, "conversations.open", users=["U0BOB"]).json()["channel"]["id"]
    assert first == again and first.startswith("D")
    dm = _call(fake_slack, "chat.postMessage", channel=first, text="hi").json()
    assert dm["channel"] == first


def test_ephemeral_needs_a_known_user(fake_slack: FakeSlack) -> None:
    """chat.postEphemeral answers message_ts for a member, user_not_in_channel otherwise."""
    ok = _call(
        fake_slack, "chat.postEphemeral", channel="C0TEST", user="U0BOB", text="already decided"
    )
    assert ok.json()["ok"] is True and "message_ts" in ok.json()
    bad = _call(fake_slack, "chat.postEphemeral", channel="C0TEST", user="U0GHOST", text="x")
    assert bad.json()["error"] == "user_not_in_channel"


def test_views_open_checks_trigger_and_view(fake_slack: FakeSlack) -> None:
    """views.open takes an issued trigger once, within its lifetime, and a valid view."""
    view = deny_reason_modal("r-1")
    trigger = fake_slack.issue_trigger_id()
    opened = _call(fake_slack, "views.open", trigger_id=trigger, view=view).json()
    assert opened["ok"] is True and opened["view"]["private_metadata"] == "r-1"
    assert _call(fake_slack, "views.open", trigger_id=trigger, view=view).json()["error"] == (
        "exchanged_trigger_id"
    )
    unknown = _call(fake_slack, "views.open", trigger_id="1.2.made-up", view=view)
    assert unknown.json()["error"] == "invalid_trigger_id"
    stale = fake_slack.issue_trigger_id(ttl=0.0)
    time.sleep(0.01)
    assert _call(fake_slack, "views.open", trigger_id=stale, view=view).json()["error"] == (
        "expired_trigger_id"
    )
    bad_view = {**view, "title": {"type": "plain_text", "text": "t" * 25}}
    rejected = _call(
        fake_slack, "views.open", trigger_id=fake_slack.issue_trigger_id(), view=bad_view
    )
    assert rejected.json()["error"] == "invalid_blocks"


def test_response_url_takes_five_valid_posts(fake_slack: FakeSlack) -> None:
    """A response_url records valid posts without a token, rejects bad blocks, allows five."""
    url = fake_slack.issue_response_url()
    ephemeral = {"response_type": "ephemeral", "text": "Review R-1 was already decided by bob"}
    assert httpx.post(url, json=ephemeral).json() == {"ok": True}
    bad = httpx.post(
        url, json={"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]}
    )
    assert bad.json()["error"] == "invalid_blocks"
    for _ in range(4):
        assert httpx.post(url, json=ephemeral).status_code == 200
    assert httpx.post(url, json=ephemeral).status_code == 404
    assert fake_slack.responses[url][0] == ephemeral and len(fake_slack.responses[url]) == 5


def test_unknown_method(fake_slack: FakeSlack) -> None:
    """A method the fake does not implement answers unknown_method."""
    assert _call(fake_slack, "chat.scheduleMessage").json()["error"] == "unknown_method"


def test_signature_matches_slacks_published_example() -> None:
    """sign_slack_request reproduces the example in Slack's request-verification docs."""
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
        "G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
        "collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F3977008"
        "85554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c"
        "447fce8b6703c"
    )
    headers = sign_slack_request("8f742231b10e8888abcd99yyyzzz85a5", body, 1531420618)
    assert headers == {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }


def test_sign_uses_the_fakes_secret_and_now(fake_slack: FakeSlack) -> None:
    """FakeSlack.sign signs with its own signing secret and the current time by default."""
    headers = fake_slack.sign(b"payload=%7B%7D")
    assert abs(int(headers["X-Slack-Request-Timestamp"]) - time.time()) < 5
    expected = sign_slack_request(
        fake_slack.signing_secret, "payload=%7B%7D", int(headers["X-Slack-Request-Timestamp"])
    )
    assert headers == expected


async def test_async_context_manager() -> None:
    """async with FakeSlack() serves on a free port and stops afterwards."""
    headers = {"Authorization": "Bearer xoxb-airlock-test-token"}
    async with httpx.AsyncClient() as client:
        async with FakeSlack() as fake:
            url = fake.base_url + "auth.test"
            assert (await client.post(url, headers=headers)).json()["ok"] is True
        with pytest.raises(httpx.ConnectError):
            await client.post(url, headers=headers)
