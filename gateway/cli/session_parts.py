"""The parts every door of one process shares (gateway.sessions.core): the statement
journal, this process's replica row, the audit writer of the sessions' records, the session
guard (revocation, delegation use) and the session caps. ``session_parts`` opens them once,
in order, and hands out a ``SessionCore`` per edge (``postgres``, ``mysql``, ``ssh``,
``mcp``): one journal, one replica row and one ``Limits`` for every listener and the MCP
server, so ``max_sessions`` counts them all and a dead process's sessions are reaped as one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from gateway.config import Settings
from gateway.errors import ConfigError
from gateway.runtime import Runtime, say
from gateway.sessions import Journal, JournalError, Limits, SessionCore, SessionGuard, replay
from gateway.sessions.replicas import Replica, running_replica
from store import AuditWriter, Unavailable

__all__ = ["CoreFor", "Parts", "replica_only", "session_parts"]

log = logging.getLogger("airlock.journal")

CoreFor = Callable[[str], SessionCore]  # a door's core, by its edge


@dataclass(frozen=True)
class Parts:
    """The open parts: ``core(edge)`` makes a door's core on them; ``guard`` is told when the
    doors close (``guard.closing()``)."""

    core: CoreFor
    guard: SessionGuard


@contextlib.asynccontextmanager
async def session_parts(runtime: Runtime, stop: asyncio.Event) -> AsyncIterator[Parts]:
    """Open the shared parts; close them by the runtime's shutdown deadline.

    One audit transaction costs ~1.6 ms of the event loop's CPU (SQLAlchemy, the driver's
    thread hand-offs) whatever it holds: the sessions' statement batches of a quarter second
    share one. Refusals, holds and sessions' ends are written at once (urgent).
    Opened in order: the journal's replay, then this process's replica (which reaps the
    processes that are gone: their statements are in the trail before their reviews end).
    Closed in reverse: the guard, then the audit writer (its last batches confirm the
    journal's statements), then the replica's stop (its sessions have ended), then the
    journal (what is still unconfirmed is replayed)."""
    settings = runtime.settings
    drain = _Drain()
    async with (
        _journaled(runtime, drain) as journal,
        _replica(runtime, stop) as replica,
        _auditing(runtime, drain) as audit,
        _watching(runtime) as guard,
    ):
        limits = _limits(settings)

        def core(edge: str) -> SessionCore:
            return SessionCore(
                edge=edge, service=runtime.service, repository=runtime.repository, audit=audit,
                metrics=runtime.metrics, guard=guard, journal=journal, replica=replica.id,
                limits=limits,
            )  # fmt: skip

        yield Parts(core, guard)


def replica_only(runtime: Runtime, stop: asyncio.Event) -> AbstractAsyncContextManager[Replica]:
    """This process's replica row alone: a process that serves no sessions still reaps the
    processes that are gone."""
    return _replica(runtime, stop)


@dataclass
class _Drain:
    """Whether the audit writer could not drain at stop: then the store takes no writes, and
    the journal is left for the next start rather than read for a replay that cannot land."""

    failed: bool = False


def _limits(settings: Settings) -> Limits:
    """The session caps of this process (a second listener must share this Limits, not make
    its own: max_sessions counts every listener's sessions)."""
    return Limits(
        settings.gateway.max_sessions,
        settings.gateway.max_sessions_per_identity,
        {c.name: c.max_sessions for c in settings.connections if c.max_sessions is not None},
    )


@contextlib.asynccontextmanager
async def _auditing(runtime: Runtime, drain: _Drain) -> AsyncIterator[AuditWriter]:
    """The audit writer of the sessions' records, drained at the end by the shutdown's
    ``services()`` deadline (10 s when no shutdown began)."""
    audit = AuditWriter(runtime.database, interval=0.25)
    try:
        yield audit
    finally:
        shutdown = runtime.shutdown
        left = shutdown.services()
        try:
            await audit.close(grace=10.0 if left is None else left)
        except Unavailable as exc:
            drain.failed = True
            shutdown.problem(
                f"{exc.message} before the deadline (the statements among them stay in the "
                "statement journal for the next start)"
            )


@contextlib.asynccontextmanager
async def _journaled(runtime: Runtime, drain: _Drain | None = None) -> AsyncIterator[Journal]:
    """This process's statement journal (``[gateway] journal_dir``), after what other processes
    left unconfirmed there was replayed into the audit trail: before any listener accepts a
    connection. At the end, once the audit writer is closed, what it could not confirm is
    replayed too (or stays for the next start if the store cannot take it)."""
    settings = runtime.settings.gateway
    directory = settings.journal_path(runtime.settings.store.url)
    journal = Journal(
        directory,
        segment_bytes=settings.journal_segment_bytes,
        sync_interval=settings.journal_sync.total_seconds(),
    )
    try:
        journal.open()  # first: the segment this process writes is locked before the replay
        await _replay(directory, runtime)
    except (JournalError, OSError) as exc:
        journal.close()
        raise ConfigError(f"{exc}") from exc
    say(f"airlock: statement journal in {directory} (synced every "
        f"{settings.journal_sync.total_seconds() * 1000:g} ms)")  # fmt: skip
    try:
        yield journal
    finally:
        journal.close()
        await _replay_at_stop(directory, runtime, drain or _Drain())


async def _replay_at_stop(directory: Path, runtime: Runtime, drain: _Drain) -> None:
    """Replay what this process's journal holds unconfirmed, by the shutdown's deadline; what
    the store cannot take in time stays in the journal for the next start. Not tried when the
    audit writer could not drain: its segments are read in a thread no deadline reaches."""
    shutdown = runtime.shutdown
    if drain.failed:
        shutdown.problem(f"the statement journal stays in {directory} for the next start")
        return
    try:
        async with asyncio.timeout(shutdown.services()):
            await _replay(directory, runtime)
    except TimeoutError:
        shutdown.problem(
            "the statement journal could not be replayed into the audit trail before the "
            f"deadline: it stays in {directory} for the next start"
        )
    except Exception:  # the store is gone: the next start replays them
        log.exception("statement journal: the replay at stop failed; the next start retries")
        if shutdown.begun:
            shutdown.problem(f"the statement journal stays in {directory} for the next start")


async def _replay(directory: Path, runtime: Runtime) -> None:
    done = await replay(directory, runtime.database)
    if done.statements:
        say(f"airlock: replayed {done.statements} unconfirmed statements of {done.sessions} "
            f"sessions from the statement journal ({done.segments} segments)")  # fmt: skip
    for line in done.damaged:
        log.warning("statement journal: %s (its whole records were replayed)", line)


def _replica(runtime: Runtime, stop: asyncio.Event) -> AbstractAsyncContextManager[Replica]:
    """This process's replica row: heartbeats every ``[gateway] heartbeat_interval``, reaps
    the processes gone (docs/operations.md)."""
    settings = runtime.settings.gateway
    return running_replica(
        runtime.repository,
        runtime.service,
        stop,
        interval=settings.heartbeat_interval,
        dead_after=settings.replica_dead_after,
        say=say,
        metrics=runtime.metrics,
    )


@contextlib.asynccontextmanager
async def _watching(runtime: Runtime) -> AsyncIterator[SessionGuard]:
    """The session guard every listener of this process shares, watching revocations and
    writing delegation use for as long as the listeners run (and once more as it stops)."""
    guard = SessionGuard(
        runtime.service,
        runtime.identity.authenticator,
        runtime.identity.store,
        runtime.metrics,
        flush_every=runtime.settings.identity.usage_flush.total_seconds(),
    )
    watcher = asyncio.create_task(guard.run())
    try:
        yield guard
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        shutdown = runtime.shutdown
        left = shutdown.services()
        # Usage is a counter beside the trail: it gets a quarter of what is left, so that the
        # audit writer keeps the most of it.
        try:
            async with asyncio.timeout(None if left is None else left / 4):
                written = await guard.close()
        except TimeoutError:
            written = False
        if not written:
            shutdown.problem("the delegations' last use could not be recorded in time")
