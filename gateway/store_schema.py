"""Whether a store has its schema, for the parts that open one: the runtime, and the commands
that read a store directly (``audit verify|export``, ``access-review report``, ``token
create``). A module of its own so that those commands need not import the runtime (the HTTP API,
uvicorn) to ask.

:data:`HEAD_REVISION` is the newest migration's revision (``store/migrations/versions``; a test
fails when a migration is added and it is not updated): a SQLite file whose ``alembic_version``
says so has the current schema, which ``airlock audit verify`` learns without importing Alembic
or SQLAlchemy (:func:`current_sqlite_file`). Any other answer takes the full path below.
"""

from __future__ import annotations

import re
from pathlib import Path

from gateway.errors import ConfigError

__all__ = ["HEAD_REVISION", "current_sqlite_file", "existing_store", "require_schema"]

HEAD_REVISION = "0008"

# `sqlite:///PATH` and `sqlite+aiosqlite:///PATH` with nothing after the path: the forms
# whose file is PATH as written. Anything else (a query, `:memory:`) is SQLAlchemy's to read.
_PLAIN_SQLITE = re.compile(r"sqlite(?:\+aiosqlite)?:///([^?#]+)")


def current_sqlite_file(url: str) -> str | None:
    """The file of a SQLite store that exists and is at :data:`HEAD_REVISION`, read with the
    standard library; None when the store is anything else (not SQLite, not a plain file URL,
    missing, older or newer), which :func:`existing_store` then handles."""
    match = _PLAIN_SQLITE.fullmatch(url)
    if match is None or match.group(1) == ":memory:" or not Path(match.group(1)).is_file():
        return None
    from store.sqlite_audit import store_revision  # noqa: PLC0415  (no SQLAlchemy in it)

    return match.group(1) if store_revision(match.group(1)) == HEAD_REVISION else None


async def existing_store(url: str) -> None:
    """For commands that read a store: a SQLite store is brought up to the current schema, but
    never created (verifying a new, empty file would report an intact chain of nothing); any
    other store must have its schema already."""
    import asyncio  # noqa: PLC0415  (see the module's docstring)

    from sqlalchemy.engine import make_url  # noqa: PLC0415

    from store import migrate  # noqa: PLC0415

    if not url.startswith("sqlite"):
        await require_schema(url)
        return
    path = make_url(url).database
    if path and path != ":memory:" and not await asyncio.to_thread(Path(path).exists):
        raise ConfigError(
            f"there is no store at {path}: point --config (or AIRLOCK_STORE__URL) at the "
            "deployment's store"
        )
    await migrate.upgrade(url)


async def require_schema(url: str) -> None:
    """Raise a ConfigError saying what to do when the store was never migrated."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    from store import migrate  # noqa: PLC0415

    if await migrate.current_revision(url) is None:
        shown = make_url(url).render_as_string(hide_password=True)
        raise ConfigError(f"the store {shown} has no schema yet: run `airlock db upgrade` first")
