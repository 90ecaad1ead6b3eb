"""The listeners ``airlock up`` runs beside the HTTP API, as runtime services."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator

from gateway.config import Settings
from gateway.errors import ConfigError
from gateway.postgres.context import Deps
from gateway.postgres.listener import PostgresListener
from gateway.postgres.revocation import SessionGuard
from gateway.runtime import Runtime, Service, say
from gateway.sessions.target import build_targets
from store import AuditWriter

__all__ = ["listeners", "postgres_service", "tls_context"]


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
    targets = build_targets(settings.connections)
    if not settings.listeners.postgres or not targets:
        await stop.wait()
        return
    for target in targets.values():  # a missing secret stops the start, not the first session
        for role in (None, *target.config.roles):
            target.config.credential(role)
    # One audit transaction costs ~1.6 ms of the event loop's CPU (SQLAlchemy, the driver's
    # thread hand-offs) whatever it holds: the sessions' statement batches of a quarter second
    # share one. Refusals, holds and sessions' ends are written at once (urgent).
    async with AuditWriter(runtime.database, interval=0.25) as audit:
        deps = Deps(
            service=runtime.service,
            repository=runtime.repository,
            audit=audit,
            metrics=runtime.metrics,
            targets=targets,
            tls=tls_context(settings),
            allow_plaintext=settings.listeners.allow_plaintext,
        )
        guard = SessionGuard(
            runtime.service,
            runtime.identity.authenticator,
            runtime.identity.store,
            runtime.metrics,
            flush_every=settings.identity.usage_flush.total_seconds(),
        )
        listener = PostgresListener(deps, guard, settings.listeners.postgres)
        await listener.start()
        names = ", ".join(sorted(targets))
        say(f"airlock: PostgreSQL listener on {listener.host}:{listener.port} ({names})")
        try:
            await stop.wait()
        finally:
            await listener.close()


def listeners() -> Iterator[Service]:
    yield postgres_service
