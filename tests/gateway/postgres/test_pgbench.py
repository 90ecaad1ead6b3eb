"""pgbench through the gateway: select-only, simple and prepared, one and four clients."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.gateway.postgres.support import Env, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _pgbench(*args: str, password: str = "") -> tuple[int, str]:
    env = dict(os.environ, PGPASSWORD=password, PGSSLMODE="disable")
    proc = await asyncio.create_subprocess_exec(
        "pgbench",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(60):
        out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path_factory.mktemp("pgbench"), review_timeout="3s") as env:
        # Initialising is DDL (DROP/CREATE): done directly upstream, not through the gateway.
        code, out = await _pgbench(
            "-i", "-q", "-s", "1", "-h", "127.0.0.1", "-U", "postgres", env.database
        )
        assert code == 0, out
        yield env


@pytest.mark.parametrize("mode", ["simple", "prepared"])
@pytest.mark.parametrize("clients", [1, 4])
async def test_select_only(env: Env, mode: str, clients: int) -> None:
    """pgbench -S runs every transaction through the gateway without a failure."""
    code, out = await _pgbench(
        *("-h", "127.0.0.1", "-p", str(env.port), "-U", "alice", "-n"),
        *("-S", "-t", "200", "-M", mode, "-c", str(clients), "-j", str(clients)),
        "pg-test",
        password=env.token,
    )
    assert code == 0, out
    processed = re.search(r"number of transactions actually processed: (\d+)/(\d+)", out)
    assert processed is not None, out
    assert processed.group(1) == processed.group(2) == str(200 * clients)
    assert "number of failed transactions: 0" in out
