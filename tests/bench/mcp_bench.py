"""MCP benchmark: many agents at once over ``/mcp``, against the same query over the gateway's
PostgreSQL listener.

Run:  .venv/bin/python -m tests.bench.mcp_bench [--sessions 50] [--calls 20]
(not a test; needs the local PostgreSQL at 127.0.0.1:5432 with trust auth).

What it does:
1. creates a fresh database with a ``customers`` table (masking on: a column rule and a
   detector, as a production connection would have);
2. starts ``airlock up`` as a subprocess on free ports (SQLite store, audit on) and mints a
   token per agent with the signing key it gave it;
3. opens ``--sessions`` MCP sessions at once with the SDK's own client (streamable HTTP) and
   has each call ``query`` ``--calls`` times, one call after the other: per-call latency;
4. the same query over the PostgreSQL listener with asyncpg, as many clients at once, two
   ways: one connection per client kept open (what psql in a loop does inside one session),
   and one connection per query (what an MCP call is: its own session, upstream login and
   all);
5. prints p50 / p95 / p99 / max per call, calls per second and Airlock's own CPU time per call
   (from /proc/PID/stat, its threads included: the clients share the machine, so the CPU time
   is the steadier number) for each, first with one client (unloaded latency), then with
   ``--sessions`` at once; checks every call answered ``ok`` with the masked rows, and stops
   Airlock and drops the database (Ctrl-C too).

Exit status: 0 when every call succeeded, 1 when some did not, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from gateway.identity import TokenService, generate_key, load_key
from tests.harness import free_port, pg_connection
from tests.support.processes import AIRLOCK, AirlockProcess, child_env, write_config

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SQL = "SELECT id, name, email, ssn FROM customers WHERE id = 7"


def _cpu(pid: int) -> float:
    """The process's user + system CPU seconds so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _report(name: str, latencies: list[float], wall: float, failures: int, cpu: float) -> None:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1e3

    print(
        f"{name:<34} calls {len(ordered):>5}  p50 {pct(0.50):7.1f} ms  p95 {pct(0.95):7.1f} ms  "
        f"p99 {pct(0.99):7.1f} ms  max {ordered[-1] * 1e3:7.1f} ms  "
        f"{len(ordered) / wall:7.1f} calls/s  CPU {cpu / len(ordered) * 1e3:5.1f} ms/call  "
        f"failures {failures}"
    )


async def _mcp_agent(url: str, token: str, calls: int, out: list[float]) -> int:
    failures = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60, read=120)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        for _ in range(calls):
            started = time.perf_counter()
            result = await session.call_tool("query", {"connection": "pg-bench", "sql": SQL})
            out.append(time.perf_counter() - started)
            answer = result.structured_content or {}
            masked = answer.get("rows") == [["7", "P7", "p***@example.com", "***-**-0007"]]
            failures += result.is_error or answer.get("status") != "ok" or not masked
    return failures


async def _pg_session(port: int, token: str, calls: int, out: list[float]) -> int:
    conn = await asyncpg.connect(
        host="127.0.0.1", port=port, user="agent", password=token, database="pg-bench", ssl=False
    )
    try:
        for _ in range(calls):
            started = time.perf_counter()
            rows = await conn.fetch(SQL)
            out.append(time.perf_counter() - started)
            assert rows[0]["ssn"] == "***-**-0007"
    finally:
        await conn.close()
    return 0


async def _pg_per_query(port: int, token: str, calls: int, out: list[float]) -> int:
    for _ in range(calls):
        started = time.perf_counter()
        conn = await asyncpg.connect(
            host="127.0.0.1", port=port, user="agent", password=token, database="pg-bench",
            ssl=False,
        )  # fmt: skip
        try:
            rows = await conn.fetch(SQL)
        finally:
            await conn.close()
        out.append(time.perf_counter() - started)
        assert rows[0]["ssn"] == "***-**-0007"
    return 0


async def _run(
    name: str,
    one: Callable[[str, list[float]], Awaitable[int]],
    tokens: list[str],
    pid: int,
) -> int:
    latencies: list[float] = []
    cpu, started = _cpu(pid), time.perf_counter()
    results = await asyncio.gather(*(one(t, latencies) for t in tokens), return_exceptions=True)
    wall, cpu = time.perf_counter() - started, _cpu(pid) - cpu
    failures = 0
    for result in results:
        if isinstance(result, BaseException):
            print(f"  {name}: a client failed: {result!r}", file=sys.stderr)
            failures += 1
        else:
            failures += result
    _report(name, latencies or [0.0], wall, failures, cpu)
    return failures


async def _database() -> str:
    name = f"airlock_mcp_bench_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        await conn.execute(
            "CREATE TABLE customers (id int PRIMARY KEY, name text, email text, ssn text);"
            "INSERT INTO customers SELECT g, 'P' || g, 'p' || g || '@example.com', "
            "'123-45-' || lpad(g::text, 4, '0') FROM generate_series(1, 1000) g"
        )
    finally:
        await conn.close()
    return name


async def main(sessions: int, calls: int) -> int:
    database = await _database()
    pem = generate_key().private_pem()
    tokens = TokenService(load_key(pem))
    api, pg = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conn = pg_connection(
            database, "pg-bench", masking={"columns": ["ssn"], "detectors": ["email"]}
        )
        sections: dict[str, dict[str, Any]] = {
            "scheduler": {"enabled": False},
            "gateway": {"journal_dir": str(Path(tmp) / "journal"), "max_sessions": 1000},
        }
        config = write_config(
            Path(tmp) / "airlock.toml", f"sqlite+aiosqlite:///{tmp}/airlock.db", api_port=api,
            pg_port=pg, connections=[conn], sections=sections,
        )  # fmt: skip
        env = child_env({"AIRLOCK_SIGNING_KEY": pem, "AIRLOCK_TEST_UPSTREAM_PASSWORD": "x"})
        ready = ("MCP server on", f"listener on 127.0.0.1:{pg}")
        process = AirlockProcess("up", (AIRLOCK, "up", "--config", str(config)), env, ready)
        await process.start()
        try:
            print(f"airlock up pid {process.pid}; {sessions} clients x {calls} calls each: {SQL}")
            agents = [tokens.mint(f"agent{i}@example.com", groups=["eng"]) for i in range(sessions)]
            url = f"http://127.0.0.1:{api}/mcp"
            cases: list[tuple[str, Callable[[str, list[float]], Awaitable[int]]]] = [
                ("MCP query (SDK client)", lambda t, o: _mcp_agent(url, t, calls, o)),
                ("asyncpg, one session per client", lambda t, o: _pg_session(pg, t, calls, o)),
                ("asyncpg, one session per query", lambda t, o: _pg_per_query(pg, t, calls, o)),
            ]
            failures = 0
            for clients in (agents[:1], agents):
                print(f"-- {len(clients)} client{'s' if len(clients) > 1 else ''} at once")
                for name, one in cases:
                    failures += await _run(name, one, clients, process.pid)
        finally:
            await process.stop()
            admin = await asyncpg.connect(ADMIN)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            finally:
                await admin.close()
    print("all calls answered ok with masked rows" if not failures else f"{failures} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    try:
        sys.exit(asyncio.run(main(args.sessions, args.calls)))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"mcp_bench: could not run: {exc}", file=sys.stderr)
        sys.exit(2)
