"""A full disk under the store costs no record (issue #22, points 1 and 2), with real processes.

``airlock up`` runs in a user and mount namespace of its own (``unshare --user --map-root-user
--mount``, no root needed) on a small tmpfs that holds its SQLite store and its statement
journal, as one disk holds both by default. The test fills that disk from outside (through
``/proc/PID/root``) until SQLite itself says "database or disk is full", drives the gateway with
real psql and asyncpg meanwhile, then frees the disk. ``PRAGMA max_page_count`` would not do:
it is a setting of one connection, not of the file, so another process cannot cap the
gateway's connections with it (checked: a second connection's cap leaves the first writing).
What opens the store from here (the token, the audit export and verify, the WAL checkpoint)
runs in the gateway's namespaces (``nsenter --preserve-credentials``, no root needed either):
SQLite resolves symbolic links in a store's path, and ``/proc/PID/root`` is one, so through it
SQLite would open the empty directory outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from gateway.sessions import expand
from tests.conftest import fresh_pg_database
from tests.harness import free_port
from tests.support.processes import up_config

AIRLOCK = str(Path(sys.executable).parent / "airlock")
START_S = 60
DISK = "24m"  # the tmpfs: the store (~1 MiB), a journal segment (1 MiB) and the ballast
UPDATES = 200


def _config(path: Path, disk: Path, database: str, api_port: int, pg_port: int) -> Path:
    """The gateway's configuration, its store and journal on ``disk``."""
    return up_config(
        path, f"sqlite+aiosqlite:///{disk / 'airlock.db'}", database, api_port=api_port,
        pg_port=pg_port, gateway={"journal_segment_bytes": 1048576},
    )  # fmt: skip


class Gateway:
    """``airlock up`` on its own tmpfs; its stdout and stderr read as they come."""

    def __init__(self, proc: asyncio.subprocess.Process, disk: Path) -> None:
        self.proc, self.disk = proc, disk
        self.root = Path(f"/proc/{proc.pid}/root{disk}")  # the tmpfs, seen from outside
        self.out: list[str] = []
        self.err: list[str] = []
        assert proc.stdout is not None and proc.stderr is not None
        self._readers = [
            asyncio.create_task(_lines(proc.stdout, self.out)),
            asyncio.create_task(_lines(proc.stderr, self.err)),
        ]

    async def listening(self, pg_port: int) -> None:
        async with asyncio.timeout(START_S):
            while not any(f"PostgreSQL listener on 127.0.0.1:{pg_port}" in x for x in self.out):
                if self.proc.returncode is not None:
                    pytest.fail(f"airlock up ended early: {self.out} {self.err}")
                await asyncio.sleep(0.05)

    async def inside(self, *argv: str) -> tuple[int, str, str]:
        """Run ``argv`` in the gateway's user and mount namespaces: (exit code, out, err)."""
        proc = await asyncio.create_subprocess_exec(
            "nsenter", "-t", str(self.proc.pid), "-U", "-m", "--preserve-credentials", "--",
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def sql(self, statement: str) -> Any:
        """The first row of ``statement`` on the store, by Python's sqlite3 in its namespace."""
        script = (
            "import json, sqlite3, sys; db = sqlite3.connect(sys.argv[1], timeout=10); "
            "print(json.dumps(db.execute(sys.argv[2]).fetchone()))"
        )
        code, out, err = await self.inside(
            sys.executable, "-c", script, str(self.disk / "airlock.db"), statement
        )
        assert code == 0, err
        return json.loads(out)

    async def stop(self) -> int:
        """SIGTERM, and its exit code (SIGKILL after 30 s)."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), 30)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
            await asyncio.gather(*self._readers, return_exceptions=True)


async def _lines(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode(errors="replace").rstrip("\n"))


@contextlib.asynccontextmanager
async def _gateway(path: Path, disk: Path) -> AsyncIterator[Gateway]:
    """``airlock up --config path`` with a fresh tmpfs of ``DISK`` mounted on ``disk``."""
    await asyncio.to_thread(disk.mkdir)
    mount = 'mount -t tmpfs -o size="$1" airlock-disk "$2" && exec "$3" up --config "$4"'
    proc = await asyncio.create_subprocess_exec(
        "unshare", "--user", "--map-root-user", "--mount", "--",
        "sh", "-c", mount, "sh", DISK, str(disk), AIRLOCK, str(path),
        env={**os.environ, "PG_PROD_PASSWORD": "unused-with-trust-auth"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    gateway = Gateway(proc, disk)
    try:
        yield gateway
    finally:
        await gateway.stop()


async def _token(gateway: Gateway, path: Path) -> str:
    code, out, err = await gateway.inside(
        AIRLOCK, "token", "create", "--subject", "alice@example.com", "--groups", "eng",
        "--config", str(path),
    )  # fmt: skip
    assert code == 0, err
    return out.strip().splitlines()[-1]


async def _fill(gateway: Gateway) -> int:
    """Fill the tmpfs: first the store's WAL is checkpointed and truncated (so the next write
    must grow it: SQLite reuses a WAL's old space without asking the disk), then ballast is
    written until the disk refuses a single byte. Returns the ballast's size."""
    assert await gateway.sql("PRAGMA wal_checkpoint(TRUNCATE)") == [0, 0, 0]
    return await asyncio.to_thread(_ballast, gateway.root / "ballast")


def _ballast(path: Path) -> int:
    written = 0
    with open(path, "wb", buffering=0) as ballast:
        for chunk in (1 << 20, 4096, 1):
            while True:
                try:
                    written += ballast.write(b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    return written


def _statements(events: list[dict[str, Any]], session: str) -> list[dict[str, Any]]:
    return [
        item
        for event in events
        if event["action"] == "statements" and event["target"] == session
        for item in expand(event["details"], datetime.fromisoformat(event["at"]))
    ]


class Psql:
    """One psql session, fed a script at a time on its standard input; what it says on stderr
    (its errors, and ``\\warn`` marks: stderr is not buffered) is read up to each mark."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc, self.marks = proc, 0

    @classmethod
    async def open(cls, port: int, token: str) -> Psql:
        proc = await asyncio.create_subprocess_exec(
            "psql", "-X", "-q", "-v", "VERBOSITY=verbose",
            f"host=127.0.0.1 port={port} dbname=pg-prod user=alice sslmode=disable",
            env={**os.environ, "PGPASSWORD": token},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc)

    async def run(self, script: str) -> list[str]:
        """Run ``script``; the lines psql wrote to stderr meanwhile."""
        assert self.proc.stdin is not None and self.proc.stderr is not None
        self.marks += 1
        mark = f"-- mark {self.marks} --"
        self.proc.stdin.write(f"{script}\n\\warn '{mark}'\n".encode())
        await self.proc.stdin.drain()
        said: list[str] = []
        async with asyncio.timeout(60):
            while (line := (await self.proc.stderr.readline()).decode()) and mark not in line:
                said.append(line.rstrip("\n"))
        assert line, f"psql ended: {said}"
        return said

    async def quit(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"\\q\n")
        await self.proc.stdin.drain()
        return await asyncio.wait_for(self.proc.wait(), 30)


async def _health(http: httpx.AsyncClient, status: str) -> dict[str, Any]:
    """/healthz once it answers ``status`` (the writer retries with a backoff up to 2 s)."""
    async with asyncio.timeout(20):
        while True:
            health = await http.get("/healthz")
            assert health.status_code == 200  # liveness holds throughout
            if health.json()["status"] == status:
                return dict(health.json())
            await asyncio.sleep(0.1)


@pytest.mark.timeout(240)
async def test_a_full_disk_costs_no_record(tmp_path: Path) -> None:
    """The store's disk fills while a psql session is open. Its 200 allowed UPDATEs run
    (journaled first) and every one is in the session's records once space is back; /healthz
    says degraded and /readyz 503 meanwhile; a new session is refused with FATAL 57P03 and a
    statement needing review with ERROR 53100, the session living on; both refusals are
    recorded after recovery; one log line says writes fail and one that they work again, with
    no traceback; `airlock audit verify` passes."""
    async with fresh_pg_database() as url:
        database = make_url(url).database
        assert database is not None
        upstream = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
        await upstream.execute("CREATE TABLE counter (id int PRIMARY KEY, n int)")
        await upstream.execute("INSERT INTO counter VALUES (1, -1)")
        api_port, pg_port = free_port(), free_port()
        disk = tmp_path / "disk"
        path = _config(tmp_path / "airlock.toml", disk, database, api_port, pg_port)
        try:
            async with (
                _gateway(path, disk) as gateway,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=10) as http,
            ):
                await gateway.listening(pg_port)
                token = await _token(gateway, path)
                session = await Psql.open(pg_port, token)
                assert await session.run("SELECT 1;") == []
                before = [
                    f"UPDATE counter SET n = {1000 + k} WHERE id = 1;" for k in range(UPDATES)
                ]
                started = time.monotonic()
                assert await session.run("\n".join(before)) == []  # the same, for comparison
                baseline_s = time.monotonic() - started

                ballast = await _fill(gateway)
                filled = time.monotonic()
                assert ballast > 1 << 20
                updates = [f"UPDATE counter SET n = {k} WHERE id = 1;" for k in range(UPDATES)]
                assert await session.run("\n".join(updates)) == []  # all ran: no error
                ran_s = time.monotonic() - filled
                assert await upstream.fetchval("SELECT n FROM counter") == UPDATES - 1

                degraded = await _health(http, "degraded")
                degraded_s = time.monotonic() - filled
                assert any(
                    p.startswith("the store cannot write (disk full)") for p in degraded["problems"]
                ), degraded
                ready = await http.get("/readyz")
                assert ready.status_code == 503
                assert "disk full" in ready.text
                metrics = (await http.get("/metrics")).text
                assert "airlock_store_available 0.0" in metrics
                assert re.search(r"airlock_audit_pending [1-9]", metrics), metrics

                refused = await asyncio.create_subprocess_exec(
                    "psql", "-X", "-c", "SELECT 1",
                    f"host=127.0.0.1 port={pg_port} dbname=pg-prod user=alice sslmode=disable",
                    env={**os.environ, "PGPASSWORD": token},
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                _, said = await refused.communicate()
                assert refused.returncode == 2
                assert "FATAL:  the audit store is unavailable (disk full)" in said.decode()
                with pytest.raises(asyncpg.CannotConnectNowError, match="audit store"):
                    await asyncpg.connect(
                        host="127.0.0.1", port=pg_port, user="alice", password=token,
                        database="pg-prod", ssl=False,
                    )  # fmt: skip

                said_lines = await session.run("DELETE FROM counter;\nSELECT 1;")
                assert said_lines[0].startswith(
                    "ERROR:  53100: refused: the audit store is unavailable (disk full)"
                ), said_lines
                assert not any(line.startswith(("FATAL", "ERROR:  XX")) for line in said_lines)
                assert await upstream.fetchval("SELECT count(*) FROM counter") == 1

                (gateway.root / "ballast").unlink()
                freed = time.monotonic()
                recovered = await _health(http, "ok")
                recovered_s = time.monotonic() - freed
                assert recovered["problems"] == []
                metrics = (await http.get("/metrics")).text
                assert "airlock_store_available 1.0" in metrics
                found = re.search(r"airlock_store_write_failures_total (\d+)", metrics)
                assert found is not None and int(found[1]) >= 2, metrics
                failures = int(found[1])
                assert (await http.get("/readyz")).status_code == 200
                assert await session.run("SELECT 2;") == []
                assert await session.quit() == 0

                ended = "SELECT count(*) FROM session WHERE ended_at IS NOT NULL"
                async with asyncio.timeout(20):  # the session's end, written at once
                    while await gateway.sql(ended) != [1]:  # noqa: ASYNC110  (another process)
                        await asyncio.sleep(0.2)
                code, out, err = await gateway.inside(
                    AIRLOCK, "audit", "export", "--format", "jsonl", "--config", str(path)
                )
                assert code == 0, err
                events = [json.loads(line) for line in out.splitlines()]
                code, out, err = await gateway.inside(
                    AIRLOCK, "audit", "verify", "--config", str(path)
                )
                assert code == 0, out + err
                assert await gateway.stop() == 0
        finally:
            await upstream.close()

    sessions = {e["target"] for e in events if e["action"] == "statements"}
    assert len(sessions) == 1
    records = _statements(events, sessions.pop())
    texts = [r["statement"] for r in records]
    for text in before + updates:
        assert texts.count(text.rstrip(";")) + texts.count(text) == 1, text
    ran = [r for r in records if r["statement"].startswith("UPDATE")]
    assert {r["outcome"] for r in ran} == {"ok"}
    (delete,) = [r for r in records if r["statement"].startswith("DELETE")]
    assert (delete["outcome"], delete["rule"], delete["sqlstate"]) == (
        "block",
        "audit/store",
        "53100",
    )
    refusals = [e for e in events if e["action"] == "session.refused"]
    assert len(refusals) == 2
    assert {e["details"]["reason"] for e in refusals} == {
        "the audit store is unavailable (disk full)"
    }
    log = "\n".join(gateway.err)
    assert log.count("store: writes fail (disk full: database or disk is full)") == 1, log
    assert log.count("store: writes work again after") == 1, log
    assert log.count("postgres session refused: the audit store is unavailable") == 2, log
    assert "Traceback" not in log and "dropping" not in log, log
    print(  # the numbers docs/operations.md quotes (pytest -s shows them)
        f"\nstore outage: {UPDATES} UPDATEs in {baseline_s:.2f}s before the disk filled, "
        f"{ran_s:.2f}s on the full disk; /healthz degraded "
        f"{degraded_s:.2f}s after the disk filled; ok {recovered_s:.2f}s after space came back"
        f"; {failures} failed write attempts\n" + "\n".join(x for x in gateway.err if "store:" in x)
    )
