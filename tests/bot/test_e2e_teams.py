"""End to end with Teams: the real gateway on a PostgreSQL store, psql through the PostgreSQL
listener, and the fake Teams (login, Bot Connector, the client posting activities)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.cards.teams import APPROVE_VERB, DENY_VERB
from tests.bot.chatkit import Psql, table_database, wait_for, wait_until
from tests.bot.teamskit import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    DAVE,
    Teams,
    card_of,
    review_of,
    teams_connection,
    teams_fakes,
    teams_gateway,
)
from tests.conftest import fresh_pg_database
from tests.harness import RunningGateway
from tests.support.fake_teams import Posted, TeamsClient, new_key


@pytest.fixture
def teams() -> Iterator[Teams]:
    """The fake login service and Bot Connector, started for one test."""
    with teams_fakes() as fakes:
        yield fakes


@pytest.fixture
async def gw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teams: Teams
) -> AsyncIterator[RunningGateway]:
    """A gateway on a PostgreSQL store with chat.provider teams, in front of table t."""
    async with table_database() as target, fresh_pg_database() as store_url:
        conns = [teams_connection(target)]
        async with teams_gateway(
            tmp_path, monkeypatch, teams, connections=conns, store_url=store_url
        ) as running:
            yield running


async def _held_truncate(gw: RunningGateway, teams: Teams) -> tuple[Psql, Posted]:
    psql = await Psql(gw, gw.token("alice@example.com", ["eng"]), "TRUNCATE t").start()
    posted = (await wait_for(lambda: teams.connector.cards_in(CHANNEL), what="the card"))[0]
    assert "TRUNCATE t" in posted.text and psql.running()
    return psql, posted


async def test_approve_from_a_teams_card_lets_the_held_truncate_run(
    gw: RunningGateway, teams: Teams
) -> None:
    """psql's TRUNCATE t is held; its Adaptive Card opens a thread in the channel; bob's
    Approve invoke is answered with the approved card, the statement runs, the card is
    updated for everyone (PUT) and the thread gets a reply."""
    psql, posted = await _held_truncate(gw, teams)
    client = teams.client(gw)
    review_id = review_of(posted)
    answer = await client.send(
        client.invoke(BOB, APPROVE_VERB, {"review": review_id}, posted.conversation)
    )
    assert answer.status_code == 200
    assert answer.json()["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Approved by bob@example.com" in str(answer.json()["value"])
    code, out, err = await psql.result()
    assert code == 0, err
    assert "TRUNCATE TABLE" in out and "held for approval" in err
    await wait_for(lambda: "Approved by" in posted.text, what="the redraw for everyone")
    assert "actions" not in card_of(posted)
    replies = await wait_for(lambda: teams.connector.thread(posted.conversation), what="reply")
    assert "bob@example.com approved" in replies[0].text


async def test_deny_with_a_reason_reaches_the_client_and_an_empty_one_is_refused(
    gw: RunningGateway, teams: Teams
) -> None:
    """A Deny without a reason is refused on the card (nothing decided); dave (mapped by his
    roster UPN) denies with a reason; psql fails with 42501 and that reason."""
    psql, posted = await _held_truncate(gw, teams)
    client = teams.client(gw)
    data = {"review": review_of(posted), "reason": "   "}
    empty = await client.send(client.invoke(BOB, DENY_VERB, data, posted.conversation))
    assert "Say why" in str(empty.json()["value"]) and psql.running()
    data["reason"] = "not during business hours"
    answer = await client.send(client.invoke(DAVE, DENY_VERB, data, posted.conversation))
    assert "Denied by dave@example.com" in str(answer.json()["value"])
    code, _, err = await psql.result()
    assert code != 0
    assert "42501" in err and "not during business hours" in err and "dave@example.com" in err


async def test_a_non_approvers_click_changes_nothing_and_only_they_are_told(
    gw: RunningGateway, teams: Teams
) -> None:
    """carol (no approver) and alice (the requester) click Approve: each gets the card with a
    line saying why, the statement stays held, nothing is posted or redrawn for the channel."""
    psql, posted = await _held_truncate(gw, teams)
    client = teams.client(gw)
    review_id = review_of(posted)
    for user, code in ((CAROL, "not_an_approver"), (ALICE, "self_approval")):
        answer = await client.send(
            client.invoke(user, APPROVE_VERB, {"review": review_id}, posted.conversation)
        )
        assert code in str(answer.json()["value"])
    review = await gw.runtime.repository.get_review(review_id)
    assert review is not None and not review.decisions and psql.running()
    assert not teams.connector.updates and not teams.connector.thread(posted.conversation)
    assert psql.proc is not None
    psql.proc.kill()


async def test_forged_stale_and_wrong_audience_tokens_are_refused(
    gw: RunningGateway, teams: Teams
) -> None:
    """A click with no token (401), a token signed by an unlisted key, an expired one, or one
    for another bot (403 each) decides nothing."""
    psql, posted = await _held_truncate(gw, teams)
    client = teams.client(gw)
    review_id = review_of(posted)
    login, url = teams.login, teams.connector.url
    bad = {
        "forged": login.activity_token(url, key=new_key()),
        "stale": login.activity_token(url, exp=1_000_000_000, nbf=999_999_000),
        "audience": login.activity_token(url, aud="someone-else"),
    }
    click = client.invoke(BOB, APPROVE_VERB, {"review": review_id}, posted.conversation)
    assert (await client.send(click, token="")).status_code == 401
    for name, token in bad.items():
        click = client.invoke(BOB, APPROVE_VERB, {"review": review_id}, posted.conversation)
        assert (await client.send(click, token=token)).status_code == 403, name
    review = await gw.runtime.repository.get_review(review_id)
    assert review is not None and not review.decisions and psql.running()
    assert psql.proc is not None
    psql.proc.kill()


async def test_a_redelivered_click_is_answered_once(gw: RunningGateway, teams: Teams) -> None:
    """The same invoke delivered twice (same activity id) gets the same answer and records one
    vote; the thread gets one reply."""
    psql, posted = await _held_truncate(gw, teams)
    client = teams.client(gw)
    click = client.invoke(BOB, APPROVE_VERB, {"review": review_of(posted)}, posted.conversation)
    first, second = await client.send(click), await client.send(click)
    assert first.json() == second.json()
    assert (await psql.result())[0] == 0
    await wait_for(lambda: teams.connector.thread(posted.conversation), what="the reply")
    review = await gw.runtime.repository.get_review(review_of_from(posted))
    assert review is not None and len(review.decisions) == 1
    assert len(teams.connector.thread(posted.conversation)) == 1


def review_of_from(posted: Posted) -> str:
    """The review id of a card that may have been redrawn without buttons."""
    first = posted.history[0] if posted.history else posted.activity
    return review_of(Posted(posted.conversation, posted.id, first, posted.channel))


async def test_access_request_in_teams_gives_a_card_a_decision_and_a_delegation(
    gw: RunningGateway, teams: Teams
) -> None:
    """alice writes `access request ...` to the bot in her personal chat: she is answered,
    the card appears in the channel, bob approves it, and alice holds a delegation and is
    told in her personal chat."""
    client: TeamsClient = teams.client(gw)
    text = "access request pg-test for 2h because INC-42 hotfix"
    sent = await client.send(client.message(ALICE, text, f"a:{ALICE}", personal=True))
    assert sent.status_code == 200
    answer = await wait_for(lambda: teams.connector.personal(ALICE), what="the answer")
    assert "Requested access to pg-test" in answer[0].text
    posted = (await wait_for(lambda: teams.connector.cards_in(CHANNEL), what="the card"))[0]
    assert "INC-42 hotfix" in posted.text
    click = client.invoke(BOB, APPROVE_VERB, {"review": review_of(posted)}, posted.conversation)
    assert (await client.send(click)).status_code == 200

    async def granted() -> bool:
        grants = await gw.runtime.repository.list_delegations(subject="alice@example.com")
        return any(g.connection == "pg-test" for g in grants)

    await wait_until(granted, what="alice's delegation")
    await wait_for(lambda: len(teams.connector.personal(ALICE)) >= 2, what="alice's DM")
    assert "was approved by bob@example.com" in teams.connector.personal(ALICE)[-1].text


async def test_access_help_and_a_channel_mention(gw: RunningGateway, teams: Teams) -> None:
    """`@Airlock access help` in a channel answers the usage in that thread; a channel message
    without a mention of the bot is not answered."""
    client = teams.client(gw)
    thread = f"{CHANNEL};messageid=42"
    unaddressed = client.message(CAROL, "access help", thread, personal=False)
    unaddressed["entities"], unaddressed["text"] = [], "access help"
    assert (await client.send(unaddressed)).status_code == 200
    sent = client.message(CAROL, "access help", thread, personal=False)
    assert (await client.send(sent)).status_code == 200
    replies = await wait_for(lambda: teams.connector.thread(thread), what="the usage")
    assert "access request <connection>" in replies[0].text and len(replies) == 1
