"""The running parts of one gateway process, opened and closed together.

``open_runtime`` builds the store, bus, service and token service from settings;
``serve`` runs the HTTP API and the listeners until SIGINT/SIGTERM, then shuts down cleanly
within one deadline (:class:`Shutdown`, ``[gateway] shutdown_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

import uvicorn
from fastapi import APIRouter

from approvals import ApprovalService, SystemClock
from gateway.api.app import create_app
from gateway.api.context import ApiContext
from gateway.config import Settings, split_hostport
from gateway.errors import ConfigError
from gateway.identity import (
    IdentityKit,
    SigningKey,
    TokenService,
    generate_key,
    load_key,
    open_identity,
)
from gateway.metrics import Metrics
from gateway.shutdown import EXIT_UNRECORDED, Shutdown
from gateway.store_schema import existing_store, require_schema
from store import Database, SqlRepository, create_bus, keys, migrate

__all__ = [
    "EXIT_UNRECORDED",
    "Runtime",
    "Service",
    "Shutdown",
    "existing_store",
    "open_runtime",
    "require_schema",
    "serve",
    "signing_key",
]

log = logging.getLogger("airlock")

GRACE_S = 5  # seconds in-flight HTTP requests get to finish on shutdown

# A part of the process that runs beside the HTTP API: started with the runtime, stopped on exit.
Service = Callable[["Runtime", asyncio.Event], Awaitable[None]]


@dataclass
class Runtime:
    settings: Settings
    database: Database
    repository: SqlRepository
    service: ApprovalService
    tokens: TokenService
    metrics: Metrics
    clock: SystemClock
    identity: IdentityKit
    routers: list[APIRouter] = field(default_factory=list)
    shutdown: Shutdown = field(default_factory=lambda: Shutdown(20.0))

    def api_context(self) -> ApiContext:
        return ApiContext(
            settings=self.settings,
            service=self.service,
            repository=self.repository,
            database=self.database,
            tokens=self.tokens,
            metrics=self.metrics,
            clock=self.clock,
            identity=self.identity,
        )


async def signing_key(settings: Settings, database: Database) -> SigningKey:
    """``AIRLOCK_SIGNING_KEY`` when set; otherwise the key kept in the store (made once)."""
    if settings.signing_key:
        return load_key(settings.signing_key)
    pem = await keys.get_or_create(database, lambda: generate_key().private_pem())
    return load_key(pem)


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, *, upgrade: bool | None = None
) -> AsyncIterator[Runtime]:
    """Open the store (migrating SQLite automatically), the bus, the service and the tokens."""
    url = settings.store.url
    if upgrade if upgrade is not None else url.startswith("sqlite"):
        await migrate.upgrade(url)
    else:
        await require_schema(url)
    database = Database(url)
    shutdown = Shutdown(settings.gateway.shutdown_timeout.total_seconds())
    bus = await create_bus(database)
    try:
        repository = SqlRepository(database, bus)
        clock = SystemClock()
        connections = {c.name: c.policy() for c in settings.connections}
        service = ApprovalService(repository, bus, clock, connections)
        tokens = TokenService(await signing_key(settings, database))
        async with open_identity(settings.identity, tokens, service, repository) as identity:
            yield Runtime(
                settings, database, repository, service, tokens, Metrics(), clock, identity,
                shutdown=shutdown,
            )  # fmt: skip
    finally:
        await _close_store(shutdown, bus.close, database.close)


async def _close_store(shutdown: Shutdown, *closing: Callable[[], Awaitable[None]]) -> None:
    """Close the bus and the store, by the shutdown's deadline once it began."""
    try:
        async with asyncio.timeout(shutdown.left()):
            for close in closing:
                await close()
    except TimeoutError:
        shutdown.problem("the store did not close before the deadline")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    runtime: Runtime, services: Sequence[Service] = (), stop: asyncio.Event | None = None
) -> None:
    """Run the HTTP API and ``services`` until ``stop`` is set (by default: SIGINT/SIGTERM);
    then stop them all cleanly, by ``runtime.shutdown``'s deadline (those still running then
    are cancelled, and the shutdown notes the problem)."""
    shutdown = runtime.shutdown
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if not shutdown.begun:
                say(f"airlock: stopping (shutdown_timeout {shutdown.timeout:g}s)")
            shutdown.begin()
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
    host, port = split_hostport(runtime.settings.api.listen)
    sock = _bind(host, port)
    app = create_app(runtime.api_context(), *runtime.routers)
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        # Long-lived requests (event streams) must not hold the shutdown up for ever.
        timeout_graceful_shutdown=GRACE_S,
    )
    server = _Server(config)
    tasks: list[asyncio.Task[None]] = [
        asyncio.ensure_future(service(runtime, stop)) for service in services
    ]
    for service, started in zip(services, tasks, strict=True):
        started.set_name(getattr(service, "__name__", "service"))
    api = asyncio.create_task(server.serve(sockets=[sock]), name="http-api")
    while not server.started and not api.done():  # noqa: ASYNC110  (uvicorn has no event)
        await asyncio.sleep(0.01)
    if api.done():
        stop.set()
    else:
        url = f"http://{_url_host(host)}:{sock.getsockname()[1]}"
        say(f"airlock: HTTP API on {url} (health {url}/healthz, OpenAPI {url}/openapi.json)")
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, api, *tasks], return_when=asyncio.FIRST_COMPLETED)
    shutdown.begin()
    stop.set()
    await _stop_all(server, api, tasks, shutdown)
    waiter.cancel()
    sock.close()
    for task in done:
        if task is not waiter and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    say("airlock: stopped")


async def _stop_all(
    server: _Server, api: asyncio.Task[None], tasks: list[asyncio.Task[None]], shutdown: Shutdown
) -> None:
    """Stop the HTTP API (its requests get ``GRACE_S``, less when the deadline is nearer) and
    the services, by the shutdown's ``services()`` deadline; cancel the late ones."""
    left = shutdown.services()
    grace = GRACE_S if left is None else min(GRACE_S, left)
    # uvicorn hands it to asyncio.timeout: a float works, whatever its annotation says.
    server.config.timeout_graceful_shutdown = grace  # type: ignore[assignment]
    server.should_exit = True
    _, late = await asyncio.wait([api, *tasks], timeout=shutdown.straggling())
    if not late:
        return
    names = ", ".join(sorted(task.get_name() for task in late))
    shutdown.problem(f"cancelled what had not stopped by the deadline: {names}")
    for task in late:
        task.cancel()
    await asyncio.wait(late, timeout=shutdown.left())


def _bind(host: str, port: int) -> socket.socket:
    """The HTTP API's listening socket, bound here so that a busy port or an unknown host is a
    clear ConfigError (uvicorn would ``sys.exit`` from inside its task)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"[api] listen: cannot resolve {host!r}: {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        why = exc.strerror or str(exc)
        raise ConfigError(f"[api] listen: cannot listen on {host}:{port}: {why}") from exc
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def say(line: str) -> None:
    print(line, file=sys.stdout, flush=True)
