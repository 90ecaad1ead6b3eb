"""The API on a real port (uvicorn through the test harness): every ``/v1`` route refuses a
missing or bad token with 401 and a JSON code; the operational routes answer without one."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import timedelta
from pathlib import Path

import httpx

from gateway.identity import TokenService, generate_key
from tests.harness import RunningGateway, pg_connection, running_gateway


def bad_authorizations(gw: RunningGateway) -> dict[str, str | None]:
    """Authorization headers that must all be refused (None: no header at all)."""
    signed = gw.token("root@example.com", ["airlock-admins"]).split(".")
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    expired = gw.runtime.tokens.mint(
        "root@example.com",
        groups=["airlock-admins"],
        ttl=timedelta(minutes=1),
        now=time.time() - 3600,
    )
    return {
        "no header": None,
        "bearer without a token": "Bearer",
        "basic scheme": "Basic cm9vdDpyb290",
        "token without scheme": ".".join(signed),
        "garbage": "Bearer not-a-token",
        "another key": "Bearer "
        + TokenService(generate_key()).mint("root", groups=["airlock-admins"]),
        "alg none": f"Bearer {unsigned}.{signed[1]}.",
        "expired": f"Bearer {expired}",
    }


def v1_operations(openapi: dict[str, object]) -> list[tuple[str, str]]:
    paths = openapi["paths"]
    assert isinstance(paths, dict)
    found = [
        (method.upper(), re.sub(r"\{[^}]+\}", "some-id", path))
        for path, item in paths.items()
        if path.startswith("/v1/")
        for method in item
    ]
    return sorted(found)


async def test_every_v1_route_needs_a_token(tmp_path: Path) -> None:
    """Each /v1 operation answers 401, WWW-Authenticate: Bearer and a JSON error code to every
    missing or refused credential, and counts the failure in /metrics."""
    async with (
        running_gateway(tmp_path, connections=[pg_connection("postgres")]) as gw,
        httpx.AsyncClient(base_url=gw.api_url, timeout=10) as http,
    ):
        operations = v1_operations((await http.get("/openapi.json")).json())
        assert ("GET", "/v1/reviews") in operations
        assert ("POST", "/v1/reviews/some-id/decisions") in operations
        assert ("POST", "/v1/access-requests") in operations
        assert ("POST", "/v1/delegations/some-id/revoke") in operations
        assert ("GET", "/v1/audit") in operations
        refused = 0
        for method, path in operations:
            for why, header in bad_authorizations(gw).items():
                headers = {"Authorization": header} if header is not None else {}
                body: dict[str, str] | None = {} if method == "POST" else None
                response = await http.request(method, path, headers=headers, json=body)
                where = f"{method} {path} with {why}"
                assert response.status_code == 401, where
                assert response.headers["www-authenticate"] == "Bearer", where
                assert response.headers["content-type"] == "application/json", where
                error = response.json()["error"]
                assert error["code"] in {"unauthenticated", "token_invalid"}, where
                assert error["message"], where
                refused += 1
        metrics = (await http.get("/metrics")).text
    assert f'airlock_auth_failures_total{{listener="http"}} {float(refused)}' in metrics


async def test_operational_routes(tmp_path: Path) -> None:
    """/healthz, /metrics, /.well-known/jwks.json and /openapi.json answer without a token."""
    async with (
        running_gateway(tmp_path, connections=[pg_connection("postgres")]) as gw,
        httpx.AsyncClient(base_url=gw.api_url, timeout=10) as http,
    ):
        health = await http.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "problems": [], "connections": ["pg-test"]}
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok", "problems": []})

        jwks = (await http.get("/.well-known/jwks.json")).json()
        assert jwks == gw.runtime.tokens.jwks()
        assert all("d" not in key for key in jwks["keys"])

        openapi = (await http.get("/openapi.json")).json()
        assert openapi["info"]["title"] == "Airlock"
        schemes = openapi["components"]["securitySchemes"]
        assert schemes["airlock"] == {
            "type": "http",
            "scheme": "bearer",
            "description": schemes["airlock"]["description"],
        }
        review_list = openapi["paths"]["/v1/reviews"]["get"]
        assert review_list["security"] == [{"airlock": []}]
        assert "401" in review_list["responses"]

        async with gw.client(gw.token("bob@example.com", ["dba"])) as api:
            listed = await api.get("/v1/reviews")
            assert listed.status_code == 200
            assert float(listed.headers["X-Response-Time-Ms"]) >= 0
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text
        for family in (
            "airlock_http_requests_total",
            "airlock_decisions_total",
            "airlock_statements_total",
            "airlock_sessions_open",
            "airlock_hold_seconds",
            "airlock_auth_failures_total",
        ):
            assert f"# TYPE {family} " in text, family
        assert 'airlock_http_requests_total{route="/healthz",status="200"}' in text
        assert 'airlock_http_requests_total{route="/v1/reviews",status="200"} 1.0' in text


async def test_unknown_route_and_method(tmp_path: Path) -> None:
    """Unknown paths and methods answer JSON errors too (404 not_found, 405)."""
    async with (
        running_gateway(tmp_path) as gw,
        httpx.AsyncClient(base_url=gw.api_url, timeout=10) as http,
    ):
        missing = await http.get("/v2/nothing")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        wrong = await http.delete("/healthz")
        assert wrong.status_code == 405
        assert wrong.json()["error"]["code"] == "method_not_allowed"
        assert json.loads(wrong.text)["error"]["message"]
