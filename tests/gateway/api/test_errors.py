"""Errors the API did not plan for still answer JSON with a stable code: the store down is
503 store_unavailable, anything else 500 internal (logged, not leaked)."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from fastapi import APIRouter

from gateway.api import create_app
from store import Database
from tests.gateway.api.world import ApiWorld, error_code


async def test_store_unavailable(world: ApiWorld) -> None:
    """/healthz and /v1 routes answer 503 store_unavailable when the store cannot be reached."""
    down = Database("postgresql+asyncpg://postgres@127.0.0.1:1/airlock")
    context = dataclasses.replace(world.runtime.api_context(), database=down)
    app = create_app(context)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/healthz")
    finally:
        await down.close()
    assert (response.status_code, error_code(response)) == (503, "store_unavailable")


async def test_unexpected_error(world: ApiWorld, caplog: pytest.LogCaptureFixture) -> None:
    """A bug in a handler is a 500 internal with a generic message; the details go to the log."""
    broken = APIRouter()

    @broken.get("/v1/broken")
    async def fail() -> None:
        raise RuntimeError("secret detail of the bug")

    app = create_app(world.runtime.api_context(), broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/v1/broken")
    assert (response.status_code, error_code(response)) == (500, "internal")
    assert "secret detail" not in response.text
    assert "secret detail of the bug" in caplog.text
