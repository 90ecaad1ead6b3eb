"""The listeners ``airlock up`` runs beside the HTTP API, as runtime services.

Each connection type a listener here serves has its dialect in ``DIALECTS``; a connection of
another type, or of a type whose listener has no address in ``[listeners]``, is named at start
(``unserved_lines``, docs/gateway.md, "Dialects").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config import Settings
from gateway.errors import ConfigError
from gateway.guardrails import Dialect
from gateway.postgres.context import Deps
from gateway.postgres.dialect import POSTGRES
from gateway.postgres.listener import CLOSE_GRACE_S, PostgresListener
from gateway.runtime import Runtime, Service, Shutdown, say
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
from gateway.sessions.replicas import Replica, running_replica
from gateway.ssh import SHELL, Forward, SshDeps, SshListener, load_host_key, load_key
from store import AuditWriter, SshKeyStore, Unavailable

__all__ = [
    "DIALECTS",
    "listeners",
    "postgres_service",
    "ssh_service",
    "tls_context",
    "unserved_lines",
    "unserved_notice",
]

DIALECTS: Mapping[str, Dialect[Any, Any]] = {"postgres": POSTGRES, "ssh": SHELL}
log = logging.getLogger("airlock.journal")


def unserved_lines(settings: Settings) -> list[str]:
    """One line per connection no listener serves: no listener for its type exists here, or it
    has no address in ``[listeners]``."""
    addresses = {"postgres": settings.listeners.postgres, "ssh": settings.listeners.ssh}
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
    """Serve the PostgreSQL listener until ``stop`` is set; then stop by the runtime's shutdown
    deadline (docs/operations.md, "Shutdown has a deadline"): end the sessions (FATAL 57P01;
    they record their end and cancel their held reviews), write the delegations' use, drain
    the audit writer, close the statement journal and replay what the trail did not confirm.
    What cannot be written in time stays in the journal, and the shutdown notes it (the exit is
    not 0)."""
    settings = runtime.settings
    targets = build_targets(settings.connections, {"postgres": POSTGRES})
    if not settings.listeners.postgres or not targets:
        async with _replica(runtime, stop):  # no sessions here, but it reaps the gone
            await stop.wait()
        return
    for target in targets.values():  # a missing secret stops the start, not the first session
        for role in (None, *target.config.roles):
            target.config.credential(role)
    # One audit transaction costs ~1.6 ms of the event loop's CPU (SQLAlchemy, the driver's
    # thread hand-offs) whatever it holds: the sessions' statement batches of a quarter second
    # share one. Refusals, holds and sessions' ends are written at once (urgent).
    # Opened in order: the journal's replay, then this process's replica (which reaps the
    # processes that are gone: their statements are in the trail before their reviews end).
    # Closed in reverse: the guard, then the audit writer (its last batches confirm the
    # journal's statements), then the replica's stop (its sessions have ended), then the
    # journal (what is still unconfirmed is replayed).
    drain = _Drain()
    async with (
        _journaled(runtime, drain) as journal,
        _replica(runtime, stop) as replica,
        _auditing(runtime, drain) as audit,
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
            replica=replica.id,
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
            runtime.shutdown.begin()
            await _end_sessions(listener, runtime.shutdown)


async def _end_sessions(listener: PostgresListener, shutdown: Shutdown) -> None:
    """Stop accepting and end the sessions, by the shutdown's ``sessions()`` deadline."""
    left = shutdown.sessions()
    listener.core.guard.closing()
    cut = await listener.close(CLOSE_GRACE_S if left is None else left)
    if cut.sessions:
        shutdown.problem(
            f"{cut.sessions} PostgreSQL sessions could not record their end in time (their "
            "statements are in the statement journal)"
        )
    if cut.holds:
        shutdown.problem(f"{cut.holds} held statements' reviews could not be cancelled in time")


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


# -- SSH (gateway.ssh): its own journal, replica, audit writer and guard, as PostgreSQL's ------


async def ssh_service(runtime: Runtime, stop: asyncio.Event) -> None:
    """Serve the SSH listener until ``stop`` is set, then end its sessions (disconnected,
    saying why) and close the parts it opened in reverse, as ``postgres_service`` does."""
    settings = runtime.settings
    targets = build_targets(settings.connections, {"ssh": SHELL})
    if not settings.listeners.ssh or not targets:
        await stop.wait()
        return
    keys = {name: load_key(target.config) for name, target in targets.items()}
    host_key = load_host_key(settings.listeners.ssh_host_key)
    drain = _Drain()
    async with (
        _journaled(runtime, drain) as journal,
        _replica(runtime, stop) as replica,
        _auditing(runtime, drain) as audit,
        _watching(runtime) as guard,
    ):
        core_for = functools.partial(
            SessionCore,
            service=runtime.service,
            repository=runtime.repository,
            audit=audit,
            metrics=runtime.metrics,
            guard=guard,
            journal=journal,
            replica=replica.id,
            limits=_limits(settings),
        )  # fmt: skip: the SSH sessions' core, and their tunnels' (one Limits for both)
        core = core_for(edge="ssh")
        tunnels = _tunnels(settings, targets, core_for(edge="postgres"))
        forwards = {
            name: Forward(target.config.upstream, tunnels.serve_tunnel)
            for name, target in tunnels.deps.targets.items()
        }
        deps = SshDeps(core, targets, keys, forwards, SshKeyStore(runtime.database))
        listener = SshListener(deps, settings.listeners.ssh, host_key)
        await listener.start()
        names = ", ".join(sorted(targets))
        say(f"airlock: SSH listener on {listener.host}:{listener.port} ({names})")
        try:
            await stop.wait()
        finally:
            runtime.shutdown.begin()
            left = runtime.shutdown.sessions()
            guard.closing()
            await listener.close(CLOSE_GRACE_S if left is None else left)
            await tunnels.close(CLOSE_GRACE_S if left is None else left)


def _tunnels(settings: Settings, ssh: Mapping[str, Any], core: SessionCore) -> PostgresListener:
    """The PostgreSQL listener logic that serves SSH forwards to the connections named in a
    ``forward_to`` (it listens on no port of its own: gateway.ssh.tunnel hands it streams)."""
    wanted = {name for target in ssh.values() for name in target.config.forward_to}
    every = build_targets(settings.connections, {"postgres": POSTGRES})
    targets = {name: target for name, target in every.items() if name in wanted}
    deps = Deps(core=core, targets=targets, tls=None, allow_plaintext=True)
    return PostgresListener(deps, "127.0.0.1:0")


def listeners() -> Iterator[Service]:
    yield unserved_notice
    yield postgres_service
    yield ssh_service
