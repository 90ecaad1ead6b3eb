"""A store that cannot write is Unavailable (StoreFull for a full disk), not a plain StoreError:
classified by the driver's own error code first (sqlite3's ``sqlite_errorcode``, PostgreSQL's
SQLSTATE), by the message where there is no code or it does not say. Each case is raised by the
real SQLite or the real PostgreSQL where they can be made to fail that way here."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy.exc
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from store import (
    Database,
    IntegrityError,
    InvalidRecord,
    StoreError,
    StoreFull,
    Unavailable,
    migrate,
)
from store.errors import outage, translate_errors
from tests.conftest import fresh_pg_database


def _on_every_connection(database: Database, *pragmas: str) -> None:
    @event.listens_for(database.engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()


async def _fill(database: Database) -> None:
    async with database.write() as session:
        await session.execute(text("CREATE TABLE IF NOT EXISTS ballast (x TEXT)"))
    for _ in range(1000):
        async with database.write() as session:
            await session.execute(text("INSERT INTO ballast VALUES (:x)"), {"x": "x" * 4000})


async def test_sqlite_database_or_disk_is_full_is_store_full(sqlite_url: str) -> None:
    """SQLite's own SQLITE_FULL ("database or disk is full", here from a page cap on every
    connection) is StoreFull, an Unavailable, with the reason "disk full"."""
    await migrate.upgrade(sqlite_url)
    async with Database(sqlite_url) as database:
        _on_every_connection(database, "PRAGMA max_page_count = 200")
        with pytest.raises(StoreFull) as caught:
            await _fill(database)
    error = caught.value
    assert isinstance(error, Unavailable)
    assert (error.reason, error.code) == ("disk full", "store_full")
    assert "database or disk is full" in error.message
    driver = error.__cause__.orig  # type: ignore[union-attr]
    assert (driver.sqlite_errorcode, driver.sqlite_errorname) == (13, "SQLITE_FULL")


async def test_sqlite_readonly_database_is_unavailable(sqlite_url: str) -> None:
    """ "attempt to write a readonly database" (SQLITE_READONLY) is Unavailable, read-only."""
    await migrate.upgrade(sqlite_url)
    async with Database(sqlite_url) as database:
        _on_every_connection(database, "PRAGMA query_only = 1")
        with pytest.raises(Unavailable) as caught:
            await _fill(database)
    assert not isinstance(caught.value, StoreFull)
    assert caught.value.reason == "read-only"
    assert "attempt to write a readonly database" in caught.value.message


async def test_sqlite_unable_to_open_database_file_is_unavailable(tmp_path: Path) -> None:
    """A store file that cannot be opened (its directory is gone) is Unavailable."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'airlock.db'}"
    async with Database(url) as database:
        with pytest.raises(Unavailable) as caught:
            await database.ping()
    assert caught.value.reason == "cannot open its file"
    assert "unable to open database file" in caught.value.message


def _sqlite_error(message: str, code: int | None, name: str | None) -> sqlite3.OperationalError:
    """An error as sqlite3 raises it (the codes are set by the C module the same way)."""
    error = sqlite3.OperationalError(message)
    if code is not None and name is not None:
        error.sqlite_errorcode = code
        error.sqlite_errorname = name
    return error


@pytest.mark.parametrize(
    ("message", "code", "name", "reason"),
    [
        ("disk I/O error", 778, "SQLITE_IOERR_WRITE", "I/O error"),  # extended code
        ("disk I/O error", 10, "SQLITE_IOERR", "I/O error"),
        ("database or disk is full", 13, "SQLITE_FULL", "disk full"),
        ("attempt to write a readonly database", 1032, "SQLITE_READONLY_DBMOVED", "read-only"),
        ("unable to open database file", 14, "SQLITE_CANTOPEN", "cannot open its file"),
        ("database is locked", 5, "SQLITE_BUSY", "busy"),
        ("an unknown message", 13, "SQLITE_FULL", "disk full"),  # the code decides
        ("disk I/O error", None, None, "I/O error"),  # no code: the words decide
        ("database or disk is full", None, None, "disk full"),
    ],
)
def test_sqlite_error_codes_then_words(
    message: str, code: int | None, name: str | None, reason: str
) -> None:
    """Each SQLite outage code (extended codes by their primary one), and its words where the
    error carries no code, is Unavailable with its reason."""
    wrapped = sqlalchemy.exc.OperationalError("INSERT ...", {}, _sqlite_error(message, code, name))
    assert outage(wrapped) == reason
    with pytest.raises(Unavailable) as caught, translate_errors():
        raise wrapped
    assert caught.value.reason == reason
    assert isinstance(caught.value, StoreFull) == (reason == "disk full")


def test_sqlite_errors_that_are_not_outages_stay_what_they_are() -> None:
    """A syntax error or a corrupt file is not an outage (retrying would not help)."""
    for message, code, name in (
        ('near "SELEC": syntax error', 1, "SQLITE_ERROR"),
        ("database disk image is malformed", 11, "SQLITE_CORRUPT"),
    ):
        wrapped = sqlalchemy.exc.OperationalError("x", {}, _sqlite_error(message, code, name))
        assert outage(wrapped) is None
        with pytest.raises(StoreError) as caught, translate_errors():
            raise wrapped
        assert type(caught.value) is StoreError


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_pg_database() as url:
        yield url


async def _raise_in_postgres(database: Database, sqlstate: str, message: str) -> None:
    """Make the real server raise ``message`` with ``sqlstate`` inside a write transaction."""
    quoted = message.replace("'", "''")
    async with database.write() as session:
        await session.execute(
            text(f"DO $$ BEGIN RAISE EXCEPTION '{quoted}' USING ERRCODE = '{sqlstate}'; END $$")
        )


async def test_postgres_read_only_transaction_is_unavailable(pg_url: str) -> None:
    """A PostgreSQL that refuses writes (25006, as a standby or a read-only database does) is
    Unavailable, read-only."""
    name = make_url(pg_url).database
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    finally:
        await admin.close()
    async with Database(pg_url) as database:
        with pytest.raises(Unavailable) as caught:
            async with database.write() as session:
                await session.execute(text("CREATE TABLE t (x int)"))
    assert caught.value.reason == "read-only"
    assert "read-only transaction" in caught.value.message


@pytest.mark.parametrize(
    ("sqlstate", "message", "kind", "reason"),
    [
        ("53100", "could not extend file: No space left on device", StoreFull, "disk full"),
        ("53300", "sorry, too many clients already", Unavailable, "busy"),
        ("53200", "out of memory", Unavailable, "busy"),
        ("58030", "could not write to file: Input/output error", Unavailable, "I/O error"),
        ("57P03", "the database system is starting up", Unavailable, "unreachable"),
        # codes that do not say: the words do (EIO and EROFS as PostgreSQL may report them)
        ("XX000", 'could not extend file "base/1/2": wrote only 4096 of 8192', StoreFull, None),
        ("42501", 'could not open file "base/1/2": Read-only file system', Unavailable, None),
        # not an outage
        ("42P01", 'relation "nope" does not exist', StoreError, None),
        ("23505", "duplicate key value violates unique constraint", IntegrityError, None),
        ("22P02", "invalid input syntax for type integer", InvalidRecord, None),
    ],
)
async def test_postgres_sqlstates(
    pg_url: str, sqlstate: str, message: str, kind: type[StoreError], reason: str | None
) -> None:
    """A PostgreSQL error whose SQLSTATE says the server cannot write (disk full, class 53,
    I/O, shutting down) is Unavailable; where the code does not say, the words do; a
    constraint, a bad value or a bad statement stay what they are."""
    async with Database(pg_url) as database:
        with pytest.raises(StoreError) as caught:
            await _raise_in_postgres(database, sqlstate, message)
    assert type(caught.value) is kind
    if reason is not None:
        assert isinstance(caught.value, Unavailable)
        assert caught.value.reason == reason
    assert caught.value.__cause__.orig.sqlstate == sqlstate  # type: ignore[union-attr]
