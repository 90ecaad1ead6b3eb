"""Running the jobs: APScheduler 3 (``AsyncIOScheduler``) on this event loop, each run under the
store's once-per-tick claim.

Ticks are aligned across replicas: the interval jobs fire on multiples of ``interval`` since
2000-01-01 UTC, the digest on its weekly cron time, so every replica computes the same tick for a
run and :meth:`store.SchedulerStore.exclusive` lets exactly one of them run it. Ticks are wall
time (APScheduler's); what a job finds due is decided by the domain's Clock (tests move it).

A job that fails is logged and tried again at its next tick; one slow job never holds up the
others (APScheduler runs each as its own task, at most one instance of a job at a time). On
shutdown no new run starts, runs in progress get ``SHUTDOWN_GRACE_S`` to finish, and what is
still running then is cancelled (its transaction rolls back, its tick can run elsewhere).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.base import BaseTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from scheduler.jobs import JOBS, Jobs
from store import SchedulerStore

__all__ = ["EPOCH", "JobRun", "Scheduler", "tick_of"]

log = logging.getLogger("scheduler")

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
SHUTDOWN_GRACE_S = 5.0
_EVERY = tuple(name for name in JOBS if name != "digest")  # on the interval


def tick_of(at: datetime, interval: timedelta) -> datetime:
    """The tick ``at`` belongs to: the last multiple of ``interval`` since :data:`EPOCH`."""
    step = int(interval.total_seconds() * 1_000_000)
    elapsed = int((at - EPOCH).total_seconds() * 1_000_000)
    return EPOCH + timedelta(microseconds=elapsed - elapsed % step)


@dataclass(frozen=True, slots=True)
class JobRun:
    """What one attempt to run a job did: ``ran`` False means another replica had it."""

    job: str
    ran: bool
    summary: str = ""
    seconds: float = 0.0
    tick: datetime | None = None


@dataclass
class Scheduler:
    jobs: Jobs
    store: SchedulerStore
    say: Callable[[str], None] = print
    wall: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    history: list[JobRun] = field(default_factory=list)
    _running: set[asyncio.Task[None]] = field(default_factory=set)

    async def run_job(self, name: str, tick: datetime | None = None) -> JobRun:
        """Run ``name`` now (``tick`` None: on demand) unless another replica has it."""
        job = self.jobs.named(name)
        started = time.perf_counter()
        async with self.store.exclusive(name, tick) as mine:
            if not mine:
                run = JobRun(name, False, "skipped: another scheduler has it", tick=tick)
            else:
                summary = await job()
                run = JobRun(name, True, summary, time.perf_counter() - started, tick)
        self.history.append(run)
        return run

    async def _scheduled(self, name: str) -> None:
        """APScheduler's entry point: one tick of one job, never raising."""
        tick = self._tick(name)
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            run = await self.run_job(name, tick)
        except asyncio.CancelledError:  # shut down mid-run: rolled back, nothing to report
            log.info("scheduler job %s (tick %s) cancelled at shutdown", name, tick)
            return
        except Exception:
            log.exception("scheduler job %s failed (tick %s); retrying next tick", name, tick)
            return
        finally:
            if task is not None:
                self._running.discard(task)
        if run.ran:
            log.info("scheduler %s: %s (%.2fs)", name, run.summary, run.seconds)

    def _tick(self, name: str) -> datetime:
        if name == "digest":
            return self.wall().replace(second=0, microsecond=0)
        return tick_of(self.wall(), self.jobs.config.interval)

    def triggers(self) -> dict[str, BaseTrigger]:
        config = self.jobs.config
        interval = IntervalTrigger(
            seconds=config.interval.total_seconds(), start_date=EPOCH, timezone=UTC
        )
        digest = CronTrigger(
            day_of_week=config.digest_day,
            hour=config.digest_time.hour,
            minute=config.digest_time.minute,
            timezone=ZoneInfo(config.digest_timezone),
        )
        return {name: digest if name == "digest" else interval for name in JOBS}

    def build(self) -> AsyncIOScheduler:
        """An AsyncIOScheduler on the running loop with every job added (not started)."""
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        grace = max(int(self.jobs.config.interval.total_seconds()), 1)
        for name, trigger in self.triggers().items():
            scheduler.add_job(
                self._scheduled,
                trigger,
                args=(name,),
                id=name,
                name=name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=grace,
            )
        return scheduler

    async def run(self, stop: asyncio.Event) -> None:
        """Run the jobs on their schedule until ``stop`` is set."""
        scheduler = self.build()
        scheduler.start()
        config = self.jobs.config
        self.say(
            f"airlock: scheduler every {_span(config.interval)} ({', '.join(_EVERY)}); "
            f"digest {config.digest_day} {config.digest_time:%H:%M} {config.digest_timezone}"
        )
        try:
            await stop.wait()
        finally:
            scheduler.pause()  # no new runs; the runs in progress get a moment to finish
            if self._running:
                await asyncio.wait(set(self._running), timeout=SHUTDOWN_GRACE_S)
            scheduler.shutdown(wait=False)  # cancels what is still running: it rolls back
            await asyncio.gather(*self._running, return_exceptions=True)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"
