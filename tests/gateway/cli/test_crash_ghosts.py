"""A gateway killed with SIGKILL mid-hold leaves no ghosts (issue #22, point 4), with real
processes, psql and the real PostgreSQL: on the next start on the same host (SQLite store), or
within replica_dead_after plus a heartbeat on another replica (PostgreSQL store), the held
statement's review is cancelled saying why, the session is ended, nothing approvable is left,
and the audit trail verifies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from approvals import ReviewKind, ReviewState
from gateway.sessions.replicas import GONE, RESTARTED, SESSION_END
from store import REPLICA_REAPED, Database, InProcessBus, SqlRepository
from tests.conftest import fresh_pg_database
from tests.harness import free_port
from tests.support.processes import up_config

AIRLOCK = str(Path(sys.executable).parent / "airlock")
START_S = 60
ENV = {**os.environ, "PG_PROD_PASSWORD": "unused-with-trust-auth"}
HELD = re.compile(r"held for approval: review ([0-9a-f-]{36})")


def _config(
    directory: Path,
    store_url: str,
    upstream_db: str,
    *,
    api: int,
    pg: int,
    beat: dict[str, str] | None = None,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return up_config(
        directory / "airlock.toml", store_url, upstream_db, api_port=api, pg_port=pg,
        gateway={"journal_dir": str(directory / "journal"), **(beat or {})},
    )  # fmt: skip


class Gateway:
    """An ``airlock up`` / ``airlock gateway`` process and every line it printed."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode().rstrip("\n"))

    async def until(self, text: str) -> str:
        async with asyncio.timeout(START_S):
            while True:
                found = [line for line in self.lines if text in line]
                if found:
                    return found[0]
                if self._reader.done():
                    assert self.proc.stderr is not None
                    err = await self.proc.stderr.read()
                    pytest.fail(f"the gateway ended: {self.lines} {err.decode()}")
                await asyncio.sleep(0.02)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()  # reaped: its pid is gone
        await self._reader

    async def terminate(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            code = await self.proc.wait()
        await self._reader
        return code


@asynccontextmanager
async def gateway(mode: str, path: Path, pg: int) -> AsyncIterator[Gateway]:
    proc = await asyncio.create_subprocess_exec(
        AIRLOCK, mode, "--config", str(path), env=ENV,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    running = Gateway(proc)
    try:
        await running.until(f"PostgreSQL listener on 127.0.0.1:{pg}")
        yield running
    finally:
        await running.kill()


@asynccontextmanager
async def two_gateways(
    path_a: Path, pg_a: int, path_b: Path, pg_b: int
) -> AsyncIterator[tuple[Gateway, Gateway]]:
    """``airlock gateway`` twice, started side by side."""
    async with contextlib.AsyncExitStack() as stack:
        a, b = await asyncio.gather(
            stack.enter_async_context(gateway("gateway", path_a, pg_a)),
            stack.enter_async_context(gateway("gateway", path_b, pg_b)),
        )
        yield a, b


async def airlock(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        AIRLOCK, *argv, env=env or ENV,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def token(path: Path, subject: str, groups: str) -> str:
    code, out = await airlock(
        "token", "create", "--subject", subject, "--groups", groups, "--config", str(path)
    )
    assert code == 0, out
    return out.strip().splitlines()[-1]


@asynccontextmanager
async def held_psql(pg: int, token: str, statement: str) -> AsyncIterator[str]:
    """psql sending ``statement``, held: yields the review id from the gateway's notice."""
    proc = await asyncio.create_subprocess_exec(
        "psql", "-X", "-q", "-c", statement,
        f"host=127.0.0.1 port={pg} dbname=pg-prod user=alice sslmode=disable",
        env={**os.environ, "PGPASSWORD": token},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(30):
            while not (found := HELD.search((await proc.stderr.readline()).decode())):
                assert proc.returncode is None, "psql ended before its statement was held"
        yield found.group(1)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def approve(api: int, token: str, review_id: str) -> tuple[int, str]:
    env = {**ENV, "AIRLOCK_URL": f"http://127.0.0.1:{api}", "AIRLOCK_TOKEN": token}
    return await airlock("reviews", "approve", review_id, env=env)


@asynccontextmanager
async def store(url: str) -> AsyncIterator[SqlRepository]:
    database = Database(url)
    try:
        yield SqlRepository(database, InProcessBus())
    finally:
        await database.close()


async def upstream_table(database: str) -> None:
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
    try:
        await conn.execute("CREATE TABLE ghosts (id int PRIMARY KEY, n int)")
        await conn.execute("INSERT INTO ghosts VALUES (1, 0)")
    finally:
        await conn.close()


async def upstream_has_table(database: str) -> bool:
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
    try:
        return bool(await conn.fetchval("SELECT to_regclass('ghosts') IS NOT NULL"))
    finally:
        await conn.close()


async def nothing_approvable(repository: SqlRepository) -> None:
    pending = await repository.list_reviews(state=ReviewState.PENDING)
    assert [r for r in pending if r.kind is ReviewKind.STATEMENT] == []


@pytest.mark.timeout(180)
async def test_a_restarted_gateway_reaps_what_its_killed_predecessor_held(tmp_path: Path) -> None:
    """SQLite store, `airlock up`: psql's DROP is held, allowed UPDATEs run on another session,
    SIGKILL. The next start replays the journal, then reaps at once (same host, pid gone): the
    review is cancelled ("the gateway restarted", on the console chat's card too), the session
    ended, an approval refused, the DROP never ran, and `airlock audit verify` passes."""
    async with fresh_pg_database() as upstream_url:
        upstream_db = make_url(upstream_url).database
        assert upstream_db is not None
        await upstream_table(upstream_db)
        store_url = f"sqlite+aiosqlite:///{tmp_path / 'airlock.db'}"
        api, pg = free_port(), free_port()
        path = _config(tmp_path, store_url, upstream_db, api=api, pg=pg)
        async with gateway("up", path, pg) as first:
            alice, bob = await asyncio.gather(
                token(path, "alice@example.com", "eng"), token(path, "bob@example.com", "dba")
            )
            async with held_psql(pg, alice, "DROP TABLE ghosts") as review_id:
                conninfo = (
                    f"host=127.0.0.1 port={pg} dbname=pg-prod user=alice password={alice} "
                    "sslmode=disable"
                )
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    for k in range(50):
                        await conn.execute("UPDATE ghosts SET n = %s WHERE id = 1", (k,))
                    await first.kill()  # right after the last UPDATE returned, mid-hold

        async with gateway("up", path, pg) as second:
            reaped = await second.until("airlock: reaped replica")
            replayed = [i for i, line in enumerate(second.lines) if "replayed" in line]
            listening = [i for i, line in enumerate(second.lines) if "listener on" in line]
            # The journal replayed, then the predecessor reaped, then the listener opened.
            assert replayed[0] < second.lines.index(reaped) < listening[0], second.lines
            code, out = await approve(api, bob, review_id)
            assert code != 0
            assert f"review {review_id} is already cancelled: {RESTARTED}" in out
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api}") as http:
                shown = await http.get(
                    f"/chat/cards/{review_id}", headers={"authorization": f"Bearer {bob}"}
                )
            assert shown.status_code == 200, shown.text
            card = shown.json()  # the console chat's card: no buttons, and why
            assert card["state"] == "cancelled"
            assert "the gateway restarted" in card["html"] and "<form" not in card["html"]
            assert await second.terminate() == 0
        assert await upstream_has_table(upstream_db), "the held DROP ran"

    async with store(store_url) as repository:
        review = await repository.get_review(review_id)
        assert review is not None
        assert (review.state, review.cancel_reason) == (ReviewState.CANCELLED, RESTARTED)
        assert review.session_id is not None
        session = await repository.get_session(review.session_id)
        assert session is not None and session.ended_at is not None
        assert session.stats["end"] == SESSION_END
        assert await repository.list_sessions(active=True) == []
        await nothing_approvable(repository)
        events = await repository.list_audit(limit=10_000)
        seq = {(e.action, e.outcome): e.seq for e in events}
        # The replayed statements first, then the review's end, then the replica's reap.
        assert seq[("statements", "unknown")] < seq[("review.final", "cancelled")]
        assert seq[("review.final", "cancelled")] < seq[(REPLICA_REAPED, "reaped")]
    code, out = await airlock("audit", "verify", "--config", str(path))
    assert code == 0, out


BEAT = {"heartbeat_interval": "500ms", "replica_dead_after": "2s"}


@pytest.mark.timeout(180)
async def test_another_replica_reaps_a_killed_one_within_the_bound(tmp_path: Path) -> None:
    """PostgreSQL store, two `airlock gateway` (heartbeat 0.5 s, dead after 2 s): A holds a
    DROP and is SIGKILLed; B cancels its review ("the gateway holding it is gone") and ends its
    session within replica_dead_after + one heartbeat (+ slack for a loaded machine), and not
    before replica_dead_after - one heartbeat; nothing
    approvable is left; the trail verifies."""
    async with fresh_pg_database() as upstream_url, fresh_pg_database() as store_url:
        upstream_db = make_url(upstream_url).database
        assert upstream_db is not None
        await upstream_table(upstream_db)
        api_a, pg_a, api_b, pg_b = free_port(), free_port(), free_port(), free_port()
        path_a = _config(tmp_path / "a", store_url, upstream_db, api=api_a, pg=pg_a, beat=BEAT)
        path_b = _config(tmp_path / "b", store_url, upstream_db, api=api_b, pg=pg_b, beat=BEAT)
        code, out = await airlock("db", "upgrade", "--config", str(path_a))
        assert code == 0, out
        async with two_gateways(path_a, pg_a, path_b, pg_b) as (a, b):
            alice, bob = await asyncio.gather(
                token(path_a, "alice@example.com", "eng"), token(path_b, "bob@example.com", "dba")
            )
            async with store(store_url) as repository:
                async with held_psql(pg_a, alice, "DROP TABLE ghosts") as review_id:
                    await a.kill()
                    killed = time.monotonic()
                    async with asyncio.timeout(15):  # the review ends first, then the session
                        while True:
                            review = await repository.get_review(review_id)
                            assert review is not None and review.session_id is not None
                            session = await repository.get_session(review.session_id)
                            assert session is not None
                            if review.is_final and session.ended_at is not None:
                                break
                            await asyncio.sleep(0.02)
                    took = time.monotonic() - killed
                assert (review.state, review.cancel_reason) == (ReviewState.CANCELLED, GONE)
                assert session.stats["end"] == SESSION_END
                await nothing_approvable(repository)
                code, out = await approve(api_b, bob, review_id)
                assert code != 0 and "already cancelled" in out, out
                await b.until("airlock: reaped replica")
                async with httpx.AsyncClient() as http:
                    metrics = (await http.get(f"http://127.0.0.1:{api_b}/metrics")).text
                assert 'airlock_replicas_reaped_total{reason="gone"} 1.0' in metrics
            print(f"\nreaped {took:.2f} s after SIGKILL (dead after 2 s, heartbeat 0.5 s)")
            # A's last heartbeat was up to one interval before the kill, and B looks once per
            # interval: between dead_after - interval (1.5 s) and dead_after + interval (2.5 s),
            # plus the reaping; 1 s of slack on a loaded machine.
            assert 1.4 <= took <= 3.5, took
            assert await b.terminate() == 0
        assert await upstream_has_table(upstream_db), "the held DROP ran"
        code, out = await airlock("audit", "verify", "--config", str(path_b))
        assert code == 0, out
