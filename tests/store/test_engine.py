"""The engine and Database: SQLite settings, how transactions begin, errors at the boundary."""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from store import (
    Database,
    InProcessBus,
    PostgresBus,
    SqlRepository,
    StoreError,
    Unavailable,
    create_bus,
    keys,
)
from store.columns import UTCDateTime
from tests.store.helpers import review


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(
    sqlite_url: str,
) -> None:
    """Every SQLite connection runs in WAL mode with foreign keys on and a busy timeout."""
    async with Database(sqlite_url, busy_timeout=7) as db, db.read() as session:
        assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await session.execute(text("PRAGMA busy_timeout"))).scalar() == 7000


async def test_sqlite_write_transactions_begin_immediate(sqlite_url: str) -> None:
    """Write sessions (and so every repository transaction) begin IMMEDIATE; reads plain BEGIN."""
    async with Database(sqlite_url) as db:
        statements: list[str] = []

        @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
        def _log(_conn: Connection, _cursor: object, statement: str, *_args: object) -> None:
            statements.append(statement)

        async with db.write() as session:
            await session.execute(text("SELECT 1"))
        async with db.read() as session:
            await session.execute(text("SELECT 2"))
    assert statements == ["BEGIN IMMEDIATE", "SELECT 1", "BEGIN", "SELECT 2"]


def test_utc_datetime_stores_aware_utc_and_refuses_naive() -> None:
    """Aware times are converted to UTC (naive only inside SQLite); naive input is an error."""
    column = UTCDateTime()
    plus_two = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    sqlite_dialect = Database("sqlite+aiosqlite:///:memory:").engine.dialect
    stored = column.process_bind_param(plus_two, sqlite_dialect)
    assert stored == datetime(2026, 1, 1, 10, 0)
    loaded = column.process_result_value(stored, sqlite_dialect)
    assert loaded == plus_two and loaded is not None and loaded.utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(datetime(2026, 1, 1), sqlite_dialect)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_postgres_is_unavailable() -> None:
    """A PostgreSQL that cannot be reached surfaces as store.Unavailable, not a driver error."""
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/airlock"
    async with Database(url) as db:
        repository = SqlRepository(db, InProcessBus())
        with pytest.raises(Unavailable) as caught:
            await repository.get_review("R-1")
    assert caught.value.__cause__ is not None


async def test_missing_schema_is_a_store_error(sqlite_url: str) -> None:
    """Using a database that was never migrated raises a StoreError naming the problem."""
    async with Database(sqlite_url) as db:
        repository = SqlRepository(db, InProcessBus())
        with pytest.raises(StoreError, match="no such table"):
            async with repository.transaction() as tx:
                await tx.add_review(review())


def test_repr_hides_the_password() -> None:
    """The Database's repr never shows the password of its URL."""
    db = Database("postgresql+asyncpg://app:s3cret@db.example.com/airlock")
    assert "s3cret" not in repr(db)
    assert "s3cret" in db.asyncpg_dsn()


async def test_ping(database: Database) -> None:
    """ping() succeeds on a reachable database."""
    await database.ping()


async def test_stored_key_is_created_once(database: Database) -> None:
    """Replicas asking for the signing key at once all get the same, once-generated value."""
    made: list[str] = []

    def factory() -> str:
        made.append(f"key-{len(made)}")
        return made[-1]

    values = await asyncio.gather(*(keys.get_or_create(database, factory) for _ in range(8)))
    assert len(set(values)) == 1
    assert values[0] in made
    assert await keys.get_or_create(database, factory) == values[0]
    assert await keys.get_or_create(database, lambda: "other", name="other") == "other"


async def test_create_bus_matches_the_backend(database: Database) -> None:
    """create_bus gives an InProcessBus on SQLite and a listening PostgresBus on PostgreSQL."""
    bus = await create_bus(database)
    try:
        assert isinstance(bus, PostgresBus if database.is_postgres else InProcessBus)
        if isinstance(bus, PostgresBus):
            assert bus.listening
    finally:
        await bus.close()


async def test_a_postgres_connection_the_server_closed_is_replaced_at_checkout(
    pg_database_url: str,
) -> None:
    """A pooled connection whose backend was terminated (as by a server restart) is replaced
    when it is next checked out: the next read succeeds, on a new backend, with no ping of
    connections in use."""
    async with Database(pg_database_url) as database:
        async with database.read() as session:
            old = await session.scalar(text("SELECT pg_backend_pid()"))
        admin = await asyncpg.connect(
            database.asyncpg_dsn().replace(database.url.database or "", "postgres")
        )
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", old)
        finally:
            await admin.close()
        await asyncio.sleep(0.3)  # asyncpg hears the server close the connection
        async with database.read() as session:
            new = await session.scalar(text("SELECT pg_backend_pid()"))
        assert new != old
