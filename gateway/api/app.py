"""The FastAPI application: every ``/v1`` route authenticated and authorised, errors as JSON."""

from __future__ import annotations

import time

from fastapi import APIRouter, FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
from gateway.metrics import Metrics

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

    app.add_middleware(_CountRequests, metrics=context.metrics)
    return app


class _CountRequests:
    """Counts requests by route and status and stamps ``X-Response-Time-Ms``. A plain ASGI
    middleware: Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``) runs every request in
    an extra task group with memory streams, a few hundred microseconds a request (issue 23)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def stamped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                elapsed = (time.perf_counter() - started) * 1e3
                MutableHeaders(scope=message).append("X-Response-Time-Ms", f"{elapsed:.1f}")
            await send(message)

        await self.app(scope, receive, stamped)
        path = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.http_requests.labels(path, str(status)).inc()
