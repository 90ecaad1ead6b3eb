"""The Slack app end to end over HTTP: signed requests to /slack/events of a running gateway,
the fake Slack Web API on the other side, the store as the judge of what changed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from approvals import ReviewState
from bot.cards import APPROVE_ACTION_ID, DENY_ACTION_ID, DENY_CALLBACK_ID, REASON_BLOCK_ID
from tests.bot.chatkit import (
    block_action,
    cards_in,
    chat_gateway,
    command_body,
    connection,
    interaction_body,
    post_signed,
    view_submission,
    wait_for,
    wait_until,
)
from tests.harness import RunningGateway
from tests.support.fake_slack import FakeSlack

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"


@pytest.fixture
async def gw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeSlack
) -> AsyncIterator[RunningGateway]:
    conn = connection(access="request", roles={"read_only": {"username": "postgres"}})
    async with chat_gateway(tmp_path, monkeypatch, fake, connections=[conn]) as running:
        yield running


async def _request_card(gw: RunningGateway, fake: FakeSlack) -> tuple[str, tuple[str, str]]:
    """alice asks for access with /access; returns the review id and its card's reference."""
    body = command_body(
        "request pg-test as read_only for 2h because INC-42 orders are stuck",
        user=ALICE,
        response_url=fake.issue_response_url(),
    )
    assert (await post_signed(gw, fake, body)).status_code == 200
    channel, ts, card = (await wait_for(lambda: cards_in(fake), what="a card"))[0]
    return card["blocks"][-1]["elements"][0]["value"], (channel, ts)


def _blocks_text(message: dict[str, Any]) -> str:
    return str(message["blocks"])


async def test_access_command_posts_a_card_within_a_second(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """A signed `/access request` is acked at once and its card is in the channel in < 1 s."""
    url = fake.issue_response_url()
    body = command_body(
        "request pg-test as read_only for 2h because INC-42", user=ALICE, response_url=url
    )
    started = time.perf_counter()
    answer = await post_signed(gw, fake, body)
    acked = time.perf_counter() - started
    cards = await wait_for(lambda: cards_in(fake), what="a card")
    elapsed = time.perf_counter() - started
    print(f"\n/access request: acked in {acked * 1e3:.0f} ms, card in {elapsed * 1e3:.0f} ms")
    assert answer.status_code == 200 and acked < 3.0
    assert elapsed < 1.0
    (_, _, card), *rest = cards
    assert not rest
    review_id = card["blocks"][-1]["elements"][0]["value"]
    review = await gw.runtime.repository.get_review(review_id)
    assert review is not None and review.requester.subject == "alice@example.com"
    assert review.access is not None and review.access.role == "read_only"
    assert [b["value"] for b in card["blocks"][-1]["elements"]] == [review_id, review_id]
    replies = await wait_for(lambda: fake.responses[url], what="the command's answer")
    assert review_id in replies[0]["text"] and replies[0].get("response_type") == "ephemeral"


async def test_approve_click_records_and_redraws_without_buttons(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """bob's signed Approve click decides the review; the card is redrawn naming bob, with no
    buttons; a thread reply records it and alice gets a DM."""
    review_id, ref = await _request_card(gw, fake)
    click = interaction_body(block_action(BOB, review_id, APPROVE_ACTION_ID, ref))
    assert (await post_signed(gw, fake, click)).status_code == 200

    async def decided() -> bool:
        review = await gw.runtime.repository.get_review(review_id)
        return review is not None and review.state is ReviewState.APPROVED

    await wait_until(decided, what="the approval")
    await wait_for(lambda: "actions" not in str(fake.messages[ref]["blocks"]), what="redraw")
    card = fake.messages[ref]
    assert all(block["type"] != "actions" for block in card["blocks"])
    assert "Approved* by bob@example.com" in _blocks_text(card)
    thread = await wait_for(
        lambda: [m for m in fake.snapshot().values() if m.get("thread_ts") == ref[1]],
        what="the thread reply",
    )
    assert len(thread) == 1 and "bob@example.com" in _blocks_text(thread[0])
    dm = fake.channel_id("U0ALICE")
    dms = await wait_for(lambda: [m for (c, _), m in fake.snapshot().items() if c == dm], what="DM")
    assert "approved by bob@example.com" in _blocks_text(dms[0])
    grants = await gw.runtime.repository.list_delegations(subject="alice@example.com")
    assert [g.granted_by for g in grants] == ["bob@example.com"]


@pytest.mark.parametrize(
    ("clicker", "action", "code"),
    [
        (CAROL, APPROVE_ACTION_ID, "not_an_approver"),
        (ALICE, APPROVE_ACTION_ID, "self_approval"),
        (CAROL, DENY_ACTION_ID, "not_an_approver"),
        (ALICE, DENY_ACTION_ID, "self_approval"),
    ],
)
async def test_refused_click_changes_nothing_and_is_explained_privately(
    gw: RunningGateway, fake: FakeSlack, clicker: str, action: str, code: str
) -> None:
    """A non-approver's or the requester's Approve or Deny leaves the review pending and the
    card as it was (no reason form either); only the clicker is told why, ephemerally."""
    review_id, ref = await _request_card(gw, fake)
    before = dict(fake.messages[ref])
    trigger = fake.issue_trigger_id()
    click = interaction_body(block_action(clicker, review_id, action, ref, trigger))
    assert (await post_signed(gw, fake, click)).status_code == 200
    told = await wait_for(lambda: fake.calls_to("chat.postEphemeral"), what="an explanation")
    assert told[0].params["user"] == clicker and code in told[0].params["text"]
    review = await gw.runtime.repository.get_review(review_id)
    assert review is not None and review.state is ReviewState.PENDING and not review.decisions
    assert fake.messages[ref] == before
    assert not fake.calls_to("chat.update") and not fake.calls_to("views.open")


async def test_deny_opens_a_reason_modal_and_its_reason_is_recorded(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """Deny opens the reason modal with the click's trigger id; submitting it denies the
    review with that reason, and the card says so."""
    review_id, ref = await _request_card(gw, fake)
    trigger = fake.issue_trigger_id()
    click = interaction_body(block_action(BOB, review_id, DENY_ACTION_ID, ref, trigger))
    assert (await post_signed(gw, fake, click)).status_code == 200
    opened = await wait_for(lambda: fake.calls_to("views.open"), what="the modal")
    assert opened[0].response["ok"] and opened[0].params["trigger_id"] == trigger
    view = opened[0].params["view"]
    assert view["callback_id"] == DENY_CALLBACK_ID and view["private_metadata"] == review_id

    reason = "not during business hours"
    submit = view_submission(BOB, DENY_CALLBACK_ID, review_id, {REASON_BLOCK_ID: reason})
    submit["view"]["state"]["values"] = {REASON_BLOCK_ID: {"reason": {"value": reason}}}
    answer = await post_signed(gw, fake, interaction_body(submit))
    assert answer.status_code == 200 and answer.content in (b"", b"{}")

    async def denied() -> bool:
        review = await gw.runtime.repository.get_review(review_id)
        return review is not None and review.state is ReviewState.DENIED

    await wait_until(denied, what="the denial")
    card = await wait_for(lambda: "Denied" in _blocks_text(fake.messages[ref]), what="redraw")
    assert card and reason in _blocks_text(fake.messages[ref])


async def test_blank_deny_reason_is_refused_inside_the_modal(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """A whitespace-only reason is answered with an inline modal error and decides nothing."""
    review_id, _ = await _request_card(gw, fake)
    submit = view_submission(BOB, DENY_CALLBACK_ID, review_id, {})
    submit["view"]["state"]["values"] = {REASON_BLOCK_ID: {"reason": {"value": "   "}}}
    answer = await post_signed(gw, fake, interaction_body(submit))
    assert answer.json()["response_action"] == "errors"
    review = await gw.runtime.repository.get_review(review_id)
    assert review is not None and review.state is ReviewState.PENDING


@pytest.mark.parametrize("forgery", ["wrong-secret", "stale"])
async def test_forged_or_stale_signature_gets_401_and_changes_nothing(
    gw: RunningGateway, fake: FakeSlack, forgery: str
) -> None:
    """A click signed with the wrong secret, or 5 minutes and 1 second ago, is refused 401."""
    review_id, ref = await _request_card(gw, fake)
    calls = len(fake.calls)
    click = interaction_body(block_action(BOB, review_id, APPROVE_ACTION_ID, ref))
    if forgery == "stale":
        answer = await post_signed(gw, fake, click, timestamp=int(time.time()) - 301)
    else:
        answer = await post_signed(gw, fake, click, secret="not-the-signing-secret")
    assert answer.status_code == 401
    review = await gw.runtime.repository.get_review(review_id)
    assert review is not None and review.state is ReviewState.PENDING and not review.decisions
    assert len(fake.calls) == calls


async def test_retried_and_double_clicks_record_one_decision(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """The same Approve delivered three times (a double click and a Slack retry) records one
    decision and one thread reply; the later copies are told it is already decided."""
    review_id, ref = await _request_card(gw, fake)
    click = interaction_body(block_action(BOB, review_id, APPROVE_ACTION_ID, ref))
    for retry in (None, None, 1):
        assert (await post_signed(gw, fake, click, retry=retry)).status_code == 200
    told = await wait_for(
        lambda: len(fake.calls_to("chat.postEphemeral")) == 2, what="two explanations"
    )
    assert told
    texts = [c.params["text"] for c in fake.calls_to("chat.postEphemeral")]
    assert all("already" in text for text in texts)
    review = await gw.runtime.repository.get_review(review_id)
    assert review is not None and len(review.decisions) == 1
    dm = fake.channel_id("U0ALICE")  # the DM is the last thing a reconcile says
    await wait_for(lambda: any(c == dm for c, _ in fake.snapshot()), what="the DM")
    assert "Approved" in _blocks_text(fake.messages[ref])
    thread = [m for m in fake.snapshot().values() if m.get("thread_ts") == ref[1]]
    assert len(thread) == 1
