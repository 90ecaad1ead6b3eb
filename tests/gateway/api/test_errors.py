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
    """With the store unreachable /readyz answers 503 store_unavailable, and
    /healthz (liveness) 200 "degraded" saying so, without the store's address."""
    down = Database("postgresql+asyncpg://postgres@127.0.0.1:1/airlock")
    context = dataclasses.replace(world.runtime.api_context(), database=down)
    app = create_app(context)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            ready = await http.get("/readyz")
            health = await http.get("/healthz")
    finally:
        await down.close()
    assert (ready.status_code, error_code(ready)) == (503, "store_unavailable")
    assert ready.json()["error"]["details"]["problems"] == [
        "the store cannot be reached (unreachable)"
    ]
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["problems"] == ["the store cannot be reached (unreachable)"]
    assert "127.0.0.1" not in health.text + ready.text


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
