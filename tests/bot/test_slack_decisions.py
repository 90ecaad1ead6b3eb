"""Slack clicks take the one decision path: a revoked approver's Approve changes nothing, and a
Slack profile spelling a person's e-mail in capitals is that person (so they cannot approve
their own request). Signed requests to a running gateway, the fake Slack Web API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from approvals import ReviewState
from bot.cards import APPROVE_ACTION_ID
from tests.bot.chatkit import (
    SLACK_USERS,
    block_action,
    cards_in,
    chat_gateway,
    command_body,
    connection,
    interaction_body,
    post_signed,
    wait_for,
)
from tests.harness import RunningGateway
from tests.identity.support import ADMIN
from tests.support.fake_slack import FakeSlack, SlackUser

# dave is mapped by e-mail only ([[people]] names no Slack id for him); this second Slack
# account's profile spells his e-mail in capitals.
DAVE_AGAIN = SlackUser("U0DAVE2", "dave2", email="DAVE@Example.COM", real_name="Dave")


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(users=(*SLACK_USERS, DAVE_AGAIN)) as slack:
        yield slack


@pytest.fixture
async def gw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeSlack
) -> AsyncIterator[RunningGateway]:
    async with chat_gateway(
        tmp_path,
        monkeypatch,
        fake,
        connections=[connection(access="request", allow_groups=["eng", "dba"])],
    ) as running:
        yield running


async def _request(gw: RunningGateway, fake: FakeSlack, user: str) -> tuple[str, tuple[str, str]]:
    """``user`` asks for access with /access; the review id and its card's reference."""
    body = command_body(
        "request pg-test for 1h because INC-42", user=user, response_url=fake.issue_response_url()
    )
    assert (await post_signed(gw, fake, body)).status_code == 200
    channel, ts, card = (await wait_for(lambda: cards_in(fake), what="a card"))[0]
    return card["blocks"][-1]["elements"][0]["value"], (channel, ts)


async def _click(
    gw: RunningGateway, fake: FakeSlack, user: str, review_id: str, ref: tuple[str, str]
) -> str:
    """``user`` clicks Approve; what they were told privately."""
    click = interaction_body(block_action(user, review_id, APPROVE_ACTION_ID, ref))
    assert (await post_signed(gw, fake, click)).status_code == 200
    told = await wait_for(lambda: fake.calls_to("chat.postEphemeral"), what="an explanation")
    assert told[-1].params["user"] == user
    return str(told[-1].params["text"])


async def _unchanged(gw: RunningGateway, review_id: str) -> None:
    review = await gw.runtime.repository.get_review(review_id)
    assert review is not None and (review.state, review.decisions) == (ReviewState.PENDING, ())
    assert await gw.runtime.repository.list_delegations(connection="pg-test") == []


async def test_a_revoked_approvers_click_changes_nothing(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """bob (dba) is revoked; his Approve on alice's request is refused with `revoked`, the
    review stays pending and no grant exists."""
    review_id, ref = await _request(gw, fake, "U0ALICE")
    async with gw.client(gw.token(*ADMIN)) as http:
        answer = await http.post(
            "/v1/revocations/subjects", json={"subject": "bob@example.com", "reason": "left"}
        )
    assert answer.status_code == 201, answer.text
    assert "revoked" in await _click(gw, fake, "U0BOB", review_id, ref)
    await _unchanged(gw, review_id)


async def test_a_profile_in_capitals_is_the_same_person(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """dave asks from his Slack account; his second account, whose profile says
    DAVE@Example.COM, cannot approve it (self_approval); nothing changes."""
    review_id, ref = await _request(gw, fake, "U0DAVE")
    review = await gw.runtime.repository.get_review(review_id)
    assert review is not None and review.requester.subject == "dave@example.com"
    assert "self_approval" in await _click(gw, fake, "U0DAVE2", review_id, ref)
    await _unchanged(gw, review_id)
