"""The MCP server for agents, wired for ``airlock up`` and ``airlock gateway`` (docs/agents.md).

``mcp_door`` mounts ``/mcp`` (and its OAuth metadata) on the API's routers and returns the door
that serves it: the SDK's session manager, and the session core of the ``mcp`` edge on the
parts every listener of the process shares (gateway.cli.session_parts: one statement journal,
replica row, audit writer, session guard and set of caps). Each connection type gets its
runner here, the one place that may import a protocol package: PostgreSQL today.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from gateway.cli.listeners import Door
from gateway.cli.session_parts import CoreFor
from gateway.config import split_hostport
from gateway.mcp import Agents, Tools, build_server
from gateway.postgres.agent import PostgresRunner
from gateway.postgres.dialect import POSTGRES
from gateway.runtime import Runtime, say
from gateway.sessions import build_targets

__all__ = ["mcp_door"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def mcp_door(runtime: Runtime) -> Door:
    """Add the MCP routes to ``runtime.routers`` (call before ``serve``); the door that
    serves them once the session parts are open."""
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

    @contextlib.asynccontextmanager
    async def serve_mcp(core: CoreFor) -> AsyncIterator[None]:
        async with app.session_manager.run():
            agents.core = core("mcp")
            say(f"airlock: MCP server on {app.url} ({', '.join(sorted(targets)) or 'none'})")
            try:
                yield
            finally:
                agents.core = None

    return serve_mcp


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):  # noqa: S104  (an address we were given, not one we bind)
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
