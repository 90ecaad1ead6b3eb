"""Shared database fixtures: every store-backed test runs on SQLite and on a real PostgreSQL.

Fixtures:

- ``sqlite_url``: URL of a fresh SQLite file (not migrated).
- ``pg_database_url``: URL of a fresh, empty PostgreSQL database, dropped (WITH (FORCE)) after
  the test. PostgreSQL is reached through ``AIRLOCK_TEST_PG`` (default
  ``postgresql://postgres@127.0.0.1:5432/postgres``); when it cannot be reached the test FAILS.
- ``store_backend``: ``"sqlite"`` or ``"postgres"`` (parametrizes everything below).
- ``database_url``: a fresh, empty database of that backend.
- ``database``: a migrated :class:`store.Database` on that URL, closed after the test.
- ``bus``: the bus a deployment on that backend uses (InProcessBus, or a started PostgresBus).
- ``repository``: a :class:`store.SqlRepository` on ``database`` and ``bus``.
- ``maria_database``: the name of a fresh, empty MariaDB database, dropped after the test.
  MariaDB is reached through ``AIRLOCK_TEST_MARIA`` (default ``root@127.0.0.1:3306``, no
  password); when it cannot be reached the test FAILS.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
import pymysql
import pytest
from sqlalchemy.engine import make_url

from store import Database, InProcessBus, PostgresBus, SqlRepository, upgrade
from tests.support.fake_slack import FakeSlack

__all__ = [
    "MARIA_ADMIN",
    "PG_ADMIN_DSN",
    "ensure_ed25519",
    "fresh_maria_database",
    "fresh_pg_database",
    "read_only",
]

PG_ADMIN_DSN = os.environ.get("AIRLOCK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MARIA_ADMIN = os.environ.get("AIRLOCK_TEST_MARIA", "root@127.0.0.1:3306")


async def _admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_DSN} ({exc}); the store tests need it"
        )


@asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """Create ``airlock_test_<random>``; yield its SQLAlchemy URL; drop it WITH (FORCE)."""
    name = f"airlock_test_{secrets.token_hex(6)}"
    admin = await _admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(PG_ADMIN_DSN).set(drivername="postgresql+asyncpg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        admin = await _admin()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def maria_admin() -> pymysql.connections.Connection:
    """A root connection to the test MariaDB (``MARIA_ADMIN``, user@host:port); FAILS the test
    when MariaDB cannot be reached."""
    user, _, address = MARIA_ADMIN.rpartition("@")
    host, _, port = address.partition(":")
    try:
        return pymysql.connect(
            host=host, port=int(port or 3306), user=user or "root", connect_timeout=5
        )
    except pymysql.MySQLError as exc:
        pytest.fail(f"MariaDB is not reachable at {MARIA_ADMIN} ({exc}); the MySQL tests need it")


def ensure_ed25519() -> None:
    """Install MariaDB's auth_ed25519 once (left installed: other tests may use it)."""
    admin = maria_admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.plugins"
                " WHERE plugin_name = 'ed25519' AND plugin_status = 'ACTIVE'"
            )
            row = cursor.fetchone()
            if row is not None and row[0] == 0:
                try:
                    cursor.execute("INSTALL SONAME 'auth_ed25519'")
                except pymysql.err.MySQLError as exc:
                    if exc.args[0] != 1968:  # ER_PLUGIN_INSTALLED: a concurrent test won
                        raise
    finally:
        admin.close()


@contextmanager
def fresh_maria_database() -> Iterator[str]:
    """Create ``airlock_test_<random>`` on the test MariaDB; yield its name; drop it."""
    name = f"airlock_test_{secrets.token_hex(6)}"
    admin = maria_admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
    finally:
        admin.close()
    try:
        yield name
    finally:
        admin = maria_admin()
        try:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            admin.close()


async def read_only(url: str, on: bool) -> None:
    """Make the PostgreSQL database at ``url`` refuse (or take again) writes in every new
    connection (25006, as a standby after a failover)."""
    name = make_url(url).database
    admin = await _admin()
    try:
        value = "on" if on else "off"
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {value}')
    finally:
        await admin.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'airlock.db'}"


@pytest.fixture
async def pg_database_url() -> AsyncIterator[str]:
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def store_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(store_backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if store_backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'airlock.db'}"
        return
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    await upgrade(database_url)
    db = Database(database_url)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def bus(database: Database) -> AsyncIterator[InProcessBus | PostgresBus]:
    if not database.is_postgres:
        yield InProcessBus()
        return
    async with PostgresBus(database) as pg_bus:
        yield pg_bus


@pytest.fixture
def repository(database: Database, bus: InProcessBus | PostgresBus) -> SqlRepository:
    return SqlRepository(database, bus)


@pytest.fixture
def maria_database() -> Iterator[str]:
    """A fresh, empty MariaDB database (its name), dropped after the test."""
    with fresh_maria_database() as name:
        yield name


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    """The fake Slack Web API with the chat tests' people (tests/bot/chatkit.SLACK_USERS); a test
    module that needs other people defines its own ``fake``."""
    from tests.bot.chatkit import SLACK_USERS  # chatkit imports this module: not at the top

    with FakeSlack(users=SLACK_USERS) as slack:
        yield slack
