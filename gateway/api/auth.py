"""Bearer-token authentication for every route of the HTTP API: gateway tokens and the OIDC
issuer's tokens, checked against revocations (:class:`gateway.identity.Authenticator`).

The scheme is declared with FastAPI's ``HTTPBearer`` so that OpenAPI documents it; the answer to
a missing or refused token is ours (401, ``WWW-Authenticate: Bearer`` and a JSON ``code``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from approvals import Identity
from gateway.api.context import ApiContext
from gateway.errors import AuthError
from gateway.identity import Principal

__all__ = ["Caller", "CallerToken", "Context", "context"]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="airlock",
    description="a gateway token (`airlock token create`, /oauth/token) or an OIDC token",
)


# The dependencies are ``async def`` although they do not wait: FastAPI runs a plain ``def``
# dependency in a worker thread, a thread hop on every request for an attribute lookup.
async def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.context
    return ctx


Context = Annotated[ApiContext, Depends(context)]


async def principal(
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The verified, unrevoked token of the request: a gateway token (``airlock token
    create``, ``/oauth/token``) or an access / ID token of the configured OIDC issuer."""
    if credentials is None or not credentials.credentials.strip():
        ctx.metrics.auth_failures.labels("http").inc()
        raise AuthError("an Authorization: Bearer <token> header is required")
    try:
        return await ctx.identity.authenticator.authenticate(credentials.credentials, edge="http")
    except AuthError:
        ctx.metrics.auth_failures.labels("http").inc()
        raise


CallerToken = Annotated[Principal, Depends(principal)]


async def caller(token: CallerToken) -> Identity:
    return token.identity


Caller = Annotated[Identity, Depends(caller)]
