"""Through the gateway, on a database whose standard_conforming_strings is off: a backslash
literal after non-ASCII text cannot smuggle a second statement past the classifier."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
import pytest_asyncio

from tests.gateway.postgres.support import Env, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path_factory.mktemp("scs")) as env:
        await env.upstream(f'ALTER DATABASE "{env.database}" SET standard_conforming_strings = off')
        yield env


async def test_smuggled_delete_after_non_ascii_never_runs(env: Env) -> None:
    """SELECT 'é', 'x\\' -- ' ; DELETE FROM t; --' is two statements to the server (scs off):
    the gateway refuses it, and every row of t is still there."""
    before = await env.count()
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        shown = await (await conn.execute("SHOW standard_conforming_strings")).fetchone()
        assert shown == ("off",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute("SELECT 'éééé', 'x\\' -- ' ; DELETE FROM t; --'")
    assert before > 0 and await env.count() == before
