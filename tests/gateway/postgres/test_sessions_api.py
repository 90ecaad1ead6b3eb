"""Recorded sessions through the HTTP API and the CLI: list, show, replay."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.cli.main import main
from tests.gateway.postgres.support import Env, gateway_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path) as running:
        yield running


async def _ended(env: Env) -> str:
    async with asyncio.timeout(10):
        while True:
            found = await env.gw.runtime.repository.list_sessions(active=False, limit=1)
            if found:
                return found[0].id
            await asyncio.sleep(0.05)


async def test_session_detail_lists_every_statement(env: Env) -> None:
    """GET /v1/sessions/{id} returns the session with each statement in order, with outcomes."""
    code, _, err = await env.psql(script="SELECT 1;\nSELECT id FROM t ORDER BY id;\nSELECT 1/0;\n")
    assert code != 0 and "division by zero" in err
    session_id = await _ended(env)
    async with env.gw.client(env.token) as http:
        listed = (await http.get("/v1/sessions")).json()
        detail = (await http.get(f"/v1/sessions/{session_id}")).json()
    assert session_id in [s["id"] for s in listed]
    assert detail["subject"] == "alice@example.com" and detail["connection"] == "pg-test"
    shown = [(s["statement"], s["outcome"]) for s in detail["statements"]]
    assert shown == [
        ("SELECT 1;", "ok"),
        ("SELECT id FROM t ORDER BY id;", "ok"),
        ("SELECT 1/0;", "error"),
    ]
    assert detail["statements"][1]["rows"] == 3


async def test_someone_else_cannot_see_the_session(env: Env) -> None:
    """Another person gets 404 for a session that is not theirs; an auditor sees it."""
    await env.psql("SELECT 1")
    session_id = await _ended(env)
    mallory = env.gw.token("mallory@example.com", ["eng"])
    auditor = env.gw.token("sec@example.com", ["security"])
    async with env.gw.client(mallory) as http:
        assert (await http.get(f"/v1/sessions/{session_id}")).status_code == 404
        assert session_id not in [s["id"] for s in (await http.get("/v1/sessions")).json()]
    async with env.gw.client(auditor) as http:
        assert (await http.get(f"/v1/sessions/{session_id}")).status_code == 200


async def test_cli_replay_prints_statements_in_order(
    env: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`airlock sessions replay ID` prints each statement with its offset and outcome."""
    await env.psql(script="SELECT 2;\nSELECT 3;\n")
    session_id = await _ended(env)
    monkeypatch.setenv("AIRLOCK_URL", env.gw.api_url)
    monkeypatch.setenv("AIRLOCK_TOKEN", env.token)
    code = await asyncio.to_thread(main, ["sessions", "replay", session_id])
    out = capsys.readouterr().out
    assert code == 0
    rows = [re.match(r"\+\s*[\d.]+s\s+(\S+)\s+(.*)", line) for line in out.splitlines()]
    assert [m.groups() for m in rows if m] == [
        ("ok", "SELECT 2; rows=1"),
        ("ok", "SELECT 3; rows=1"),
    ]
