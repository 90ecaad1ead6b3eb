"""The scheduler's side of the store: who runs a job's tick, what is due, what was done.

**Once per tick.** :meth:`SchedulerStore.exclusive` is entered around every job run:

- PostgreSQL: a dedicated connection opens a transaction and takes
  ``pg_try_advisory_xact_lock(space, hashtext(job))``; a replica that does not get it skips
  (another one is running the job right now). Holding it, a scheduled run inserts the row
  ``(job, tick)`` into ``scheduler_run``; when the row already exists (a replica ran this tick
  and finished before we looked) it skips too. The row commits with the lock's transaction, at
  the end of the run: a run that fails rolls its claim back, so the tick can still be run.
- SQLite (one process): an in-process lock per job, and the same tick row in a short
  transaction of its own (a write transaction held for the whole run would block every other
  writer of the file).

Due work is read with plain queries (:meth:`SchedulerStore.due_reviews`, ...); what a job already
did for one thing is a counter in ``scheduler_mark`` written with :meth:`set_mark` inside the
transaction that emits the event, so a crash never leaves one without the other.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from approvals.model import Delegation
from approvals.states import ReviewState
from store.engine import Database
from store.errors import translate_errors
from store.mapping import delegation_from_row
from store.scheduler_tables import SchedulerMarkRow, SchedulerRunRow
from store.tables import DelegationRow, ReviewRow, SessionRow
from store.transaction import SqlTransaction

__all__ = ["PendingReview", "SchedulerStore"]

_JOB_LOCK_SPACE = 0x41524C53  # "ARLS": first key of the per-job advisory lock
_KEEP_RUNS = timedelta(days=2)  # tick rows older than this are pruned when a job runs


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PendingReview:
    id: str
    connection: str
    created_at: datetime
    expires_at: datetime


class SchedulerStore:
    def __init__(self, database: Database, instance: str | None = None) -> None:
        self.database = database
        self.instance = instance or uuid.uuid4().hex[:12]
        self._locks: dict[str, asyncio.Lock] = {}

    # -- once per tick --------------------------------------------------------------------

    @asynccontextmanager
    async def exclusive(self, job: str, tick: datetime | None) -> AsyncIterator[bool]:
        """Yield True when this replica is to run ``job`` (for ``tick``; None: a run on
        demand, which only needs the lock); False when another holds it or ran the tick."""
        if self.database.is_postgres:
            async with self._pg_exclusive(job, tick) as mine:
                yield mine
            return
        lock = self._locks.setdefault(job, asyncio.Lock())
        if lock.locked():
            yield False
            return
        async with lock:
            if tick is None:
                yield True
                return
            async with self.database.write() as session:
                claimed = await self._claim(session, job, tick)
            yield claimed

    @asynccontextmanager
    async def _pg_exclusive(self, job: str, tick: datetime | None) -> AsyncIterator[bool]:
        with translate_errors():
            async with self.database.engine.connect() as conn, conn.begin():
                got = await conn.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:space, hashtext(:job))"),
                    {"space": _JOB_LOCK_SPACE, "job": job},
                )
                yield bool(got) and (tick is None or await self._claim(conn, job, tick))

    async def _claim(self, session: Any, job: str, tick: datetime) -> bool:
        dialect_insert = postgresql.insert if self.database.is_postgres else sqlite.insert
        await session.execute(
            delete(SchedulerRunRow).where(
                col(SchedulerRunRow.job) == job, col(SchedulerRunRow.tick) < tick - _KEEP_RUNS
            )
        )
        values = {"job": job, "tick": tick, "instance": self.instance, "started_at": _now()}
        result = await session.execute(
            dialect_insert(SchedulerRunRow)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["job", "tick"])
            .returning(col(SchedulerRunRow.job))
        )
        return result.first() is not None

    async def runs(self, job: str) -> list[tuple[datetime, str]]:
        """(tick, instance) of the recorded runs of ``job``, oldest first."""
        query = (
            select(SchedulerRunRow)
            .where(col(SchedulerRunRow.job) == job)
            .order_by(col(SchedulerRunRow.tick))
        )
        async with self.database.read() as session:
            return [(r.tick, r.instance) for r in await session.scalars(query)]

    # -- what is due ----------------------------------------------------------------------

    async def due_reviews(self, now: datetime, limit: int = 1000) -> list[str]:
        """Pending reviews whose deadline has passed, oldest deadline first."""
        query = (
            select(col(ReviewRow.id))
            .where(col(ReviewRow.state) == ReviewState.PENDING.value)
            .where(col(ReviewRow.expires_at) <= now)
            .order_by(col(ReviewRow.expires_at))
            .limit(limit)
        )
        async with self.database.read() as session:
            return list(await session.scalars(query))

    async def waiting_reviews(self, now: datetime, limit: int = 1000) -> list[PendingReview]:
        """Pending reviews still within their deadline (for reminders), oldest first."""
        query = (
            select(ReviewRow)
            .where(col(ReviewRow.state) == ReviewState.PENDING.value)
            .where(col(ReviewRow.expires_at) > now)
            .order_by(col(ReviewRow.created_at))
            .limit(limit)
        )
        async with self.database.read() as session:
            rows = await session.scalars(query)
            return [PendingReview(r.id, r.connection, r.created_at, r.expires_at) for r in rows]

    async def ended_grants(self, now: datetime, limit: int = 1000) -> list[str]:
        """Delegations past their expiry that are not recorded as ended yet."""
        query = (
            select(col(DelegationRow.id))
            .where(col(DelegationRow.revoked_at).is_(None))
            .where(col(DelegationRow.expires_at) <= now)
            .order_by(col(DelegationRow.expires_at))
            .limit(limit)
        )
        async with self.database.read() as session:
            return list(await session.scalars(query))

    async def live_grants(
        self, now: datetime, *, connection: str | None = None, until: datetime | None = None
    ) -> list[Delegation]:
        """Live delegations (on ``connection``; ending by ``until``), soonest end first."""
        query = select(DelegationRow).where(
            col(DelegationRow.revoked_at).is_(None), col(DelegationRow.expires_at) > now
        )
        if connection is not None:
            query = query.where(col(DelegationRow.connection) == connection)
        if until is not None:
            query = query.where(col(DelegationRow.expires_at) <= until)
        query = query.order_by(col(DelegationRow.expires_at), col(DelegationRow.id))
        async with self.database.read() as session:
            return [delegation_from_row(row) for row in await session.scalars(query)]

    async def last_session_use(self, connection: str, since: datetime) -> dict[str, datetime]:
        """For each delegation a session on ``connection`` rested on since ``since``: the
        latest such session's start (sessions record their delegation in ``stats``)."""
        query = select(col(SessionRow.stats), col(SessionRow.started_at)).where(
            col(SessionRow.connection) == connection, col(SessionRow.started_at) >= since
        )
        used: dict[str, datetime] = {}
        async with self.database.read() as session:
            for stats, started in (await session.execute(query)).all():
                grant = (stats or {}).get("delegation")
                if grant and (grant not in used or used[grant] < started):
                    used[str(grant)] = started
        return used

    # -- marks ----------------------------------------------------------------------------

    async def mark(self, tx: SqlTransaction, job: str, key: str) -> int:
        """How many times ``job`` acted on ``key`` (0: never), read inside ``tx``."""
        row = await tx.session.get(SchedulerMarkRow, (job, key), populate_existing=True)
        return row.count if row is not None else 0

    async def set_mark(
        self, tx: SqlTransaction, job: str, key: str, count: int, at: datetime
    ) -> None:
        """Record in ``tx`` that ``job`` acted ``count`` times on ``key``."""
        dialect_insert = postgresql.insert if self.database.is_postgres else sqlite.insert
        statement = dialect_insert(SchedulerMarkRow).values(
            job=job, key=key, count=count, updated_at=at
        )
        await tx.session.execute(
            statement.on_conflict_do_update(
                index_elements=["job", "key"],
                set_={"count": statement.excluded.count, "updated_at": at},
            )
        )

    async def marks(self, job: str) -> dict[str, int]:
        async with self.database.read() as session:
            rows = await session.scalars(
                select(SchedulerMarkRow).where(col(SchedulerMarkRow.job) == job)
            )
            return {row.key: row.count for row in rows}
