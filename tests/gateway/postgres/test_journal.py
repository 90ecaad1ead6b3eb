"""Nothing is forwarded unrecorded: a statement the journal cannot record is refused (53000,
rule audit/journal) whichever lane and protocol it came by, it does not run upstream, the
refusal is in the trail, and statements run again once the journal can write."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
import pytest

from gateway.sessions.journal import RETRY_S
from tests.gateway.postgres.support import gateway_env

pytestmark = pytest.mark.asyncio


async def test_statements_are_refused_while_the_journal_cannot_write(tmp_path: Path) -> None:
    """With its directory gone, the journal fills its segment and cannot open the next: the
    prepared UPDATE that finds it full (asyncpg, the compiled lane's Bind) and a simple one
    (psql) are refused with a clear error and leave the rows as they were; the refusals are
    audited; once the directory is back, statements run and are journaled again."""
    async with gateway_env(tmp_path, gateway_options={"journal_segment_bytes": 64 << 10}) as env:
        directory = tmp_path / "airlock-journal"
        moved = tmp_path / "moved"
        conn = await env.asyncpg()
        try:
            await conn.execute("UPDATE t SET balance = $1 WHERE id = 1", 0)
            os.rename(directory, moved)
            directory.write_text("in the way")  # no segment can be made there now
            ran, refused = 1, None
            for k in range(1, 10_000):
                try:
                    await conn.execute("UPDATE t SET balance = $1 WHERE id = 1", k)
                except asyncpg.InsufficientResourcesError as exc:
                    refused = exc
                    break
                ran += 1
            assert refused is not None, "the journal never filled up"
            assert "journal" in str(refused) and "nothing runs unrecorded" in str(refused)
            rows = await env.upstream("SELECT balance FROM t WHERE id = 1")
            assert rows[0]["balance"] == ran - 1  # the refused one did not run
            code, _, err = await env.psql("UPDATE t SET balance = 99 WHERE id = 2")
            assert code != 0 and "rule audit/journal" in err
            assert (await env.upstream("SELECT balance FROM t WHERE id = 2"))[0]["balance"] == 20

            directory.unlink()
            os.rename(moved, directory)
            await asyncio.sleep(RETRY_S + 0.2)
            await conn.execute("UPDATE t SET balance = $1 WHERE id = 1", -5)
            rows = await env.upstream("SELECT balance FROM t WHERE id = 1")
            assert rows[0]["balance"] == -5
        finally:
            await conn.close()
        refusals = [e for e in await env.audit() if e.details.get("rule") == "audit/journal"]
        assert [e.outcome for e in refusals] == ["block", "block"]
