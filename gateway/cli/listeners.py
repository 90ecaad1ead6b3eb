"""The listeners ``airlock up`` runs beside the HTTP API, as runtime services.

Each connection type a listener here serves has its dialect in ``DIALECTS``; a connection of
another type, or of a type whose listener has no address in ``[listeners]``, is named at start
(``unserved_lines``, docs/gateway.md, "Dialects").
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from gateway.config import Settings
from gateway.errors import ConfigError
from gateway.guardrails import Dialect
from gateway.postgres.context import Deps
from gateway.postgres.dialect import POSTGRES
from gateway.postgres.listener import PostgresListener
from gateway.runtime import Runtime, Service, say
from gateway.sessions import SessionCore, SessionGuard, build_targets, unserved
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
    async with (
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
