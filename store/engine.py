"""The async engine and the :class:`Database` that owns it.

Two backends, one code path:

- ``sqlite+aiosqlite:///path``: WAL journal, foreign keys on, a busy timeout. SQLAlchemy emits
  BEGIN itself (the driver's own transaction control is switched off, as the SQLAlchemy docs
  "Transactions with SQLite and the sqlite3 driver" describe); a connection carrying the
  ``airlock_write`` execution option begins with ``BEGIN IMMEDIATE``, so a write transaction
  takes SQLite's write lock before its first read and two deciders are serialised instead of
  failing with "database is locked" at their first write.
- ``postgresql+asyncpg://...``: a pooled engine whose checkout replaces a connection the server
  closed (asyncpg saw it close: a restart, a terminated backend) and pings one idle for more
  than ``PING_IDLE_S`` (a peer that vanished without closing), so a restarted server costs a
  new connection instead of an error. SQLAlchemy's ``pool_pre_ping`` pinged on every checkout:
  a round trip per transaction, a quarter of a short transaction's CPU (issue 23).

Waits that cancellation reaches. SQLite waits for a lock inside the driver's thread (aiosqlite),
where asyncio's cancellation cannot reach: a write blocked for the whole ``busy_timeout`` kept
a stopping gateway waiting that long, whatever its deadline. So :class:`Database` gives SQLite a
short busy timeout (``BUSY_SLICE_S``: the most one attempt blocks that thread) and
:meth:`Database.write` takes the write lock (``BEGIN IMMEDIATE``) in a loop of such attempts,
sleeping in the event loop between them, for up to ``lock_timeout`` seconds; then it raises
Unavailable. A caller's ``asyncio.timeout`` (the shutdown's deadline) cancels that loop within a
slice. Once the lock is taken nothing in the transaction waits for another writer. Writers of
one process queue for their turn on an asyncio lock first (FIFO, no polling): only writers in
other processes (a CLI command, another replica) meet SQLite's lock, so a burst of decisions,
deliveries and audit batches in one gateway no longer spends its time in busy slices. The
SQLite calls that cannot wait (all but BEGIN IMMEDIATE and commit) run in the loop's own
thread, not aiosqlite's (:mod:`store.sqlite_loop`: a hop cost more than the call). On
PostgreSQL everything is asyncio already; asyncpg's ``command_timeout`` bounds each statement
(a server that stopped answering, a row lock held elsewhere) and ``timeout`` each connect.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Self

from sqlalchemy import event, text
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from store import sqlite_loop
from store.columns import json_serializer
from store.errors import StoreError, Unavailable, translate_errors
from store.health import StoreHealth

__all__ = [
    "BUSY_SLICE_S",
    "CONNECT_TIMEOUT_S",
    "LOCK_TIMEOUT_S",
    "PING_IDLE_S",
    "SQLITE_POOL_SIZE",
    "WRITE_OPTION",
    "Database",
    "create_engine",
]

WRITE_OPTION = "airlock_write"
LOCK_TIMEOUT_S = 30.0  # how long a write waits for SQLite's lock, or a PostgreSQL statement runs
BUSY_SLICE_S = 0.1  # the most one SQLite attempt blocks the driver's thread (see the docstring)
CONNECT_TIMEOUT_S = 10.0  # asyncpg's connect (default 60 s)
SQLITE_POOL_SIZE = 20  # SQLite connections kept open (SQLAlchemy's default: 5)
PING_IDLE_S = 10.0  # a PostgreSQL connection idle this long is pinged before it is used
_IDLE_SINCE = "airlock_idle_since"  # pool record info: when the connection was checked in
_SQLITE_BUSY = 5  # SQLITE_BUSY, sqlite3.Error.sqlite_errorcode


def create_engine(
    url: str | URL,
    *,
    busy_timeout: float = LOCK_TIMEOUT_S,
    command_timeout: float | None = None,
    sqlite_in_loop: bool = False,
    **kwargs: Any,
) -> AsyncEngine:
    """An AsyncEngine for SQLite (aiosqlite) or PostgreSQL (asyncpg); other URLs are refused.
    ``busy_timeout``: SQLite's, in seconds; ``command_timeout``: asyncpg's per statement;
    ``sqlite_in_loop``: SQLite calls that cannot wait run in the event loop's thread
    (:mod:`store.sqlite_loop`; for a short busy timeout, as :class:`Database` sets)."""
    parsed = make_url(url)
    kwargs.setdefault("json_serializer", json_serializer)
    if parsed.drivername == "sqlite+aiosqlite":
        if sqlite_in_loop and parsed.database not in (None, "", ":memory:"):
            cargs, cparams = SQLiteDialect_aiosqlite().create_connect_args(parsed)
            cparams.update(kwargs.pop("connect_args", {}))
            cparams.setdefault("timeout", busy_timeout)
            kwargs["async_creator"] = sqlite_loop.connector(*cargs, **cparams)
        return _sqlite_engine(parsed, busy_timeout, kwargs)
    if parsed.drivername == "postgresql+asyncpg":
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", CONNECT_TIMEOUT_S)
        if command_timeout is not None:
            connect_args.setdefault("command_timeout", command_timeout)
        engine = _create_async_engine(parsed, connect_args=connect_args, **kwargs)
        if not kwargs.get("pool_pre_ping"):
            _check_on_checkout(engine)
        return engine
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


def _check_on_checkout(engine: AsyncEngine) -> None:
    """Replace a pooled PostgreSQL connection that is closed, or idle and not answering (the
    module's docstring); SQLAlchemy's pessimistic disconnect handling: DisconnectionError
    from a checkout makes the pool retry with a new connection."""
    pool, dialect = engine.sync_engine.pool, engine.dialect

    @event.listens_for(pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():  # asyncpg's own view, no round trip
            raise DisconnectionError("the server closed this connection")
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("the server did not answer a ping") from exc


class Database:
    """An engine, its session makers and what kind of database it talks to.

    ``sessions`` makes read sessions (one consistent snapshot each); ``write_sessions`` makes
    sessions whose transactions begin ``IMMEDIATE`` on SQLite (READ COMMITTED with row locks on
    PostgreSQL). Sessions do not expire their objects on commit, so rows read in a transaction
    stay usable after it.
    """

    def __init__(
        self, url: str | URL, *, lock_timeout: float = LOCK_TIMEOUT_S, **engine_kwargs: Any
    ) -> None:
        self.url = make_url(url)
        self.lock_timeout = lock_timeout
        if self.url.drivername == "sqlite+aiosqlite":
            engine_kwargs.setdefault("busy_timeout", min(BUSY_SLICE_S, lock_timeout))
            # Keep what a burst opened: an aiosqlite connection is a thread, a file and four
            # PRAGMAs, and the pool's default (5 kept) closed and reopened them on every burst
            # of logins (issue 23). They cost a thread each while idle, and no server slot.
            if self.url.database not in (None, "", ":memory:"):  # (memory: one static conn)
                engine_kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
            engine_kwargs.setdefault("sqlite_in_loop", True)
        else:
            engine_kwargs.setdefault("command_timeout", lock_timeout)
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
        # SQLite: this process's writers take turns on a lock of the loop they run in.
        self._writers: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        # Seals this process's NOTIFY payloads (store.outbox); the PostgreSQL bus sets it.
        self.notify_key: bytes | None = None

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
        """A session inside one write transaction: commits at the end, rolls back on error.
        On SQLite the write lock is taken first, waiting at most ``lock_timeout`` seconds in
        slices cancellation reaches (the module's docstring); then Unavailable."""
        with translate_errors():
            if not self.is_sqlite:
                async with self.write_sessions() as session, session.begin():
                    yield session
                return
            deadline = time.monotonic() + self.lock_timeout
            turn = await self._writers_turn()
            try:
                session = await self._sqlite_write_session(deadline)
                async with session:
                    try:
                        yield session
                    except BaseException:
                        await session.rollback()
                        raise
                    await session.commit()
            finally:
                turn.release()

    async def _writers_turn(self) -> asyncio.Lock:
        """Wait for this process's other SQLite writers (in order), at most ``lock_timeout``;
        returns the lock taken. The lock belongs to the running loop (a Database used from
        another loop later gets a new one), so it never ties the Database to one loop."""
        loop = asyncio.get_running_loop()
        if self._writers is None or self._writers[0] is not loop:
            self._writers = (loop, asyncio.Lock())
        lock = self._writers[1]
        try:
            async with asyncio.timeout(self.lock_timeout):
                await lock.acquire()
        except TimeoutError:
            raise Unavailable(
                f"the store stayed locked by another writer for {self.lock_timeout:g}s"
            ) from None
        return lock

    async def _sqlite_write_session(self, deadline: float) -> AsyncSession:
        """A session whose transaction holds SQLite's write lock (``BEGIN IMMEDIATE`` ran)."""
        pause = 0.005
        while True:
            session = self.write_sessions()
            try:
                await session.connection()  # begins: BEGIN IMMEDIATE (see _on_begin)
            except OperationalError as exc:
                await session.close()
                if not _busy(exc):
                    raise
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Unavailable(
                        f"the store stayed locked by another writer for {self.lock_timeout:g}s"
                    ) from exc
                # Between slices: here a cancellation (a deadline) reaches the waiting write.
                await asyncio.sleep(min(left, pause * random.uniform(0.5, 1.5)))  # noqa: S311
                pause = min(pause * 2, 0.05)
                continue
            except BaseException:
                await session.close()
                raise
            return session

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


def _busy(exc: OperationalError) -> bool:
    """SQLITE_BUSY: another connection holds the lock (the only error worth another try)."""
    orig = exc.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF == _SQLITE_BUSY  # also its extended codes (SQLITE_BUSY_RECOVERY, ...)
    return "database is locked" in str(orig)
