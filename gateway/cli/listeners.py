"""The listeners ``airlock up`` runs beside the HTTP API, as runtime services.

Each connection type a listener here serves has its dialect in ``DIALECTS``; a connection of
another type, or of a type whose listener has no address in ``[listeners]``, is named at start
(``unserved_lines``, docs/gateway.md, "Dialects").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

from gateway.config import Settings
from gateway.errors import ConfigError
from gateway.guardrails import Dialect
from gateway.postgres.context import Deps
from gateway.postgres.dialect import POSTGRES
from gateway.postgres.listener import PostgresListener
from gateway.runtime import Runtime, Service, say
from gateway.sessions import (
    Journal,
    JournalError,
    Limits,
    SessionCore,
    SessionGuard,
    build_targets,
    replay,
    unserved,
)
from store import AuditWriter

__all__ = [
    "DIALECTS",
    "listeners",
    "postgres_service",
    "tls_context",
    "unserved_lines",
    "unserved_notice",
]

DIALECTS: Mapping[str, Dialect[Any, Any]] = {"postgres": POSTGRES}
log = logging.getLogger("airlock.journal")


def unserved_lines(settings: Settings) -> list[str]:
    """One line per connection no listener serves: no listener for its type exists here, or it
    has no address in ``[listeners]``."""
    addresses = {"postgres": settings.listeners.postgres}
    served = {kind: dialect for kind, dialect in DIALECTS.items() if addresses.get(kind)}
    return [
        f"airlock: connection {conn.name} ({conn.type}) is not served: no {conn.type} listener"
        for conn in unserved(settings.connections, served)
    ]


async def unserved_notice(runtime: Runtime, stop: asyncio.Event) -> None:
    """Say which connections are not served, once at start; then wait like the listeners."""
    for line in unserved_lines(runtime.settings):
        say(line)
    await stop.wait()


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    cert, key = settings.listeners.tls_cert, settings.listeners.tls_key
    if not cert and not key:
        return None
    if not (cert and key):
        raise ConfigError("[listeners] tls_cert and tls_key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the listener's TLS certificate: {exc}") from exc
    return context


async def postgres_service(runtime: Runtime, stop: asyncio.Event) -> None:
    """Serve the PostgreSQL listener until ``stop`` is set; audit events are drained on exit."""
    settings = runtime.settings
    targets = build_targets(settings.connections, {"postgres": POSTGRES})
    if not settings.listeners.postgres or not targets:
        await stop.wait()
        return
    for target in targets.values():  # a missing secret stops the start, not the first session
        for role in (None, *target.config.roles):
            target.config.credential(role)
    # One audit transaction costs ~1.6 ms of the event loop's CPU (SQLAlchemy, the driver's
    # thread hand-offs) whatever it holds: the sessions' statement batches of a quarter second
    # share one. Refusals, holds and sessions' ends are written at once (urgent).
    # Closed in reverse: the guard, then the audit writer (its last batches confirm the
    # journal's statements), then the journal (what is still unconfirmed is replayed).
    async with (
        _journaled(runtime) as journal,
        AuditWriter(runtime.database, interval=0.25) as audit,
        _watching(runtime) as guard,
    ):
        core = SessionCore(
            edge="postgres",
            service=runtime.service,
            repository=runtime.repository,
            audit=audit,
            metrics=runtime.metrics,
            guard=guard,
            journal=journal,
            limits=_limits(settings),
        )
        deps = Deps(
            core=core,
            targets=targets,
            tls=tls_context(settings),
            allow_plaintext=settings.listeners.allow_plaintext,
        )
        listener = PostgresListener(deps, settings.listeners.postgres)
        await listener.start()
        names = ", ".join(sorted(targets))
        say(f"airlock: PostgreSQL listener on {listener.host}:{listener.port} ({names})")
        try:
            await stop.wait()
        finally:
            await listener.close()


def _limits(settings: Settings) -> Limits:
    """The session caps of this process (a second listener must share this Limits, not make
    its own: max_sessions counts every listener's sessions)."""
    return Limits(
        settings.gateway.max_sessions,
        settings.gateway.max_sessions_per_identity,
        {c.name: c.max_sessions for c in settings.connections if c.max_sessions is not None},
    )


@contextlib.asynccontextmanager
async def _journaled(runtime: Runtime) -> AsyncIterator[Journal]:
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
        try:
            await _replay(directory, runtime)
        except Exception:  # the store is gone: the next start replays them
            log.exception("statement journal: the replay at stop failed; the next start retries")


async def _replay(directory: Path, runtime: Runtime) -> None:
    done = await replay(directory, runtime.database)
    if done.statements:
        say(f"airlock: replayed {done.statements} unconfirmed statements of {done.sessions} "
            f"sessions from the statement journal ({done.segments} segments)")  # fmt: skip
    for line in done.damaged:
        log.warning("statement journal: %s (its whole records were replayed)", line)


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


def listeners() -> Iterator[Service]:
    yield unserved_notice
    yield postgres_service
