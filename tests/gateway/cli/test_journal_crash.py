"""A gateway killed with SIGKILL right after its clients' last statement returned loses none of
them: the next `airlock up` replays its statement journal into the audit trail before it
listens, and the chain verifies (docs/security.md)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import pytest
from sqlalchemy.engine import make_url

from gateway.sessions import expand
from gateway.sessions.replay import UNKNOWN_ERROR
from tests.conftest import fresh_pg_database
from tests.gateway.cli.support import airlock_in_thread
from tests.harness import free_port
from tests.support.processes import up_config

AIRLOCK = str(Path(sys.executable).parent / "airlock")
START_S = 60
SIMPLE = 150  # UPDATEs through psql (simple protocol, the compiled lane's Query)
PREPARED = 150  # UPDATEs through psycopg, prepared (the compiled lane's Bind/Execute)
PREPARED_TEXT = "UPDATE counter SET n = $1 WHERE id = 2"


async def _start(path: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        AIRLOCK, "up", "--config", str(path),
        env={**os.environ, "PG_PROD_PASSWORD": "unused-with-trust-auth"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _until_listening(proc: asyncio.subprocess.Process, pg_port: int) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(START_S):
        while not any(f"PostgreSQL listener on 127.0.0.1:{pg_port}" in line for line in lines):
            line = await proc.stdout.readline()
            if not line:
                assert proc.stderr is not None
                pytest.fail(f"airlock up ended early: {lines} {(await proc.stderr.read())!r}")
            lines.append(line.decode().rstrip("\n"))
    return lines


async def _token(path: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        AIRLOCK, "token", "create", "--subject", "alice@example.com", "--groups", "eng",
        "--config", str(path), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return out.decode().strip().splitlines()[-1]  # after a "# token for ..." comment line


async def _psql(port: int, token: str, script: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-",
        f"host=127.0.0.1 port={port} dbname=pg-prod user=alice sslmode=disable",
        env={**os.environ, "PGPASSWORD": token},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate(script.encode())
    assert proc.returncode == 0, err.decode()


def _statements(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        item
        for event in events
        if event["action"] == "statements"
        for item in expand(event["details"], datetime.fromisoformat(event["at"]))
    ]


@pytest.mark.timeout(240)
async def test_a_killed_gateway_loses_no_allowed_statement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """300 allowed UPDATEs (psql and prepared psycopg), SIGKILL right after the last returned:
    after the next start every one of them is in the audit trail exactly once (those the
    trail had not confirmed with outcome unknown), and `airlock audit verify` passes."""
    async with fresh_pg_database() as url:
        database = make_url(url).database
        assert database is not None
        upstream = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
        try:
            await upstream.execute("CREATE TABLE counter (id int PRIMARY KEY, n int)")
            await upstream.execute("INSERT INTO counter VALUES (1, -1), (2, -1)")
            api_port, pg_port = free_port(), free_port()
            store_url = f"sqlite+aiosqlite:///{tmp_path / 'airlock.db'}"
            path = up_config(
                tmp_path / "airlock.toml", store_url, database, api_port=api_port, pg_port=pg_port
            )
            proc = await _start(path)
            try:
                await _until_listening(proc, pg_port)
                token = await _token(path)
                simple = [f"UPDATE counter SET n = {k} WHERE id = 1;" for k in range(SIMPLE)]
                await _psql(pg_port, token, "".join(f"{text}\n" for text in simple))
                conninfo = (
                    f"host=127.0.0.1 port={pg_port} dbname=pg-prod user=alice "
                    f"password={token} sslmode=disable"
                )
                async with await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True, prepare_threshold=0
                ) as conn:
                    for k in range(PREPARED):
                        await conn.execute("UPDATE counter SET n = %s WHERE id = 2", (k,))
                    proc.send_signal(signal.SIGKILL)  # right after the last one returned
                await proc.wait()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            ran = {r["id"]: r["n"] for r in await upstream.fetch("SELECT id, n FROM counter")}
            assert ran == {1: SIMPLE - 1, 2: PREPARED - 1}
        finally:
            await upstream.close()

        left = list((tmp_path / "airlock-journal").glob("*.journal"))
        assert left, "the killed gateway left its journal"
        proc = await _start(path)
        try:
            lines = await _until_listening(proc, pg_port)
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0, err.decode()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert any("replayed" in line and "unconfirmed statements" in line for line in lines)

    exported = await airlock_in_thread(
        capsys, "audit", "export", "--format", "jsonl", "--config", str(path)
    )
    assert exported.code == 0
    statements = _statements([json.loads(line) for line in exported.out.splitlines()])
    texts = [item["statement"] for item in statements]
    for text in simple:
        assert texts.count(text) == 1, text
    assert texts.count(PREPARED_TEXT) == PREPARED
    unknown = [item for item in statements if item["outcome"] == "unknown"]
    assert unknown, "the crash came before the trail confirmed the last statements"
    assert {item["error"] for item in unknown} == {UNKNOWN_ERROR}
    verified = await airlock_in_thread(capsys, "audit", "verify", "--config", str(path))
    assert verified.code == 0, verified.out + verified.err
    assert list((tmp_path / "airlock-journal").glob("*.journal")) == []
