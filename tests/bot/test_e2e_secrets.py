"""End to end with Slack: a held ALTER ROLE ... PASSWORD reaches the approvers' channel, the
thread and the requester's DMs redacted, and runs with the exact password after the click."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.cards import APPROVE_ACTION_ID
from tests.bot.chatkit import (
    Psql,
    block_action,
    cards_in,
    chat_gateway,
    connection,
    interaction_body,
    post_signed,
    table_database,
    wait_for,
)
from tests.conftest import fresh_pg_database
from tests.gateway.postgres.scram import scram_matches
from tests.harness import RunningGateway
from tests.support.fake_slack import FakeSlack

UPSTREAM = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class World:
    gw: RunningGateway
    store: str  # the store's DSN, for asyncpg


@pytest.fixture
async def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeSlack
) -> AsyncIterator[World]:
    """A gateway on a PostgreSQL store in front of a fresh database, with Slack faked."""
    async with (
        table_database() as target,
        fresh_pg_database() as store_url,
        chat_gateway(
            tmp_path, monkeypatch, fake, connections=[connection(target)], store_url=store_url
        ) as running,
    ):
        dsn = make_url(store_url).set(drivername="postgresql")
        yield World(running, dsn.render_as_string(hide_password=False))


async def _upstream(sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(UPSTREAM)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def test_slack_never_sees_a_held_password(world: World, fake: FakeSlack) -> None:
    """The card, its redraw, the thread reply and the DMs show PASSWORD '<redacted>'; no Slack
    call and no row of the store carries the password; approved, the role has exactly it."""
    role, secret = f"sec_{uuid.uuid4().hex[:8]}", f"S3cret-{uuid.uuid4().hex}"
    await _upstream(f"CREATE ROLE {role} LOGIN")
    gw = world.gw
    try:
        token = gw.token("alice@example.com", ["eng"])
        psql = await Psql(gw, token, f"ALTER ROLE {role} PASSWORD '{secret}'").start()
        channel, ts, card = (await wait_for(lambda: cards_in(fake), what="the card"))[0]
        assert f"ALTER ROLE {role} PASSWORD '&lt;redacted&gt;'" in json.dumps(card["blocks"])
        review_id = card["blocks"][-1]["elements"][0]["value"]
        click = interaction_body(block_action("U0BOB", review_id, APPROVE_ACTION_ID, (channel, ts)))
        assert (await post_signed(gw, fake, click)).status_code == 200
        code, _, err = await psql.result()
        assert code == 0, err
        await wait_for(lambda: "Approved" in str(fake.messages[(channel, ts)]["blocks"]))
        await wait_for(lambda: fake.calls_to("chat.postMessage")[1:], what="the thread reply")
        assert secret not in json.dumps([(c.method, c.params) for c in fake.calls], default=str)
        store = await asyncpg.connect(world.store)
        try:
            dumped = await store.fetchval(
                "SELECT string_agg(t::text, E'\\n') FROM (SELECT r::text AS t FROM review r "
                "UNION ALL SELECT a::text FROM audit_event a "
                "UNION ALL SELECT o::text FROM outbox o) t"
            )
        finally:
            await store.close()
        assert review_id in dumped and secret not in dumped
        [row] = await _upstream("SELECT rolpassword FROM pg_authid WHERE rolname = $1", role)
        assert scram_matches(row["rolpassword"], secret)
    finally:
        await _upstream(f"DROP ROLE IF EXISTS {role}")
