"""Unauthenticated operational routes: liveness, Prometheus metrics, the JWKS."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api.auth import Context

__all__ = ["router"]

router = APIRouter(tags=["meta"])


@router.get("/healthz")
async def healthz(ctx: Context) -> dict[str, Any]:
    """Live and able to reach the store."""
    await ctx.database.ping()
    return {"status": "ok", "connections": sorted(ctx.service.connections)}


@router.get("/metrics", response_class=Response)
async def metrics(ctx: Context) -> Response:
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/.well-known/jwks.json")
async def jwks(ctx: Context) -> dict[str, Any]:
    """The public keys that verify gateway tokens."""
    return ctx.tokens.jwks()
