"""The async engine and the :class:`Database` that owns it.

Two backends, one code path:

- ``sqlite+aiosqlite:///path``: WAL journal, foreign keys on, a busy timeout. SQLAlchemy emits
  BEGIN itself (the driver's own transaction control is switched off, as the SQLAlchemy docs
  "Transactions with SQLite and the sqlite3 driver" describe); a connection carrying the
  ``airlock_write`` execution option begins with ``BEGIN IMMEDIATE``, so a write transaction
  takes SQLite's write lock before its first read and two deciders are serialised instead of
  failing with "database is locked" at their first write.
- ``postgresql+asyncpg://...``: a pooled engine with pre-ping, so a restarted server costs one
  failed checkout instead of an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Self

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from store.columns import json_serializer
from store.errors import StoreError, translate_errors
from store.health import StoreHealth

__all__ = ["WRITE_OPTION", "Database", "create_engine"]

WRITE_OPTION = "airlock_write"


def create_engine(url: str | URL, *, busy_timeout: float = 30.0, **kwargs: Any) -> AsyncEngine:
    """An AsyncEngine for SQLite (aiosqlite) or PostgreSQL (asyncpg); other URLs are refused."""
    parsed = make_url(url)
    kwargs.setdefault("json_serializer", json_serializer)
    if parsed.drivername == "sqlite+aiosqlite":
        return _sqlite_engine(parsed, busy_timeout, kwargs)
    if parsed.drivername == "postgresql+asyncpg":
        kwargs.setdefault("pool_pre_ping", True)
        return _create_async_engine(parsed, **kwargs)
    raise StoreError(
        f"unsupported store URL {parsed.render_as_string()!r}: use sqlite+aiosqlite:///path "
        "or postgresql+asyncpg://user@host/db"
    )


def _sqlite_engine(url: URL, busy_timeout: float, kwargs: dict[str, Any]) -> AsyncEngine:
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("timeout", busy_timeout)
    engine = _create_async_engine(url, connect_args=connect_args, **kwargs)
    busy_ms = int(busy_timeout * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN, see _on_begin
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={busy_ms}",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """An engine, its session makers and what kind of database it talks to.

    ``sessions`` makes read sessions (one consistent snapshot each); ``write_sessions`` makes
    sessions whose transactions begin ``IMMEDIATE`` on SQLite (READ COMMITTED with row locks on
    PostgreSQL). Sessions do not expire their objects on commit, so rows read in a transaction
    stay usable after it.
    """

    def __init__(self, url: str | URL, **engine_kwargs: Any) -> None:
        self.url = make_url(url)
        self.engine = create_engine(self.url, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        self.is_postgres = self.dialect == "postgresql"
        # Reads see one snapshot (a review and its decisions from the same moment): REPEATABLE
        # READ on PostgreSQL (cheap for read-only work); one SQLite read transaction already is.
        read_engine = (
            self.engine.execution_options(isolation_level="REPEATABLE READ")
            if self.is_postgres
            else self.engine
        )
        self.sessions = async_sessionmaker(read_engine, expire_on_commit=False)
        write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        self.write_sessions = async_sessionmaker(write_engine, expire_on_commit=False)
        self.health = StoreHealth()  # what this process's writers learned (store.health)

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; store errors are translated."""
        with translate_errors():
            async with self.sessions() as session:
                yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session inside one write transaction: commits at the end, rolls back on error."""
        with translate_errors():
            async with self.write_sessions() as session, session.begin():
                yield session

    async def ping(self) -> None:
        """Run ``SELECT 1``; raises Unavailable when the database cannot be reached."""
        with translate_errors():
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

    def asyncpg_dsn(self) -> str:
        """The URL in the form plain asyncpg accepts (for LISTEN connections)."""
        if not self.is_postgres:
            raise StoreError(f"{self!r} is not PostgreSQL")
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()
