"""Alembic environment for the store's migrations.

:mod:`store.migrate` runs alembic programmatically and hands the connection over in
``config.attributes["connection"]`` (an async engine's connection, through ``run_sync``). Run as
plain ``alembic -x url=... upgrade head`` (or with ``sqlalchemy.url`` set), this file makes its own
engine with :func:`store.engine.create_engine` and drives it with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from store.engine import create_engine
from store.tables import PG_ONLY_INDEXES, metadata

config = context.config
target_metadata = metadata


def _configure(connection: Connection) -> None:
    postgres = connection.dialect.name == "postgresql"

    def include_object(
        _obj: object, name: str | None, type_: str, _reflected: bool, _other: object
    ) -> bool:
        return postgres or not (type_ == "index" and name in PG_ONLY_INDEXES)

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=not postgres,  # SQLite ALTERs by copying the table
        compare_type=True,
        include_object=include_object,
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_with_own_engine(url))


_main()
