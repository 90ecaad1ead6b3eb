"""Run the store's alembic migrations programmatically.

The migrations live in the package (``store/migrations``), so this works from an installed wheel
and from any working directory: no ``alembic.ini`` is needed. The whole upgrade runs in one
transaction (SQLite gets transactional DDL because SQLAlchemy emits BEGIN itself, see
:mod:`store.engine`); on PostgreSQL it first takes an advisory lock, so replicas starting together
migrate one after the other instead of racing. Runs on one event loop are serialised too: alembic
keeps the running command in module globals (``alembic.context``, ``alembic.op``), and a run's
database waits would otherwise let another run's command replace them mid-way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import weakref
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.pool import NullPool

from store.engine import WRITE_OPTION, create_engine
from store.errors import MigrationError, StoreError, Unavailable, translate_errors

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "downgrade",
    "migrate_sync",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_MIGRATE_LOCK = 0x4149524C4F434B02  # "AIRLOCK" + 2
_runs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)  # one lock per event loop (migrate_sync runs its own)


def alembic_config() -> Config:
    """An alembic Config pointing at the packaged migrations (no ini file)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def upgrade(url: str | URL, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision`` (``alembic upgrade head``)."""
    await _run(url, lambda config, conn: command.upgrade(config, revision))


async def downgrade(url: str | URL, revision: str = "base") -> None:
    """Take the database at ``url`` down to ``revision`` (``alembic downgrade base``)."""
    await _run(url, lambda config, conn: command.downgrade(config, revision))


async def current_revision(url: str | URL) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    revisions: list[str | None] = []

    def read(_config: Config, conn: Connection) -> None:
        revisions.append(MigrationContext.configure(conn).get_current_revision())

    await _run(url, read)
    return revisions[0]


def migrate_sync(url: str | URL, revision: str = "head") -> None:
    """``upgrade`` for synchronous callers; safe to call from inside a running event loop
    (the migration then runs on its own loop in a worker thread, and this call blocks)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(upgrade(url, revision))
        return
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="airlock-migrate") as pool:
        pool.submit(asyncio.run, upgrade(url, revision)).result()


async def _run(url: str | URL, action: Callable[[Config, Connection], None]) -> None:
    lock = _runs.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        await _run_alone(url, action)


async def _run_alone(url: str | URL, action: Callable[[Config, Connection], None]) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with translate_errors():
            # IMMEDIATE on SQLite: take the write lock before alembic reads its version table.
            async with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
                if conn.dialect.name == "postgresql":
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK}
                    )
                await conn.run_sync(_with_config, action)
    except CommandError as exc:
        raise MigrationError(f"migration failed: {exc}") from exc
    except (Unavailable, MigrationError):
        raise
    except StoreError as exc:
        raise MigrationError(f"migration failed: {exc.message}") from exc
    finally:
        await engine.dispose()


def _with_config(conn: Connection, action: Callable[[Config, Connection], None]) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    action(config, conn)
