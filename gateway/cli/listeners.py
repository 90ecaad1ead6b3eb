"""The listeners ``airlock up`` runs beside the HTTP API, as one runtime service.

Each connection type a listener here serves has its dialect in ``DIALECTS``; a connection of
another type, or of a type whose listener has no address in ``[listeners]``, is named at start
(``unserved_lines``, docs/gateway.md, "Dialects"). Every listener, and every other door of the
process (the MCP server: ``Door``), runs on the one set of session parts
(:mod:`gateway.cli.session_parts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from gateway.cli.session_parts import CoreFor, Parts, replica_only, session_parts
from gateway.config import Settings
from gateway.errors import ConfigError
from gateway.guardrails import Dialect
from gateway.mysql.context import Deps as MyDeps
from gateway.mysql.dialect import MYSQL, kill_target
from gateway.mysql.listener import CLOSE_GRACE_S as MY_CLOSE_GRACE_S
from gateway.mysql.listener import MySQLListener
from gateway.postgres.context import Deps
from gateway.postgres.dialect import POSTGRES
from gateway.postgres.listener import CLOSE_GRACE_S, PostgresListener
from gateway.runtime import Runtime, Service, Shutdown, say
from gateway.sessions import Target, build_targets, unserved
from gateway.ssh import SHELL, Forward, SshDeps, SshListener, load_host_key, load_key
from store import SshKeyStore

__all__ = [
    "DIALECTS",
    "Door",
    "listeners",
    "session_service",
    "tls_context",
    "unserved_lines",
    "unserved_notice",
]

DIALECTS: Mapping[str, Dialect[Any, Any]] = {"postgres": POSTGRES, "mysql": MYSQL, "ssh": SHELL}
# A door other than a listener (the MCP server): entered with the core factory once the
# session parts are open, left before they close.
Door = Callable[[CoreFor], AbstractAsyncContextManager[None]]


def _addresses(settings: Settings) -> dict[str, str | None]:
    listen = settings.listeners
    return {"postgres": listen.postgres, "mysql": listen.mysql, "ssh": listen.ssh}


def unserved_lines(settings: Settings) -> list[str]:
    """One line per connection no listener serves: no listener for its type exists here, or it
    has no address in ``[listeners]``."""
    addresses = _addresses(settings)
    served = {kind: dialect for kind, dialect in DIALECTS.items() if addresses.get(kind)}
    forwarded = _forward_to(settings) if addresses.get("ssh") else set()
    return [
        f"airlock: connection {conn.name} ({conn.type}) is not served: no {conn.type} listener"
        + (" (only SSH forwards reach it: forward_to)" if conn.name in forwarded else "")
        for conn in unserved(settings.connections, served)
    ]


def _forward_to(settings: Settings) -> set[str]:
    """The connections named in an ssh connection's ``forward_to``."""
    return {name for conn in settings.connections if conn.type == "ssh" for name in conn.forward_to}


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


async def session_service(
    runtime: Runtime, stop: asyncio.Event, doors: Sequence[Door] = ()
) -> None:
    """Serve the listeners (PostgreSQL, MySQL, SSH: each that has an address in
    ``[listeners]`` and connections of its type) and ``doors`` on one set of session parts
    until ``stop`` is set; then stop by the runtime's shutdown deadline (docs/operations.md,
    "Shutdown has a deadline"): end the sessions (they record their end and cancel their held
    reviews), write the delegations' use, drain the audit writer, close the statement journal
    and replay what the trail did not confirm. What cannot be written in time stays in the
    journal, and the shutdown notes it (the exit is not 0)."""
    settings = runtime.settings
    served = _served(settings)
    if not served and not doors:
        async with replica_only(runtime, stop):  # no sessions here, but it reaps the gone
            await stop.wait()
        return
    # A missing secret stops the start, not the first session.
    for kind, targets in served.items():
        for target in targets.values():
            if kind == "ssh":
                load_key(target.config)
                continue
            for role in (None, *target.config.roles):
                target.config.credential(role)
    if "ssh" in served:  # and of the database connections only SSH forwards reach
        for kind, dialect in (("postgres", POSTGRES), ("mysql", MYSQL)):
            for target in _forwarded(settings, kind, dialect).values():
                for role in (None, *target.config.roles):
                    target.config.credential(role)
    async with session_parts(runtime, stop) as parts, contextlib.AsyncExitStack() as entered:
        for door in doors:
            await entered.enter_async_context(door(parts.core))
        await _serve(runtime, stop, served, parts)


async def _serve(
    runtime: Runtime,
    stop: asyncio.Event,
    served: dict[str, dict[str, Target[Any, Any]]],
    parts: Parts,
) -> None:
    """Start the listeners of ``served``, each on a core of its own edge; at ``stop``, end
    their sessions by the shutdown's deadline."""
    settings = runtime.settings
    core = parts.core
    tls, plaintext = tls_context(settings), settings.listeners.allow_plaintext
    pg: PostgresListener | None = None
    mysql: MySQLListener | None = None
    ssh: SshListener | None = None
    tunnels: Tunnels | None = None
    try:
        if "postgres" in served and settings.listeners.postgres:
            deps = Deps(core("postgres"), served["postgres"], tls, plaintext)
            pg = PostgresListener(deps, settings.listeners.postgres)
            await pg.start()
            names = ", ".join(sorted(served["postgres"]))
            say(f"airlock: PostgreSQL listener on {pg.host}:{pg.port} ({names})")
        if "mysql" in served and settings.listeners.mysql:
            state = DIALECTS["mysql"].state_type
            my_deps = MyDeps(core("mysql"), served["mysql"], tls, plaintext, state, kill_target)
            mysql = MySQLListener(my_deps, settings.listeners.mysql)
            await mysql.start()
            names = ", ".join(sorted(served["mysql"]))
            say(f"airlock: MySQL listener on {mysql.host}:{mysql.port} ({names})")
        if "ssh" in served and settings.listeners.ssh:
            tunnels = _tunnels(settings, core)
            ssh = await _start_ssh(runtime, served["ssh"], core("ssh"), tunnels)
        await stop.wait()
    finally:
        runtime.shutdown.begin()
        parts.guard.closing()
        if pg is not None:
            await _end_sessions(pg, runtime.shutdown)
        if mysql is not None:
            await _end_mysql_sessions(mysql, runtime.shutdown)
        if ssh is not None:
            left = runtime.shutdown.sessions()
            await ssh.close(CLOSE_GRACE_S if left is None else left)
        if tunnels is not None:
            await _end_sessions(tunnels.postgres, runtime.shutdown)
            await _end_mysql_sessions(tunnels.mysql, runtime.shutdown)


def _served(settings: Settings) -> dict[str, dict[str, Target[Any, Any]]]:
    """The connections each listener serves here (type -> name -> Target)."""
    addresses = _addresses(settings)
    served = {}
    for kind, dialect in DIALECTS.items():
        if addresses.get(kind):
            targets = build_targets(settings.connections, {kind: dialect})
            if targets:
                served[kind] = targets
    return served


async def _start_ssh(
    runtime: Runtime,
    targets: dict[str, Target[Any, Any]],
    core: Any,
    tunnels: Tunnels,
) -> SshListener:
    """The SSH listener, its forwards served by ``tunnels`` (docs/ssh.md)."""
    settings = runtime.settings
    assert settings.listeners.ssh is not None
    keys = {name: load_key(target.config) for name, target in targets.items()}
    host_key = load_host_key(settings.listeners.ssh_host_key)
    forwards = {
        name: Forward(target.config.upstream, listener.serve_tunnel)
        for listener in (tunnels.postgres, tunnels.mysql)
        for name, target in listener.deps.targets.items()
    }
    deps = SshDeps(core, targets, keys, forwards, SshKeyStore(runtime.database))
    listener = SshListener(deps, settings.listeners.ssh, host_key)
    await listener.start()
    names = ", ".join(sorted(targets))
    say(f"airlock: SSH listener on {listener.host}:{listener.port} ({names})")
    return listener


@dataclass(frozen=True)
class Tunnels:
    """The listener logic of each database protocol that serves SSH forwards to the connections
    named in a ``forward_to`` (it listens on no port of its own: gateway.ssh.tunnel hands it
    streams), on the core of that protocol's edge."""

    postgres: PostgresListener
    mysql: MySQLListener


def _tunnels(settings: Settings, core: CoreFor) -> Tunnels:
    """The tunnels' listener logic for the PostgreSQL and MySQL connections in a
    ``forward_to`` (either may serve none)."""
    pg_targets = _forwarded(settings, "postgres", POSTGRES)
    deps = Deps(core=core("postgres"), targets=pg_targets, tls=None, allow_plaintext=True)
    # No TLS inside the SSH channel, which is encrypted: the client's password is sent in
    # clear there (mysql_clear_password) and not used.
    my_deps = MyDeps(core("mysql"), _forwarded(settings, "mysql", MYSQL), None, True,
                     DIALECTS["mysql"].state_type, kill_target)  # fmt: skip
    return Tunnels(PostgresListener(deps, "127.0.0.1:0"), MySQLListener(my_deps, "127.0.0.1:0"))


def _forwarded(
    settings: Settings, kind: str, dialect: Dialect[Any, Any]
) -> dict[str, Target[Any, Any]]:
    """The connections of type ``kind`` named in an ssh connection's ``forward_to``."""
    wanted = _forward_to(settings)
    every = build_targets(settings.connections, {kind: dialect})
    return {name: target for name, target in every.items() if name in wanted}


async def _end_mysql_sessions(listener: MySQLListener, shutdown: Shutdown) -> None:
    """Stop accepting and end the MySQL sessions, by the shutdown's ``sessions()`` deadline."""
    left = shutdown.sessions()
    cut = await listener.close(MY_CLOSE_GRACE_S if left is None else left)
    if cut:
        shutdown.problem(
            f"{cut} MySQL sessions could not record their end in time (their statements are "
            "in the statement journal)"
        )


async def _end_sessions(listener: PostgresListener, shutdown: Shutdown) -> None:
    """Stop accepting and end the sessions, by the shutdown's ``sessions()`` deadline."""
    left = shutdown.sessions()
    cut = await listener.close(CLOSE_GRACE_S if left is None else left)
    if cut.sessions:
        shutdown.problem(
            f"{cut.sessions} PostgreSQL sessions could not record their end in time (their "
            "statements are in the statement journal)"
        )
    if cut.holds:
        shutdown.problem(f"{cut.holds} held statements' reviews could not be cancelled in time")


def listeners(doors: Sequence[Door] = ()) -> Iterator[Service]:
    """The services of the listeners and of ``doors``: the notice of unserved connections, and
    the one session service."""

    async def sessions(runtime: Runtime, stop: asyncio.Event) -> None:
        await session_service(runtime, stop, doors)

    yield unserved_notice
    yield sessions
