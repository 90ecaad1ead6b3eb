"""The MCP server at ``/mcp`` on the API port: streamable HTTP (MCP 2025-06-18 "Transports"),
stateless (every request stands alone, so any replica serves it) with JSON responses, built
with the official SDK (``mcp.server.MCPServer``).

Authentication is the API's: a bearer token (gateway token, OIDC access token, exchanged token
carrying the agent chain) is verified on every HTTP request, so on every tool call, revocations
included (:class:`gateway.identity.Authenticator`, edge ``mcp``). No token, or one refused, is
answered 401 with ``WWW-Authenticate: Bearer ... resource_metadata=...`` (RFC 9728 section 5.1)
pointing at the protected-resource metadata (``/.well-known/oauth-protected-resource/mcp``,
RFC 9728 section 3), which names Airlock as the authorization server; its metadata
(``/.well-known/oauth-authorization-server``, RFC 8414 section 3) names ``/oauth/token``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware, get_access_token
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import (
    StreamableHTTPASGIApp,
    StreamableHTTPSessionManager,
)
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl, Field
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from approvals import Identity
from gateway.errors import AuthError
from gateway.identity import Principal
from gateway.mcp.calls import MAX_WAIT_S, QueryCall
from gateway.mcp.errors import McpError
from gateway.mcp.tickets import Param, encode_params
from gateway.mcp.tools import Tools
from gateway.metrics import Metrics

__all__ = ["McpApp", "build_server"]

INSTRUCTIONS = (
    "Airlock: the access gateway's tools for agents. list_connections shows what you may use. "
    "query runs one SQL statement: rows come back masked; a risky statement is held for a "
    "person's approval and query answers status 'held' with a review_id at once: call "
    "wait_for_review, and once it is approved re-send the identical query (same sql, params "
    "and connection) to run it once. request_access asks for access to a connection."
)
Authenticate = Callable[..., Awaitable[Principal]]


class AirlockToken(AccessToken):
    """The SDK's verified token, with the identity (and its chain) Airlock verified."""

    identity: Any = Field(default=None, exclude=True)


class _Verifier:
    """The SDK's ``TokenVerifier``: Airlock's authenticator (signature, expiry, issuer and
    revocation of every link of the chain and of the token)."""

    def __init__(self, authenticate: Authenticate, metrics: Metrics) -> None:
        self._authenticate, self._metrics = authenticate, metrics

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            principal = await self._authenticate(token, edge="mcp")
        except AuthError:
            self._metrics.auth_failures.labels("mcp").inc()
            return None
        identity = principal.identity
        return AirlockToken(
            token=token,
            client_id=identity.chain[-1],
            subject=identity.subject,
            scopes=[],
            expires_at=int(principal.expires_at),
            identity=identity,
        )


@dataclass(frozen=True)
class McpApp:
    """The routes to mount on the API (``router``) and the session manager whose ``run()``
    must be running while they serve (the MCP service runs it)."""

    router: APIRouter
    session_manager: StreamableHTTPSessionManager
    url: str


def _caller() -> tuple[str, Identity]:
    token = get_access_token()
    if not isinstance(token, AirlockToken) or not isinstance(token.identity, Identity):
        raise ToolError("unauthenticated: send Authorization: Bearer <an Airlock token>")
    return token.token, token.identity


async def _answer(call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    try:
        return await call
    except McpError as exc:
        raise ToolError(f"{exc.code}: {exc.message}") from exc


def _register(server: MCPServer[Any], tools: Tools) -> None:
    @server.tool(description="The connections you may use now, each with its rules in one line.")
    async def list_connections() -> dict[str, Any]:
        return await _answer(tools.list_connections(_caller()[1]))

    @server.tool(
        description="Run one SQL statement on a connection. params bind $1, $2, ... "
        "Rows come back masked and capped. A held statement answers status 'held' with a "
        "review_id (after up to wait_seconds, at most 300); once approved, re-send the "
        "identical call to run it once."
    )
    async def query(
        connection: str, sql: str, params: list[Param] | None = None, wait_seconds: float = 0
    ) -> dict[str, Any]:
        token, identity = _caller()
        if not 0 <= wait_seconds <= MAX_WAIT_S:
            raise ToolError(f"wait_seconds must be between 0 and {MAX_WAIT_S}")
        try:
            encoded = encode_params(params)
        except McpError as exc:
            raise ToolError(f"{exc.code}: {exc.message}") from exc
        call = QueryCall(token, connection, sql, encoded, wait_seconds)
        return await _answer(tools.query(identity, call))

    @server.tool(description="The state of a review: held, approved, denied, expired.")
    async def review_status(review_id: str) -> dict[str, Any]:
        return await _answer(tools.review_status(_caller()[1], review_id))

    @server.tool(description="Wait up to timeout_seconds (at most 300) for a review's decision.")
    async def wait_for_review(review_id: str, timeout_seconds: float = 60) -> dict[str, Any]:
        return await _answer(tools.wait_for_review(_caller()[1], review_id, timeout_seconds))

    @server.tool(
        description="Ask for time-bounded access to a connection (duration like '2h', a "
        "reason, optionally a role); approval creates a delegation."
    )
    async def request_access(
        connection: str, duration: str, reason: str, role: str | None = None
    ) -> dict[str, Any]:
        return await _answer(tools.request_access(_caller()[1], connection, duration, reason, role))


def _quietly_built() -> MCPServer[Any]:
    """The SDK's server, without the logging it configures for the whole process as it is
    built (``logging.basicConfig`` with a rich handler when the root logger has none): the
    process's logging is the composition root's, and its lines stay one per record."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    server: MCPServer[Any] = MCPServer(
        "airlock", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING"
    )
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    return server


def build_server(
    tools: Tools,
    *,
    authenticate: Authenticate,
    metrics: Metrics,
    base_url: str,
    loopback: bool,
) -> McpApp:
    """The MCP server's routes on ``base_url`` (the API's public address). On a loopback
    API, requests whose Host or Origin is not a loopback address are refused (DNS rebinding:
    the SDK's transport security)."""
    server = _quietly_built()
    _register(server, tools)
    security = _security(base_url, loopback)
    server.streamable_http_app(stateless_http=True, json_response=True, transport_security=security)
    manager = server.session_manager
    resource = AnyHttpUrl(f"{base_url}/mcp")
    guarded = RequireAuthMiddleware(
        StreamableHTTPASGIApp(manager), [], build_resource_metadata_url(resource)
    )
    endpoint = AuthenticationMiddleware(
        AuthContextMiddleware(guarded), backend=BearerAuthBackend(_Verifier(authenticate, metrics))
    )
    router = APIRouter()
    router.routes.append(
        Route("/mcp", endpoint=endpoint, methods=["GET", "POST", "DELETE"], include_in_schema=False)
    )
    router.routes.extend(
        create_protected_resource_routes(
            resource_url=resource,
            authorization_servers=[AnyHttpUrl(base_url)],
            resource_name="Airlock",
        )
    )
    # The issuer as the protected-resource metadata spells it (pydantic's URL: a trailing
    # slash), so a client comparing the two finds them equal (RFC 8414 section 3.3).
    metadata = _authorization_server(str(AnyHttpUrl(base_url)), base_url)

    async def authorization_server(_request: Request) -> JSONResponse:
        return JSONResponse(metadata)

    router.routes.append(
        Route("/.well-known/oauth-authorization-server", authorization_server, methods=["GET"],
              include_in_schema=False)
    )  # fmt: skip
    return McpApp(router, manager, str(resource))


def _security(base_url: str, loopback: bool) -> TransportSecuritySettings:
    """The SDK's DNS-rebinding protection on a loopback API: only loopback hosts and origins,
    and the public address a proxy in front of it is reached at; none elsewhere (the bearer
    token is the guard there)."""
    if not loopback:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    public = urlsplit(base_url)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", public.netloc],
        allowed_origins=[
            "http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*",
            f"{public.scheme}://{public.netloc}",
        ],
    )  # fmt: skip


def _authorization_server(issuer: str, base_url: str) -> dict[str, Any]:
    """Airlock as an OAuth authorization server (RFC 8414 section 2): its token endpoint's
    grants are client credentials (service accounts) and token exchange (RFC 8693)."""
    return {
        "issuer": issuer,
        "token_endpoint": f"{base_url}/oauth/token",
        "jwks_uri": f"{base_url}/.well-known/jwks.json",
        "grant_types_supported": [
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": [],
    }
