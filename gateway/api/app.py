"""The FastAPI application: every ``/v1`` route authenticated and authorised, errors as JSON."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response

from gateway.api import (
    access_reviews,
    audit,
    delegations,
    identities,
    meta,
    oauth,
    reviews,
    sessions,
    ssh_keys,
)
from gateway.api.context import ApiContext
from gateway.api.errors import install_error_handlers

__all__ = ["create_app"]


def create_app(context: ApiContext, *extra: APIRouter) -> FastAPI:
    """Build the app around an already-built context (the composition root owns resources)."""
    app = FastAPI(
        title="Airlock",
        version="0.1.0",
        description="Access gateway: reviews, decisions, access requests, delegations, audit.",
    )
    app.state.context = context
    install_error_handlers(app)
    routers = (
        meta, reviews, delegations, audit, sessions, access_reviews, oauth, identities, ssh_keys,
    )  # fmt: skip
    for router in (*(module.router for module in routers), *extra):
        app.include_router(router)

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        context.metrics.http_requests.labels(path, str(response.status_code)).inc()
        response.headers["X-Response-Time-Ms"] = f"{(time.perf_counter() - started) * 1e3:.1f}"
        return response

    return app
