"""Keys a deployment generates once and every replica then shares (``stored_key`` table)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.dialects import postgresql, sqlite

from store.engine import Database
from store.tables import StoredKeyRow

__all__ = ["get_or_create"]


async def get_or_create(
    database: Database, factory: Callable[[], str], name: str = "signing_key"
) -> str:
    """The value stored under ``name``; if there is none, store ``factory()`` and return it.

    Replicas racing here all end with the same value: the first to commit wins (SQLite
    serialises the write transactions; PostgreSQL resolves the insert with ON CONFLICT DO
    NOTHING and the re-read sees the winner's row).
    """
    async with database.write() as session:
        existing = await session.get(StoredKeyRow, name)
        if existing is not None:
            return existing.value
        dialect_insert = postgresql.insert if database.is_postgres else sqlite.insert
        await session.execute(
            dialect_insert(StoredKeyRow)
            .values(name=name, value=factory(), created_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["name"])
        )
        stored = await session.get(StoredKeyRow, name, populate_existing=True)
        assert stored is not None
        return stored.value
