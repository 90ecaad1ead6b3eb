"""What the statement journal's replay reads and writes (gateway.sessions.replay).

A session's ``statements`` audit events carry ``journaled``: how many of its journaled
statements the trail holds up to and with that event (the statement log counts them in the
order they were forwarded; a replayed event states the last ordinal it replays). Reading the
latest tells a replay what the trail already has, so replaying twice records once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import col

from approvals.model import AuditEntry
from store.audit import append_entries
from store.engine import Database
from store.tables import AuditEventRow, SessionRow

__all__ = ["STATEMENTS", "journaled_upto", "record_replayed"]

STATEMENTS = "statements"  # the action of a session's statement events


async def journaled_upto(database: Database, session_ids: Iterable[str]) -> dict[str, int]:
    """For each session, the ``journaled`` count of its latest ``statements`` event (0: none)."""
    found: dict[str, int] = {}
    async with database.read() as session:
        for session_id in session_ids:
            details = (
                await session.execute(
                    select(col(AuditEventRow.details))
                    .where(
                        col(AuditEventRow.target) == session_id,
                        col(AuditEventRow.action) == STATEMENTS,
                    )
                    .order_by(col(AuditEventRow.seq).desc())
                    .limit(1)
                )
            ).scalar()
            count = details.get("journaled") if isinstance(details, dict) else None
            found[session_id] = count if isinstance(count, int) else 0
    return found


async def record_replayed(
    database: Database, entries: Sequence[AuditEntry], ended: Mapping[str, datetime]
) -> None:
    """Append ``entries`` to the chain and, in the same transaction, end the sessions of
    ``ended`` (id → when) whose rows have no end yet (their process stopped)."""
    async with database.write() as session:
        for session_id, at in ended.items():
            await session.execute(
                update(SessionRow)
                .where(col(SessionRow.id) == session_id, col(SessionRow.ended_at).is_(None))
                .values(ended_at=at)
                .execution_options(synchronize_session=False)
            )
        await append_entries(session, entries, postgres=database.is_postgres)
