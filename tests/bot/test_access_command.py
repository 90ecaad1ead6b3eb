"""`/access` in Slack: help, the request form for missing parts, list, status, revoke, App Home,
and strict mapping of Slack users to people."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from approvals import ReviewState
from bot.cards import APPROVE_ACTION_ID
from bot.slack.views import REQUEST_CALLBACK_ID
from tests.bot.chatkit import (
    SLACK_USERS,
    block_action,
    cards_in,
    chat_gateway,
    command_body,
    connection,
    event_body,
    interaction_body,
    post_signed,
    view_submission,
    wait_for,
    wait_until,
)
from tests.harness import RunningGateway
from tests.support.fake_slack import FakeSlack, SlackUser


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    users = (
        *SLACK_USERS,
        SlackUser("U0NOMAIL", "nomail"),
        SlackUser("U0EVE", "eve", "bob@example.com"),
        SlackUser("U0FRANK", "frank", "frank@example.com"),
    )
    with FakeSlack(users=users) as slack:
        yield slack


@pytest.fixture
async def gw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeSlack
) -> AsyncIterator[RunningGateway]:
    conn = connection(access="request")
    async with chat_gateway(tmp_path, monkeypatch, fake, connections=[conn]) as running:
        yield running


async def _command(gw: RunningGateway, fake: FakeSlack, text: str, user: str = "U0ALICE") -> str:
    """Run `/access <text>` as ``user``; returns the private answer's text."""
    url = fake.issue_response_url()
    body = command_body(text, user=user, response_url=url, trigger_id=fake.issue_trigger_id())
    assert (await post_signed(gw, fake, body)).status_code == 200
    answers = await wait_for(lambda: fake.responses[url], what=f"the answer to {text!r}")
    assert answers[0]["response_type"] == "ephemeral"
    return str(answers[0].get("text", "")) + json.dumps(answers[0].get("blocks", []))


async def _approved_grant(gw: RunningGateway, fake: FakeSlack) -> str:
    """alice asks, bob approves; returns the grant's id."""
    answer = await _command(gw, fake, "request pg-test for 1h because INC-7")
    (channel, ts, card), *_ = await wait_for(lambda: cards_in(fake), what="the card")
    review_id = card["blocks"][-1]["elements"][0]["value"]
    assert review_id in answer
    click = interaction_body(block_action("U0BOB", review_id, APPROVE_ACTION_ID, (channel, ts)))
    await post_signed(gw, fake, click)

    async def granted() -> list[Any]:
        return await gw.runtime.repository.list_delegations(subject="alice@example.com")

    return str((await wait_until(granted, what="the grant"))[0].id)


async def test_help_and_malformed_commands_answer_with_usage(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """`help` shows the usage; a bad duration or word order names the problem; nothing opens."""
    assert "/access request <connection>" in await _command(gw, fake, "help")
    assert "`banana` is not a duration" in await _command(
        gw, fake, "request pg-test for banana because x"
    )
    assert "the order is" in await _command(gw, fake, "request pg-test for 2h as admin because x")
    assert "unknown command" in await _command(gw, fake, "grant me everything")
    assert not fake.calls_to("views.open") and not cards_in(fake)


async def test_missing_parts_open_a_form_whose_submission_requests_access(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """`/access request pg-test` opens a form (connection filled in); a bad duration is refused
    inside it; a good submission files the request and its card appears."""
    trigger = fake.issue_trigger_id()
    body = command_body("request pg-test", user="U0ALICE", trigger_id=trigger)
    assert (await post_signed(gw, fake, body)).status_code == 200
    opened = await wait_for(lambda: fake.calls_to("views.open"), what="the form")
    view = opened[0].params["view"]
    assert opened[0].response["ok"] and view["callback_id"] == REQUEST_CALLBACK_ID
    fields = {b["block_id"]: b["element"].get("initial_value") for b in view["blocks"][1:]}
    assert fields == {"connection": "pg-test", "role": None, "duration": None, "reason": None}

    values = {"connection": "pg-test", "duration": "forever", "reason": "INC-9"}
    bad = view_submission("U0ALICE", REQUEST_CALLBACK_ID, view["private_metadata"], values)
    answer = await post_signed(gw, fake, interaction_body(bad))
    assert answer.json() == {
        "response_action": "errors",
        "errors": {"duration": "Use e.g. 30m, 2h or 1d."},
    }
    good = view_submission(
        "U0ALICE", REQUEST_CALLBACK_ID, view["private_metadata"], {**values, "duration": "30m"}
    )
    assert (await post_signed(gw, fake, interaction_body(good))).status_code == 200
    await wait_for(lambda: cards_in(fake), what="the card")
    told = await wait_for(lambda: fake.calls_to("chat.postEphemeral"), what="a confirmation")
    assert told[0].params["channel"] == "C0GENERAL" and "Requested access" in told[0].params["text"]
    (review,) = await gw.runtime.repository.list_reviews(requester="alice@example.com")
    assert review.access is not None and review.access.reason == "INC-9"


async def test_list_status_and_revoke_a_grant(gw: RunningGateway, fake: FakeSlack) -> None:
    """After approval `/access list` shows the grant, `/access status` the card, and
    `/access revoke` ends it through the API (the holder is then told by DM)."""
    grant = await _approved_grant(gw, fake)
    listing = await _command(gw, fake, "list")
    assert grant in listing and "pg-test" in listing
    (review,) = await gw.runtime.repository.list_reviews(requester="alice@example.com")
    assert "Approved* by bob@example.com" in await _command(gw, fake, f"status {review.id}")
    assert "Nothing you may see" in await _command(gw, fake, f"status {review.id}", "U0FRANK")
    assert "is revoked" in await _command(gw, fake, f"revoke {grant} because done")
    revoked = await gw.runtime.repository.get_delegation(grant)
    assert revoked is not None and revoked.revoked_by == "alice@example.com"
    assert revoked.revoke_reason == "done"
    dm = fake.channel_id("U0ALICE")
    await wait_for(
        lambda: any(c == dm and "revoked" in str(m) for (c, _), m in fake.snapshot().items()),
        what="the revocation DM",
    )


async def test_others_cannot_revoke_a_grant(gw: RunningGateway, fake: FakeSlack) -> None:
    """A grant is the holder's, its owners' or an admin's to revoke: bob is told no."""
    grant = await _approved_grant(gw, fake)
    assert "`forbidden`" in await _command(gw, fake, f"revoke {grant}", "U0BOB")
    held = await gw.runtime.repository.get_delegation(grant)
    assert held is not None and held.revoked_at is None


async def test_app_home_lists_pending_approvals(gw: RunningGateway, fake: FakeSlack) -> None:
    """Opening App Home publishes bob's pending approvals (alice's request among them)."""
    await _command(gw, fake, "request pg-test for 1h because INC-8")
    (review,) = await gw.runtime.repository.list_reviews(requester="alice@example.com")
    event = {"type": "app_home_opened", "user": "U0BOB", "channel": "D0BOB", "tab": "home"}
    body = event_body(event)
    answer = await post_signed(gw, fake, body, content_type="application/json")
    assert answer.status_code == 200
    await wait_for(lambda: "U0BOB" in fake.home_views, what="App Home")
    text = json.dumps(fake.home_views["U0BOB"]["blocks"])
    assert review.id in text and "Waiting for your approval" in text and "INC-8" in text


@pytest.mark.parametrize(
    ("user", "why"),
    [
        ("U0NOMAIL", "no e-mail"),
        ("U0EVE", "mapped to another Slack user"),
    ],
)
async def test_unmapped_slack_users_are_refused(
    gw: RunningGateway, fake: FakeSlack, user: str, why: str
) -> None:
    """A Slack user with no e-mail, or one whose e-mail belongs to another Slack id in
    [[people]], is refused and nothing is recorded."""
    answer = await _command(gw, fake, "request pg-test for 1h because x", user)
    assert why in answer and "unknown_person" in answer
    assert not await gw.runtime.repository.list_reviews()
    assert (await gw.runtime.repository.list_reviews(state=ReviewState.PENDING)) == []
