"""End-to-end smoke through the in-process gateway with psql."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tests.harness import pg_connection, running_gateway


async def _psql(port: int, token: str, sql: str) -> tuple[int, str, str]:
    env = dict(os.environ, PGPASSWORD=token, PGSSLMODE="disable")
    proc = await asyncio.create_subprocess_exec(
        "psql",
        "-X",
        "-At",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        "t",
        "-d",
        "pg-test",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_select_through_gateway(tmp_path: Path) -> None:
    """A plain SELECT from psql runs through the gateway against the real PostgreSQL."""
    async with running_gateway(tmp_path, connections=[pg_connection("postgres")]) as gw:
        code, out, err = await _psql(
            gw.pg_port, gw.token("alice@example.com", ["eng"]), "SELECT 40 + 2"
        )
        assert (code, out.strip()) == (0, "42"), err
