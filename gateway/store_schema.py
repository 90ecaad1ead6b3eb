"""Whether a store has its schema, for the parts that open one: the runtime, and the commands
that read a store directly (``audit verify|export``, ``access-review report``, ``token
create``). A module of its own so that those commands need not import the runtime (the HTTP API,
uvicorn) to ask."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.engine import make_url

from gateway.errors import ConfigError
from store import migrate

__all__ = ["existing_store", "require_schema"]


async def existing_store(url: str) -> None:
    """For commands that read a store: a SQLite store is brought up to the current schema, but
    never created (verifying a new, empty file would report an intact chain of nothing); any
    other store must have its schema already."""
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
    if await migrate.current_revision(url) is None:
        shown = make_url(url).render_as_string(hide_password=True)
        raise ConfigError(f"the store {shown} has no schema yet: run `airlock db upgrade` first")
