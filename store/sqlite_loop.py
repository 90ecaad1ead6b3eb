"""A SQLite connection for the event loop's own thread: aiosqlite's, minus most thread hops.

aiosqlite runs every sqlite3 call (open a cursor, execute, fetch, close the cursor, BEGIN,
commit, rollback) in the connection's thread and wakes the event loop when it is done: a hop
there and back for each, about four per statement. On a local WAL database nearly all of those
calls are microseconds of CPU, and the hops cost three times the work: measured on this machine,
a read transaction of one statement took 1.3 ms of CPU through the thread and 0.36 ms in the
loop (issue 23, docs/benchmarks.md).

:class:`LoopConnection` therefore runs each call in the calling (event loop) thread, except the
two that can wait on something other than the CPU, which still go to aiosqlite's thread where
the loop goes on meanwhile:

- ``BEGIN IMMEDIATE``: it waits up to the busy timeout (``store.engine.BUSY_SLICE_S``) for
  another process's write lock (a CLI command, another replica's migration);
- ``commit``: it may run a WAL checkpoint, which writes the database file and syncs it.

Everything else in WAL mode does not wait for other connections (readers never block, and a
write transaction already holds the lock from its ``BEGIN IMMEDIATE``), so it runs in the loop.
A long read (a big audit export) does hold the loop for its duration; such reads were
CPU-bound under the GIL already. Calls on one connection never overlap (SQLAlchemy awaits each),
so using the sqlite3 connection from two threads in turn is safe (``check_same_thread`` off, as
SQLAlchemy's aiosqlite dialect sets it anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite

__all__ = ["LoopConnection", "connector"]

STOP_WAIT_S = 1.0  # for the thread of a connection that could not open to stop


class LoopConnection(aiosqlite.Connection):
    """aiosqlite's connection, running calls that cannot wait in the caller's thread."""

    _stopping: asyncio.Future[Any] | None = None

    def stop(self) -> asyncio.Future[Any] | None:
        self._stopping = super().stop()
        return self._stopping

    async def _connect(self) -> aiosqlite.Connection:
        """aiosqlite's, but a connection that could not open waits for its thread to stop:
        aiosqlite asks it to and goes on, and a thread answering after its loop closed (a
        command that fails to open its store and exits) dies with a RuntimeError traceback."""
        try:
            return await super()._connect()
        except BaseException:
            stopping = self._stopping
            if stopping is not None:
                with contextlib.suppress(Exception):  # a cancel goes on
                    await asyncio.wait_for(asyncio.shield(stopping), STOP_WAIT_S)
            raise

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if _may_wait(fn, args, self._connection):
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")  # as aiosqlite says it
        return fn(*args, **kwargs)


def _may_wait(fn: Callable[..., Any], args: tuple[Any, ...], conn: object) -> bool:
    """BEGIN IMMEDIATE (a lock wait), and the connection's commit (a checkpoint) and close."""
    name = getattr(fn, "__name__", "")
    if name in ("commit", "close") and getattr(fn, "__self__", None) is conn:
        return True
    return (
        name == "execute"
        and bool(args)
        and isinstance(args[0], str)
        and args[0].lstrip()[:15].upper() == "BEGIN IMMEDIATE"
    )


def connector(path: str, **kwargs: Any) -> Callable[[], LoopConnection]:
    """An ``async_creator`` for SQLAlchemy: a :class:`LoopConnection` to ``path`` (opened, like
    aiosqlite's, in its thread); ``kwargs`` go to :func:`sqlite3.connect`."""

    def open_() -> sqlite3.Connection:
        opened: sqlite3.Connection = sqlite3.connect(path, **kwargs)
        return opened

    def create() -> LoopConnection:
        connection = LoopConnection(open_, 64)
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
        return connection

    return create
