"""Bearer-token authentication for every route of the HTTP API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from approvals import Identity
from gateway.api.context import ApiContext
from gateway.errors import AuthError

__all__ = ["Caller", "Context", "context"]


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.context
    return ctx


Context = Annotated[ApiContext, Depends(context)]


def caller(request: Request, ctx: Context) -> Identity:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("an Authorization: Bearer <token> header is required")
    try:
        identity, _claims = ctx.tokens.verify(token)
    except AuthError:
        ctx.metrics.auth_failures.labels("http").inc()
        raise
    return identity


Caller = Annotated[Identity, Depends(caller)]
