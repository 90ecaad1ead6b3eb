"""Bearer-token authentication for every route of the HTTP API.

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

__all__ = ["Caller", "Context", "context"]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="airlock",
    description="a gateway token (`airlock token create`) or one from /oauth/token",
)


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.context
    return ctx


Context = Annotated[ApiContext, Depends(context)]


def caller(
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Identity:
    if credentials is None or not credentials.credentials.strip():
        ctx.metrics.auth_failures.labels("http").inc()
        raise AuthError("an Authorization: Bearer <token> header is required")
    try:
        identity, _claims = ctx.tokens.verify(credentials.credentials)
    except AuthError:
        ctx.metrics.auth_failures.labels("http").inc()
        raise
    return identity


Caller = Annotated[Identity, Depends(caller)]
