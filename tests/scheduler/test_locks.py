"""Several scheduler replicas on one PostgreSQL run each job once per tick (advisory lock plus
the tick's row); on SQLite one process runs a job once at a time."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from scheduler import JOBS, SchedulerConfig, tick_of
from store import Database, InProcessBus, PostgresBus, SchedulerStore, SqlRepository, upgrade
from tests.scheduler.kit import World, world

TICK = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def replicas(pg_database_url: str) -> AsyncIterator[tuple[World, World]]:
    """Two schedulers, each with its own engine and bus, on one PostgreSQL database."""
    await upgrade(pg_database_url)
    config = SchedulerConfig(interval=timedelta(seconds=1))
    async with (
        Database(pg_database_url) as db_a,
        Database(pg_database_url) as db_b,
        PostgresBus(db_a) as bus_a,
        PostgresBus(db_b) as bus_b,
    ):
        yield (
            world(SqlRepository(db_a, bus_a), config=config),
            world(SqlRepository(db_b, bus_b), config=config),
        )


async def test_two_replicas_racing_for_one_tick_run_it_once(replicas: tuple[World, World]) -> None:
    """Both replicas start every job for the same tick at the same moment: each job runs on
    exactly one of them; asked again for that tick, neither runs it; the next tick runs."""
    a, b = replicas
    for job in JOBS:
        runs = await asyncio.gather(a.scheduler.run_job(job, TICK), b.scheduler.run_job(job, TICK))
        assert sorted(r.ran for r in runs) == [False, True], job
        again = await b.scheduler.run_job(job, TICK)
        assert not again.ran
        assert (await a.scheduler.run_job(job, TICK + timedelta(minutes=1))).ran
    ticks = await a.scheduler.store.runs("expire")
    assert [t for t, _ in ticks] == [TICK, TICK + timedelta(minutes=1)]


async def test_a_replica_still_running_a_job_keeps_the_other_out(
    replicas: tuple[World, World],
) -> None:
    """While one replica holds a job's lock (even for an on-demand run), the other skips it."""
    a, b = replicas
    async with a.scheduler.store.exclusive("digest", None) as mine:
        assert mine
        assert not (await b.scheduler.run_job("digest")).ran
        assert not (await b.scheduler.run_job("digest", TICK)).ran
    assert (await b.scheduler.run_job("digest", TICK)).ran


async def test_a_failed_run_gives_its_tick_back(replicas: tuple[World, World]) -> None:
    """A run that fails rolls back its claim, so another replica can still run that tick."""
    a, b = replicas
    with pytest.raises(RuntimeError):
        async with a.scheduler.store.exclusive("expire", TICK) as mine:
            assert mine
            raise RuntimeError("the job failed")
    assert (await b.scheduler.run_job("expire", TICK)).ran


async def test_two_running_apschedulers_share_the_ticks(replicas: tuple[World, World]) -> None:
    """Two AsyncIOSchedulers with a 1 s interval for ~3.5 s: every tick of every job ran on
    exactly one replica, and between them they ran every tick."""
    a, b = replicas
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.scheduler.run(stop)) for w in (a, b)]
    await asyncio.sleep(3.5)
    stop.set()
    await asyncio.gather(*tasks)
    ran = [(r.job, r.tick) for w in (a, b) for r in w.scheduler.history if r.ran and r.tick]
    per_tick = Counter(ran)
    assert per_tick and max(per_tick.values()) == 1
    for job in (j for j in JOBS if j != "digest"):  # the digest is weekly
        ticks = sorted(t for j, t in per_tick if j == job)
        assert len(ticks) >= 3, job
        assert all(later - t == timedelta(seconds=1) for t, later in itertools.pairwise(ticks))
    stored = [t for t, _ in await a.scheduler.store.runs("expire")]
    assert stored == sorted(t for j, t in per_tick if j == "expire")


async def test_sqlite_runs_one_instance_of_a_job_at_a_time(sqlite_url: str) -> None:
    """On SQLite an in-process lock keeps a second run of a job out while one is running, and
    a tick is run once."""
    await upgrade(sqlite_url)
    async with Database(sqlite_url) as database:
        w = world(SqlRepository(database, InProcessBus()))
        store: SchedulerStore = w.scheduler.store
        async with store.exclusive("expire", None) as mine:
            assert mine
            assert not (await w.scheduler.run_job("expire")).ran
        assert (await w.scheduler.run_job("expire", TICK)).ran
        assert not (await w.scheduler.run_job("expire", TICK)).ran


def test_ticks_are_aligned_across_replicas() -> None:
    """Every replica maps a moment to the same tick: multiples of the interval since 2000."""
    minute = timedelta(minutes=1)
    at = datetime(2026, 3, 2, 9, 0, 59, 999_000, tzinfo=UTC)
    assert tick_of(at, minute) == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for interval in (timedelta(seconds=7), minute, timedelta(hours=1)):
        tick = tick_of(at, interval)
        assert tick <= at < tick + interval and tick_of(tick, interval) == tick
