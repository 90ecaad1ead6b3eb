"""End to end with the PostgreSQL gateway: psql's held TRUNCATE waits for a Slack click."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cards import APPROVE_ACTION_ID, DENY_ACTION_ID, DENY_CALLBACK_ID, REASON_BLOCK_ID
from tests.bot.chatkit import (
    Psql,
    block_action,
    cards_in,
    chat_gateway,
    connection,
    interaction_body,
    post_signed,
    table_database,
    view_submission,
    wait_for,
)
from tests.conftest import fresh_pg_database
from tests.harness import RunningGateway
from tests.support.fake_slack import FakeSlack


@pytest.fixture
async def gw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeSlack
) -> AsyncIterator[RunningGateway]:
    """A gateway on a PostgreSQL store (LISTEN/NOTIFY wakes the bot) in front of table t."""
    async with table_database() as target, fresh_pg_database() as store_url:
        conns = [connection(target)]
        async with chat_gateway(
            tmp_path, monkeypatch, fake, connections=conns, store_url=store_url
        ) as running:
            yield running


async def _held_truncate(gw: RunningGateway, fake: FakeSlack) -> tuple[Psql, str, tuple[str, str]]:
    token = gw.token("alice@example.com", ["eng"])
    psql = await Psql(gw, token, "TRUNCATE t").start()
    channel, ts, card = (await wait_for(lambda: cards_in(fake), what="the card"))[0]
    assert "TRUNCATE t" in str(card["blocks"]) and psql.running()
    return psql, card["blocks"][-1]["elements"][0]["value"], (channel, ts)


async def test_approve_click_lets_the_held_truncate_run(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """psql's TRUNCATE t is held, its card appears, bob's Approve makes the statement complete."""
    psql, review_id, ref = await _held_truncate(gw, fake)
    click = interaction_body(block_action("U0BOB", review_id, APPROVE_ACTION_ID, ref))
    assert (await post_signed(gw, fake, click)).status_code == 200
    code, out, err = await psql.result()
    assert code == 0, err
    assert "TRUNCATE TABLE" in out
    assert "held for approval" in err
    await wait_for(lambda: "Approved" in str(fake.messages[ref]["blocks"]), what="the redraw")


async def test_deny_with_reason_fails_the_statement_with_42501(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """bob denies in the reason modal; psql's statement fails with 42501 and bob's reason."""
    psql, review_id, ref = await _held_truncate(gw, fake)
    trigger = fake.issue_trigger_id()
    click = interaction_body(block_action("U0BOB", review_id, DENY_ACTION_ID, ref, trigger))
    assert (await post_signed(gw, fake, click)).status_code == 200
    await wait_for(lambda: fake.calls_to("views.open"), what="the reason modal")
    reason = "not during business hours"
    submit = view_submission("U0BOB", DENY_CALLBACK_ID, review_id, {})
    submit["view"]["state"]["values"] = {REASON_BLOCK_ID: {"reason": {"value": reason}}}
    assert (await post_signed(gw, fake, interaction_body(submit))).status_code == 200
    code, _, err = await psql.result()
    assert code != 0
    assert "42501" in err and reason in err and "bob@example.com" in err
