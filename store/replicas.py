"""Gateway replicas and their heartbeats (part of :class:`SqlRepository`).

Each gateway process registers one ``replica`` row (a random id per process start) and
heartbeats it; a replica whose heartbeat is older than the deployment's ``replica_dead_after``
and that never said it stopped is gone. Reaping it (:meth:`ReplicaQueries.reap_replica`) marks
it stopped, ends its sessions that have no end and appends one audit event, all in one
transaction guarded by ``stopped_at IS NULL``: of racing reapers exactly one does it (on
PostgreSQL the second's UPDATE waits for the first's row lock and then matches nothing; SQLite
serialises the write transactions). Its pending reviews are cancelled before that, one by one,
through the approvals service (:meth:`approvals.ApprovalService.abandon`), which is idempotent.

Times are the store's clock where there is one to share: PostgreSQL's ``now()``, so that the
clocks of the replicas' hosts do not skew "older than"; a SQLite store lives on one host, whose
clock it uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, ColumnElement, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from approvals.model import AuditEntry, ReviewKind
from approvals.states import ReviewState
from store.audit import append_entries
from store.engine import Database
from store.records import ReplicaRecord
from store.tables import ReplicaRow, ReviewRow, SessionRow

__all__ = ["REPLICA_REAPED", "REPLICA_STOPPED", "ReplicaQueries"]

REPLICA_REAPED = "replica.reaped"  # the audit action of a replica another one reaped
REPLICA_STOPPED = "replica.stopped"  # ... of one that stopped cleanly


class ReplicaQueries:
    """Register, heartbeat, find the gone, reap."""

    database: Database

    async def _now(self, session: AsyncSession) -> datetime:
        if self.database.is_postgres:
            value = await session.scalar(select(func.now()))
            assert isinstance(value, datetime)
            return value.astimezone(UTC)
        return datetime.now(UTC)

    async def register_replica(
        self, replica_id: str, *, host: str, pid: int, pid_namespace: str | None
    ) -> ReplicaRecord:
        """This process's row, started and heartbeating now."""
        async with self.database.write() as session:
            now = await self._now(session)
            row = ReplicaRow(
                id=replica_id,
                host=host,
                pid=pid,
                pid_namespace=pid_namespace,
                started_at=now,
                heartbeat_at=now,
            )
            session.add(row)
        return _record(row)

    async def heartbeat_replica(self, replica_id: str) -> bool:
        """Note that the replica is alive; False when it was marked stopped (reaped)."""
        async with self.database.write() as session:
            now = await self._now(session)
            result = await session.execute(
                update(ReplicaRow)
                .where(col(ReplicaRow.id) == replica_id, col(ReplicaRow.stopped_at).is_(None))
                .values(heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result) == 1

    async def gone_replicas(self, dead_after: timedelta, *, excluding: str) -> list[ReplicaRecord]:
        """Replicas not stopped whose heartbeat is older than ``dead_after``, oldest first."""
        async with self.database.read() as session:
            cutoff = await self._now(session) - dead_after
            rows = await session.scalars(
                select(ReplicaRow)
                .where(
                    col(ReplicaRow.stopped_at).is_(None),
                    col(ReplicaRow.heartbeat_at) < cutoff,
                    col(ReplicaRow.id) != excluding,
                )
                .order_by(col(ReplicaRow.heartbeat_at))
            )
            return [_record(row) for row in rows]

    async def running_replicas(
        self, *, host: str, pid_namespace: str, excluding: str
    ) -> list[ReplicaRecord]:
        """Replicas not stopped on this host and PID namespace (their pids can be checked)."""
        async with self.database.read() as session:
            rows = await session.scalars(
                select(ReplicaRow).where(
                    col(ReplicaRow.stopped_at).is_(None),
                    col(ReplicaRow.host) == host,
                    col(ReplicaRow.pid_namespace) == pid_namespace,
                    col(ReplicaRow.id) != excluding,
                )
            )
            return [_record(row) for row in rows]

    async def get_replica(self, replica_id: str) -> ReplicaRecord | None:
        async with self.database.read() as session:
            row = await session.get(ReplicaRow, replica_id)
        return _record(row) if row is not None else None

    async def orphaned_reviews(self, replica_id: str) -> list[str]:
        """The pending statement reviews of the replica's sessions (ended or not), oldest first.
        Access requests belong to no session and are never among them."""
        sessions = select(col(SessionRow.id)).where(col(SessionRow.replica_id) == replica_id)
        query = (
            select(col(ReviewRow.id))
            .where(
                col(ReviewRow.state) == ReviewState.PENDING.value,
                col(ReviewRow.kind) == ReviewKind.STATEMENT.value,
                col(ReviewRow.session_id).in_(sessions),
            )
            .order_by(col(ReviewRow.created_at))
        )
        async with self.database.read() as session:
            return list(await session.scalars(query))

    async def reap_replica(
        self,
        replica_id: str,
        *,
        by: str,
        end: str,
        action: str,
        details: dict[str, Any],
        quiet: bool = False,
    ) -> Sequence[str] | None:
        """Mark the replica stopped (by ``by``), end its sessions that have no end (their stats
        say ``end``), and append one ``action`` audit event (``details`` plus the sessions'
        ids), in one transaction; ``quiet``: no event when it ended no session and
        ``details["reviews"]`` is empty (a clean stop that left nothing). Returns the ended
        sessions' ids, or None when the replica was already stopped: another reaper, or its
        own clean stop, came first."""
        async with self.database.write() as session:
            now = await self._now(session)
            marked = await session.execute(
                update(ReplicaRow)
                .where(col(ReplicaRow.id) == replica_id, col(ReplicaRow.stopped_at).is_(None))
                .values(stopped_at=now, stopped_by=by)
                .execution_options(synchronize_session=False)
            )
            if _rowcount(marked) != 1:
                return None
            # Its sessions with no end, and those the journal's replay ended without saying why.
            ghosts = await session.execute(
                select(col(SessionRow.id), col(SessionRow.stats), col(SessionRow.ended_at)).where(
                    col(SessionRow.replica_id) == replica_id,
                    or_(col(SessionRow.ended_at).is_(None), self._no_end()),
                )
            )
            ended = []
            for session_id, stats, ended_at in ghosts.all():
                await session.execute(
                    update(SessionRow)
                    .where(col(SessionRow.id) == session_id)
                    .values(ended_at=ended_at or now, stats={**(stats or {}), "end": end})
                    .execution_options(synchronize_session=False)
                )
                ended.append(session_id)
            if quiet and not ended and not details.get("reviews"):
                return ended
            entry = AuditEntry(
                action=action,
                actor=None,
                target=replica_id,
                outcome="stopped" if action == REPLICA_STOPPED else "reaped",
                at=now,
                details={**details, "by": by, "sessions": ended},
            )
            await append_entries(session, [entry], postgres=self.database.is_postgres)
        return ended

    def _no_end(self) -> ColumnElement[bool]:
        """A session's stats say nothing of how it ended (no ``end`` key)."""
        stats = col(SessionRow.stats)
        if self.database.is_postgres:
            return not_(stats.op("?", return_type=Boolean)("end"))
        return func.json_extract(stats, "$.end").is_(None)


def _record(row: ReplicaRow) -> ReplicaRecord:
    return ReplicaRecord(
        id=row.id,
        host=row.host,
        pid=row.pid,
        pid_namespace=row.pid_namespace,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        stopped_at=row.stopped_at,
        stopped_by=row.stopped_by,
    )


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
