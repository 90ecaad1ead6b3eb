"""The MCP server for agents, wired for ``airlock up`` and ``airlock gateway`` (docs/agents.md).

``mcp_service`` mounts ``/mcp`` (and its OAuth metadata) on the API's routers and returns the
service that runs it: the SDK's session manager, and the session core of the ``mcp`` edge with
its own audit writer, session guard and statement journal (in ``<journal_dir>/mcp``, replayed
at start and stop like the listeners'). Each connection type gets its runner here, the one
place that may import a protocol package: PostgreSQL today.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from gateway.cli.listeners import _auditing, _Drain, _limits, _watching
from gateway.config import split_hostport
from gateway.errors import ConfigError
from gateway.mcp import Agents, Tools, build_server
from gateway.postgres.agent import PostgresRunner
from gateway.postgres.dialect import POSTGRES
from gateway.runtime import Runtime, Service, say
from gateway.sessions import Journal, JournalError, SessionCore, build_targets, replay

__all__ = ["mcp_service"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def mcp_service(runtime: Runtime) -> Service:
    """Add the MCP routes to ``runtime.routers`` (call before ``serve``); the service that
    serves them."""
    settings = runtime.settings
    targets = build_targets(settings.connections, {"postgres": POSTGRES})
    agents = Agents(
        service=runtime.service,
        runners={"postgres": PostgresRunner(targets)},
        types={conn.name: conn.type for conn in settings.connections},
        approval_ttl=settings.gateway.approval_ttl,
    )
    host, port = split_hostport(settings.api.listen)
    base = (settings.api.public_url or "").rstrip("/") or f"http://{_url_host(host)}:{port}"
    app = build_server(
        Tools(agents),
        authenticate=runtime.identity.authenticator.authenticate,
        metrics=runtime.metrics,
        base_url=base,
        loopback=host in LOOPBACK,
    )
    runtime.routers.append(app.router)

    async def serve_mcp(runtime: Runtime, stop: asyncio.Event) -> None:
        drain = _Drain()
        async with (
            _journaled(runtime) as journal,
            _auditing(runtime, drain) as audit,
            _watching(runtime) as guard,
            app.session_manager.run(),
        ):
            agents.core = SessionCore(
                edge="mcp",
                service=runtime.service,
                repository=runtime.repository,
                audit=audit,
                metrics=runtime.metrics,
                guard=guard,
                journal=journal,
                limits=_limits(settings),
            )
            say(f"airlock: MCP server on {app.url} ({', '.join(sorted(targets)) or 'none'})")
            try:
                await stop.wait()
            finally:
                agents.core = None
                guard.closing()

    return serve_mcp


@contextlib.asynccontextmanager
async def _journaled(runtime: Runtime) -> AsyncIterator[Journal]:
    """The MCP calls' statement journal, in a directory of its own beside the listeners'
    (each replays only its own): what the audit trail did not confirm is replayed at start
    and at stop."""
    settings = runtime.settings.gateway
    directory = settings.journal_path(runtime.settings.store.url) / "mcp"
    journal = Journal(
        directory,
        segment_bytes=settings.journal_segment_bytes,
        sync_interval=settings.journal_sync.total_seconds(),
    )
    try:
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        journal.open()
        await _replay(directory, runtime)
    except (JournalError, OSError) as exc:
        journal.close()
        raise ConfigError(f"{exc}") from exc
    try:
        yield journal
    finally:
        journal.close()
        with contextlib.suppress(Exception):  # the next start replays what is left
            async with asyncio.timeout(runtime.shutdown.services()):
                await _replay(directory, runtime)


async def _replay(directory: Path, runtime: Runtime) -> None:
    done = await replay(directory, runtime.database)
    if done.statements:
        say(f"airlock: replayed {done.statements} unconfirmed MCP statements")


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):  # noqa: S104  (an address we were given, not one we bind)
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
