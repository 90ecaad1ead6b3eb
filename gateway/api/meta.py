"""Unauthenticated operational routes: liveness, readiness, Prometheus metrics, the JWKS.

``/healthz`` is liveness: 200 while the process serves, ``"status": "degraded"`` with short
``problems`` while its store cannot be reached or cannot write, or the audit trail is behind.
``/readyz`` is readiness: 503 while the store cannot be reached or cannot write (a load balancer
sends new sessions elsewhere; they would be refused here), 200 otherwise. Neither names an
address or a path: they answer anyone (docs/operations.md, "Store outage").
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api.auth import Context
from gateway.api.context import ApiContext
from gateway.api.errors import error_response
from store import Unavailable

__all__ = ["PING_S", "router"]

router = APIRouter(tags=["meta"])

PING_S = 3.0  # how long a probe waits for the store to answer SELECT 1


@router.get("/healthz")
async def healthz(ctx: Context) -> dict[str, Any]:
    """Live; "degraded" with the problems while the store cannot be reached or cannot write,
    or the audit trail is behind."""
    problems = await _problems(ctx)
    return {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "connections": sorted(ctx.service.connections),
    }


@router.get("/readyz", response_model=None)
async def readyz(ctx: Context) -> dict[str, Any] | JSONResponse:
    """Ready to take sessions: the store can be reached and takes writes (503 otherwise)."""
    unreachable = await _unreachable(ctx)
    health = ctx.database.health
    if unreachable is None and health.writable:
        return {"status": "ok", "problems": []}
    problems = [unreachable] if unreachable is not None else []
    if not health.writable:
        problems.append(health.problems[0])
    return error_response(
        503,
        "store_unavailable",
        "not ready: the store cannot record sessions now",
        problems=problems,
    )


@router.get("/metrics", response_class=Response)
async def metrics(ctx: Context) -> Response:
    ctx.metrics.watch_store(ctx.database.health)
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/.well-known/jwks.json")
async def jwks(ctx: Context) -> dict[str, Any]:
    """The public keys that verify gateway tokens."""
    return ctx.tokens.jwks()


async def _problems(ctx: ApiContext) -> list[str]:
    unreachable = await _unreachable(ctx)
    found = ctx.database.health.problems
    return found if unreachable is None else [unreachable, *found]


async def _unreachable(ctx: ApiContext) -> str | None:
    """Why the store does not answer ``SELECT 1`` within ``PING_S``; None when it does."""
    try:
        async with asyncio.timeout(PING_S):
            await ctx.database.ping()
    except Unavailable as exc:
        return f"the store cannot be reached ({exc.reason})"
    except TimeoutError:
        return f"the store cannot be reached (no answer within {PING_S:g}s)"
    return None
