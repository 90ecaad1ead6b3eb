"""Migrations: from empty to head and back to base, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from store import Database, MigrationError, StoreError, current_revision, downgrade, upgrade
from store.migrate import alembic_config, migrate_sync
from store.tables import PG_ONLY_INDEXES, metadata

TABLES = {
    "identity",
    "service_account",
    "review",
    "decision",
    "delegation",
    "session",
    "session_event",
    "audit_event",
    "outbox",
    "outbox_delivery",
    "chat_message",
    "digest",
    "stored_key",
    "scheduler_run",
    "scheduler_mark",
    "chat_notice",
    "revoked_subject",
    "revoked_token",
    "replica",
    "ssh_key",
}
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_the_migrations_have_exactly_one_head() -> None:
    """Every migration chains onto the one before it: alembic sees a single head."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [HEAD]


async def _tables(url: str) -> set[str]:
    async with Database(url) as db, db.engine.connect() as conn:
        names: list[str] = await conn.run_sync(lambda c: inspect(c).get_table_names())
    return set(names)


async def test_upgrade_from_empty_creates_every_table(database_url: str) -> None:
    """`upgrade(url)` on an empty database creates every table and records the head revision."""
    assert await current_revision(database_url) is None
    await upgrade(database_url)
    assert await _tables(database_url) == TABLES | {"alembic_version"}
    assert await current_revision(database_url) == HEAD


async def test_downgrade_base_drops_everything_and_upgrade_again_works(database_url: str) -> None:
    """`alembic downgrade base` leaves only alembic's table; upgrading again restores all."""
    await upgrade(database_url)
    await downgrade(database_url, "base")
    assert await _tables(database_url) == {"alembic_version"}
    assert await current_revision(database_url) is None
    await upgrade(database_url)
    assert await _tables(database_url) == TABLES | {"alembic_version"}


async def test_migrated_schema_matches_the_tables(database_url: str) -> None:
    """The hand-written migration and the SQLModel tables describe the same schema."""
    await upgrade(database_url)

    def diff(conn: Connection) -> list[object]:
        postgres = conn.dialect.name == "postgresql"

        def include(_o: object, name: str | None, kind: str, _r: bool, _c: object) -> bool:
            return postgres or not (kind == "index" and name in PG_ONLY_INDEXES)

        opts = {"compare_type": True, "include_object": include}
        context = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(context, metadata))

    async with Database(database_url) as db, db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_concurrent_upgrades_do_not_race(database_url: str) -> None:
    """Replicas that start together and all migrate end with one schema, without errors."""
    await asyncio.gather(*(upgrade(database_url) for _ in range(3)))
    assert await current_revision(database_url) == HEAD


async def test_migrate_sync_works_inside_a_running_event_loop(database_url: str) -> None:
    """`migrate_sync` may be called from async code: it migrates on a worker thread's loop."""
    migrate_sync(database_url)
    assert await current_revision(database_url) == HEAD


async def test_upgrade_to_an_unknown_revision_is_a_migration_error(database_url: str) -> None:
    """An unknown target revision is reported as MigrationError, not an alembic exception."""
    with pytest.raises(MigrationError):
        await upgrade(database_url, "9999")


def test_unsupported_url_is_refused() -> None:
    """Only sqlite+aiosqlite and postgresql+asyncpg URLs make a Database."""
    with pytest.raises(StoreError, match="unsupported store URL"):
        Database("mysql+aiomysql://root@localhost/airlock")
