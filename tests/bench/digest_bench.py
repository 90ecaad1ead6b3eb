"""Benchmark of the weekly digest: 10,000 grants across 1,000 owners (one connection each, ten
grants per connection, one recorded session per grant, a standing group per connection).

Run: .venv/bin/python tests/bench/digest_bench.py [grants] [owners] [--postgres]

Prints the wall time of the `digest` job (read every grant and session, group by owner, store
1,000 digests and their outbox events in batches) and of rendering every owner's Slack pages
(then checked against the fake Slack's validator, not timed). The goal: both together under
10 s. It also prints what the bot spends per digest reading its lines' statuses when it posts.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from approvals import AccessMode, ApprovalService, ApproverRule, Connection, Owners
from bot.cards.digest import digest_card, render_slack_digest
from scheduler import Jobs, Scheduler, SchedulerConfig
from store import Database, InProcessBus, PostgresBus, SchedulerStore, SqlRepository, upgrade
from store.tables import metadata
from tests.conftest import fresh_pg_database
from tests.scheduler.kit import MovableClock
from tests.support.fake_slack import validate_blocks

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _connections(owners: int) -> dict[str, Connection]:
    return {
        f"pg-{i:04d}": Connection(
            f"pg-{i:04d}", "postgres", AccessMode.STANDING, frozenset({"eng"}),
            Owners(None, frozenset({f"owner{i:04d}@example.com"})),
            ApproverRule(frozenset({"dba"})),
        )
        for i in range(owners)
    }  # fmt: skip


async def _seed(database: Database, grants: int, names: list[str]) -> None:
    delegations, sessions = [], []
    for i in range(grants):
        conn = names[i % len(names)]
        used = NOW - timedelta(days=(i % 60))
        delegations.append({
            "id": f"grant-{i:06d}", "subject": f"user{i}@example.com", "connection": conn,
            "role": "rw", "granted_by": "bob@example.com", "reason": "INC-42",
            "created_at": NOW - timedelta(days=70), "expires_at": NOW + timedelta(days=30),
            "break_glass": False, "use_count": i % 17, "last_used_at": None,
        })  # fmt: skip
        sessions.append({
            "id": f"session-{i:06d}", "subject": f"user{i}@example.com",
            "identity": {"subject": f"user{i}@example.com", "groups": ["eng"]},
            "chain": f"user{i}@example.com → ci-runner", "connection": conn,
            "started_at": used, "stats": {"delegation": f"grant-{i:06d}"},
        })  # fmt: skip
    async with database.write() as session:
        await session.execute(insert(metadata.tables["delegation"]), delegations)
        await session.execute(insert(metadata.tables["session"]), sessions)


async def bench(grants: int, owners: int, url: str) -> float:
    await upgrade(url)
    async with Database(url) as database:
        bus = PostgresBus(database) if database.is_postgres else InProcessBus()
        await bus.start()
        try:
            connections = _connections(owners)
            await _seed(database, grants, list(connections))
            repository = SqlRepository(database, bus)
            clock = MovableClock(NOW)
            service = ApprovalService(repository, bus, clock, connections)
            store = SchedulerStore(database)
            jobs = Jobs(service, repository, store, SchedulerConfig())
            scheduler = Scheduler(jobs, store, say=lambda _: None)
            started = time.perf_counter()
            run = await scheduler.run_job("digest")
            job = time.perf_counter() - started
            print(f"digest job: {run.summary} in {job:.2f} s")
            digests = await jobs.digests.recent(limit=owners + 1)
            started = time.perf_counter()
            pages = [p for d in digests for p in render_slack_digest(digest_card(d, {}))]
            rendered = time.perf_counter() - started
            print(f"rendered {len(pages)} Slack pages in {rendered:.2f} s")
            assert all(validate_blocks(page) == [] for page in pages)
            started = time.perf_counter()
            for digest in digests[:100]:
                await jobs.digests.statuses(digest, NOW)
            per = (time.perf_counter() - started) * 10
            print(f"delivery side: reading a digest's line statuses takes {per:.1f} ms")
            return job + rendered
        finally:
            await bus.close()


async def main(argv: list[str]) -> int:
    numbers = [int(a) for a in argv if a.isdigit()]
    grants, owners = (numbers + [10_000, 1_000][len(numbers) :])[:2]
    print(f"{grants:,} grants across {owners:,} owners")
    if "--postgres" in argv:
        async with fresh_pg_database() as url:
            total = await bench(grants, owners, url)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            total = await bench(grants, owners, f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
    verdict = "OK" if total < 10 else "TOO SLOW"
    print(f"total {total:.2f} s (goal < 10 s): {verdict}")
    return 0 if total < 10 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
