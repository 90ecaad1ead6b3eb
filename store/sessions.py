"""Recorded gateway sessions and their per-statement events (part of :class:`SqlRepository`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlmodel import col

from store.engine import Database
from store.errors import StaleWrite
from store.mapping import (
    session_event_from_row,
    session_event_values,
    session_from_row,
    session_to_row,
)
from store.records import SessionEvent, SessionRecord
from store.tables import SessionEventRow, SessionRow, metadata

__all__ = ["SessionQueries"]


class SessionQueries:
    """Sessions: start, update the running stats, end; events appended in order."""

    database: Database

    async def start_session(self, record: SessionRecord) -> None:
        row = session_to_row(record)
        async with self.database.write() as session:  # Core: cheaper than the ORM's flush
            await session.execute(insert(SessionRow).values(**row.model_dump()))

    async def update_session(self, session_id: str, *, stats: dict[str, Any]) -> None:
        """Replace the session's running statistics (bytes, statements, held, denied...)."""
        await self._update(session_id, stats=dict(stats))

    async def end_session(
        self, session_id: str, *, ended_at: datetime, stats: dict[str, Any] | None = None
    ) -> None:
        values: dict[str, Any] = {"ended_at": ended_at}
        if stats is not None:
            values["stats"] = dict(stats)
        await self._update(session_id, **values)

    async def _update(self, session_id: str, **values: Any) -> None:
        async with self.database.write() as session:
            result = await session.execute(
                update(SessionRow)
                .where(col(SessionRow.id) == session_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if int(getattr(result, "rowcount", 0) or 0) != 1:
                raise StaleWrite(f"no session {session_id}")

    async def get_session(self, session_id: str) -> SessionRecord | None:
        async with self.database.read() as session:
            row = await session.get(SessionRow, session_id)
        return session_from_row(row) if row is not None else None

    async def list_sessions(
        self,
        *,
        subject: str | None = None,
        connection: str | None = None,
        active: bool | None = None,
        limit: int = 100,
    ) -> list[SessionRecord]:
        """Newest first; ``active`` True: not ended yet, False: ended."""
        query = select(SessionRow)
        if subject is not None:
            query = query.where(col(SessionRow.subject) == subject)
        if connection is not None:
            query = query.where(col(SessionRow.connection) == connection)
        if active is not None:
            ended = col(SessionRow.ended_at)
            query = query.where(ended.is_(None) if active else ended.is_not(None))
        query = query.order_by(col(SessionRow.started_at).desc(), col(SessionRow.id)).limit(limit)
        async with self.database.read() as session:
            return [session_from_row(row) for row in await session.scalars(query)]

    async def add_session_event(self, event: SessionEvent) -> None:
        await self.add_session_events([event])

    async def add_session_events(self, events: Sequence[SessionEvent]) -> None:
        """Append events (one INSERT for all of them); ``(session_id, seq)`` must be new."""
        if not events:
            return
        rows = [session_event_values(e) for e in events]
        async with self.database.write() as session:
            await session.execute(insert(metadata.tables["session_event"]), rows)

    async def list_session_events(
        self, session_id: str, *, after_seq: int = 0, limit: int = 1000
    ) -> list[SessionEvent]:
        query = (
            select(SessionEventRow)
            .where(
                col(SessionEventRow.session_id) == session_id,
                col(SessionEventRow.seq) > after_seq,
            )
            .order_by(col(SessionEventRow.seq))
            .limit(limit)
        )
        async with self.database.read() as session:
            return [session_event_from_row(row) for row in await session.scalars(query)]
