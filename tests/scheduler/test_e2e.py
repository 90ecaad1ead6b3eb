"""End to end with a moved clock: the whole gateway (PostgreSQL listener, Slack delivery through
the fake Slack) and the scheduler's jobs run as `airlock scheduler run JOB` runs them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from approvals import Delegation, ReviewState, new_id
from gateway.cli.compose import scheduler_for
from scheduler import SchedulerConfig
from tests.bot.chatkit import (
    CHANNEL,
    Psql,
    cards_in,
    chat_gateway,
    connection,
    table_database,
    wait_for,
    wait_until,
)
from tests.conftest import PG_ADMIN_DSN
from tests.harness import RunningGateway
from tests.scheduler.kit import ALICE, MovableClock
from tests.support.fake_slack import FakeSlack


@pytest.fixture
async def gw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeSlack
) -> AsyncIterator[RunningGateway]:
    """pg-test on request only, reviews wait 10 minutes, escalation to #dba-leads and dba; the
    service's clock is a movable one (real time plus what the test adds)."""
    async with table_database() as target:
        conn = connection(
            target, access="request", review_timeout="10m", max_grant="8h",
            escalation={"channel": "#dba-leads", "groups": ["dba"]},
        )  # fmt: skip
        async with chat_gateway(tmp_path, monkeypatch, fake, connections=[conn]) as running:
            running.runtime.service.clock = MovableClock()
            yield running


def _clock(gw: RunningGateway) -> MovableClock:
    clock = gw.runtime.service.clock
    assert isinstance(clock, MovableClock)
    return clock


async def _run(gw: RunningGateway, job: str) -> str:
    done = await scheduler_for(gw.runtime).run_job(job)
    assert done.ran
    return done.summary


async def test_a_one_hour_grant_ends_at_one_hour_and_drops_its_session(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """alice's psql session rests on a 1h grant; when the clock reaches 1h, `expire` ends the
    grant and the live session is terminated (57P01); alice is told in chat it ended."""
    now = _clock(gw).now()
    grant = Delegation(
        id=new_id(), subject="alice@example.com", connection="pg-test", role=None,
        granted_by="bob@example.com", reason="INC-42", created_at=now,
        expires_at=now + timedelta(hours=1),
    )  # fmt: skip
    async with gw.runtime.repository.transaction() as tx:
        await tx.add_delegation(grant)
    psql = await _interactive_psql(gw, gw.token("alice@example.com", ["eng"]))
    assert psql.stdin is not None
    psql.stdin.write(b"SELECT 'connected';\n")
    await psql.stdin.drain()
    await wait_until(
        lambda: gw.runtime.repository.list_sessions(active=True), what="the live session"
    )
    # The session row exists before psql's first query has run: wait for the server to have
    # answered it, or the grant may end before the query does.
    await wait_until(_connected_query_done, what="the first query to finish upstream")
    _clock(gw).advance(timedelta(minutes=59))
    assert await _run(gw, "expire") == "0 grants ended"
    assert psql.returncode is None
    _clock(gw).advance(timedelta(minutes=1))
    assert await _run(gw, "expire") == "1 grants ended"
    await wait_until(lambda: _no_live_session(gw), within=5, what="the session to be dropped")
    psql.stdin.write(b"SELECT 'still here?';\n")
    psql.stdin.close()
    out, err = await asyncio.wait_for(psql.communicate(), 10)
    assert b"connected" in out and b"still here" not in out
    assert b"57P01" in err and b"revoked" in err
    dm = await wait_for(
        lambda: [m for (c, _), m in fake.snapshot().items() if c == fake.channel_id("U0ALICE")],
        what="alice's DM",
    )
    assert "ended" in str(dm) and "expired" in str(dm)


async def _connected_query_done() -> bool:
    """The upstream server has finished ``SELECT 'connected'`` (its backend is idle after it)."""
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE query = $1 AND state IN ('idle', 'idle in transaction')",
            "SELECT 'connected';",
        )
    finally:
        await conn.close()
    return bool(found)


async def _interactive_psql(gw: RunningGateway, token: str) -> asyncio.subprocess.Process:
    """psql reading statements from a pipe the test writes to (one session, kept open)."""
    env = dict(os.environ, PGPASSWORD=token, PGSSLMODE="disable")
    return await asyncio.create_subprocess_exec(
        "psql", "-X", "-At", "-v", "VERBOSITY=verbose", "-h", "127.0.0.1",
        "-p", str(gw.pg_port), "-U", "alice", "-d", "pg-test",
        env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _no_live_session(gw: RunningGateway) -> bool:
    return not await gw.runtime.repository.list_sessions(active=True)


async def test_a_review_past_its_timeout_fails_the_held_statement_with_57014(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """psql's TRUNCATE is held with a 10-minute timeout; moving the clock past it and running
    `review-timeouts` fails the statement with 57014 and redraws the card as expired."""
    async with gw.runtime.repository.transaction() as tx:
        now = _clock(gw).now()
        await tx.add_delegation(
            Delegation(new_id(), "alice@example.com", "pg-test", None, "bob@example.com",
                       "INC-42", now, now + timedelta(hours=8))
        )  # fmt: skip
    psql = await Psql(gw, gw.token("alice@example.com", ["eng"]), "TRUNCATE t").start()
    channel, ts, _ = (await wait_for(lambda: cards_in(fake), what="the card"))[0]
    _clock(gw).advance(timedelta(minutes=10, seconds=1))
    assert await _run(gw, "review-timeouts") == "1 reviews expired"
    code, _, err = await psql.result(within=10)
    assert code != 0 and "57014" in err
    await wait_for(lambda: "Expired" in str(fake.messages[(channel, ts)]), what="the redraw")
    assert "airlock_approve" not in str(fake.messages[(channel, ts)])


async def test_reminders_reach_the_thread_then_escalate(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """An unanswered access request: reminder 1 in the card's thread at 5 minutes; at the last
    step (backoff 1, 1, 1 minutes here) the card goes to #dba-leads and to the dba people, and
    the thread says where; after a decision every copy of the card is redrawn."""
    clock = _clock(gw)
    review = await gw.runtime.service.request_access(
        ALICE, "pg-test", role=None, duration=timedelta(hours=1), reason="INC-42"
    )
    channel, ts, _ = (await wait_for(lambda: cards_in(fake), what="the card"))[0]
    scheduler = scheduler_for(gw.runtime)
    scheduler.jobs.config = SchedulerConfig(reminder_backoff=(timedelta(minutes=1),) * 3)

    def thread() -> list[str]:
        return [str(m) for (c, _), m in fake.snapshot().items() if m.get("thread_ts") == ts]

    clock.advance(timedelta(minutes=1))
    await scheduler.run_job("reminders")
    await wait_for(lambda: any("Reminder 1 of 3" in m for m in thread()), what="reminder 1")
    clock.advance(timedelta(minutes=2))
    await scheduler.run_job("reminders")
    await wait_for(lambda: any("Escalated" in m for m in thread()), what="the escalation note")
    assert any("Reminder 3 of 3" in m for m in thread())
    leads = await wait_for(lambda: cards_in(fake, "#dba-leads"), what="the escalated card")
    assert "airlock_approve" in str(leads[0][2])
    dm = await wait_for(
        lambda: [m for (c, _), m in fake.snapshot().items() if c == fake.channel_id("U0BOB")],
        what="bob's copy",
    )
    assert review.id in str(dm)
    await gw.runtime.service.cancel(review.id, ALICE)
    await wait_for(
        lambda: "airlock_approve" not in str(fake.snapshot()[(leads[0][0], leads[0][1])]),
        what="the escalated card redrawn",
    )
    final = await gw.runtime.repository.get_review(review.id)
    assert final is not None and final.state is ReviewState.CANCELLED
    assert channel == fake.channel_id(CHANNEL)
