"""``airlock up`` as a real process: prints where it listens, answers /healthz, and exits 0
promptly on SIGTERM and on SIGINT; a start-up problem is `airlock: <message>` and exit 2."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.cli.main import _steady_heap
from tests.gateway.cli.support import airlock
from tests.harness import free_port

AIRLOCK = str(Path(sys.executable).parent / "airlock")
START_S = 60  # generous: the machine may be busy with other suites
STOP_S = 10


def config(tmp_path: Path, api_port: int, pg_port: int) -> Path:
    path = tmp_path / "airlock.toml"
    path.write_text(
        f"""
[store]
url = "sqlite+aiosqlite:///{tmp_path / "airlock.db"}"

[api]
listen = "127.0.0.1:{api_port}"

[listeners]
postgres = "127.0.0.1:{pg_port}"

[[connections]]
name = "pg-prod"
type = "postgres"
upstream = "127.0.0.1:5432"
database = "postgres"
username = "postgres"
password_env = "PG_PROD_PASSWORD"
upstream_tls = "disable"
approvers = {{ groups = ["dba"] }}
""",
        encoding="utf-8",
    )
    return path


async def start(path: Path, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        AIRLOCK,
        "up",
        "--config",
        str(path),
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_until(proc: asyncio.subprocess.Process, *wanted: str) -> list[str]:
    """Lines of stdout until every ``wanted`` text has appeared in one of them."""
    assert proc.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(START_S):
        while not all(any(w in line for line in lines) for w in wanted):
            line = await proc.stdout.readline()
            if not line:
                assert proc.stderr is not None
                err = (await proc.stderr.read()).decode()
                pytest.fail(f"airlock up ended early: {lines} {err}")
            lines.append(line.decode().rstrip("\n"))
    return lines


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_up_serves_and_stops_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    """`airlock up` prints its HTTP and PostgreSQL addresses, is healthy, and on the signal
    stops within a few seconds with exit status 0."""
    api_port, pg_port = free_port(), free_port()
    proc = await start(config(tmp_path, api_port, pg_port), PG_PROD_PASSWORD="unused")
    try:
        api_url = f"http://127.0.0.1:{api_port}"
        lines = await read_until(proc, f"HTTP API on {api_url}", f"127.0.0.1:{pg_port}")
        assert any(line.startswith("airlock: store sqlite+aiosqlite:///") for line in lines)
        assert any(f"PostgreSQL listener on 127.0.0.1:{pg_port}" in line for line in lines)
        async with httpx.AsyncClient(timeout=10) as http:
            health = await http.get(f"{api_url}/healthz")
        assert health.status_code == 200
        assert health.json()["connections"] == ["pg-prod"]

        stopping = time.monotonic()
        proc.send_signal(sig)
        out, err = await asyncio.wait_for(proc.communicate(), STOP_S)
        assert proc.returncode == 0, err.decode()
        assert time.monotonic() - stopping < STOP_S
        assert out.decode().rstrip().endswith("airlock: stopped")
        assert "Traceback" not in err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_up_with_a_missing_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A connection whose password variable is unset stops the start: exit 2, one clear line."""
    run = airlock(capsys, "up", "--config", str(config(tmp_path, free_port(), free_port())))
    assert run.code == 2
    assert run.err == (
        "airlock: connection pg-prod: environment variable PG_PROD_PASSWORD is not set\n"
    )


def test_up_with_a_missing_role_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A role's credential is checked at the start like the connection's own."""
    monkeypatch.setenv("PG_PROD_PASSWORD", "unused")
    path = config(tmp_path, free_port(), free_port())
    role = '[connections.roles.readonly]\nusername = "ro"\npassword_env = "PG_RO_PASSWORD"\n'
    path.write_text(path.read_text(encoding="utf-8") + role, encoding="utf-8")
    run = airlock(capsys, "up", "--config", str(path))
    assert run.code == 2
    assert run.err == (
        "airlock: connection pg-prod role readonly: environment variable PG_RO_PASSWORD is not "
        "set\n"
    )


def test_up_on_a_busy_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An HTTP port already taken is `airlock: ... cannot listen on ...`, exit 2, no traceback."""
    monkeypatch.setenv("PG_PROD_PASSWORD", "unused")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = airlock(capsys, "up", "--config", str(config(tmp_path, port, free_port())))
    assert run.code == 2
    assert run.err == (
        f"airlock: [api] listen: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


def test_serving_tunes_the_collector_and_restores_it() -> None:
    """While `up` serves, the start-up heap is frozen and young objects are collected less
    often; afterwards (an in-process run, as in these tests) the collector is as it was."""
    before = gc.get_threshold()
    with _steady_heap():
        assert gc.get_threshold() == (10_000, 10, 10)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
