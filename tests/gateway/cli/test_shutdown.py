"""SIGTERM has one deadline (``[gateway] shutdown_timeout``), whatever the store does.

Real processes: ``airlock up`` on SQLite, psql clients, and this test process holding the
store's write lock (``BEGIN EXCLUSIVE`` through Python's sqlite3) the way another process
would. With the store locked the gateway still exits by the deadline, with exit 75 (what it
could not write it names); a statement that ran just before is replayed from the statement
journal into the audit trail at the next start and the chain verifies. With the store free,
the sessions end with FATAL 57P01, the held review is cancelled and the exit is 0, at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from gateway.cli.main import main
from gateway.config import load_settings
from gateway.errors import ConfigError
from gateway.runtime import EXIT_UNRECORDED
from gateway.sessions import expand
from gateway.sessions.replay import UNKNOWN_ERROR
from store import upgrade
from tests.conftest import fresh_pg_database
from tests.gateway.cli.support import airlock_in_thread
from tests.harness import free_port
from tests.support.processes import up_config

AIRLOCK = str(Path(sys.executable).parent / "airlock")
START_S = 90  # generous: the machine may be busy with other suites
TIMEOUT_S = 3.0  # the tests' shutdown_timeout
# The exit is due at the deadline; the margin covers this test noticing it on a busy machine.
MARGIN_S = 1.5
FATAL = "FATAL:  57P01: terminating connection: the gateway is shutting down"
RAN_TEXT = "UPDATE counter SET n = 42 WHERE id = 1;"  # as psql sends it


@dataclass
class Gateway:
    tmp_path: Path
    config: Path
    pg_port: int
    store: Path
    store_url: str

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        """Another process's hold of the store's write lock: on SQLite ``BEGIN EXCLUSIVE`` (as a
        backup tool or a stuck `airlock` command would take it), on PostgreSQL an ACCESS
        EXCLUSIVE lock on the tables a session's end and the audit writer write."""
        if not self.store_url.startswith("postgresql"):
            with store_locked(self.store):
                yield
            return
        dsn = make_url(self.store_url).set(drivername="postgresql")
        other = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            async with other.transaction():
                await other.execute(
                    "LOCK TABLE audit_event, session, session_event, review, delegation "
                    "IN ACCESS EXCLUSIVE MODE"
                )
                yield
        finally:
            await other.close()

    async def start(self) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            AIRLOCK, "up", "--config", str(self.config),
            env={**os.environ, "PG_PROD_PASSWORD": "unused-with-trust-auth"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.lines = await _until_listening(proc, self.pg_port)
        return proc

    async def token(self) -> str:
        proc = await asyncio.create_subprocess_exec(
            AIRLOCK, "token", "create", "--subject", "alice@example.com", "--groups", "eng",
            "--config", str(self.config), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        return out.decode().strip().splitlines()[-1]


@asynccontextmanager
async def gateway(tmp_path: Path, store: str = "sqlite") -> AsyncIterator[Gateway]:
    """A config for `airlock up` on a SQLite store (or a fresh, migrated PostgreSQL one),
    serving pg-prod (a fresh PostgreSQL database with a ``counter`` and a ``victim`` table),
    shutdown_timeout 3s."""
    async with contextlib.AsyncExitStack() as stack:
        store_url = f"sqlite+aiosqlite:///{tmp_path / 'airlock.db'}"
        if store == "postgres":
            store_url = await stack.enter_async_context(fresh_pg_database())
            await upgrade(store_url)
        yield await stack.enter_async_context(_gateway(tmp_path, store_url))


@asynccontextmanager
async def _gateway(tmp_path: Path, store_url: str) -> AsyncIterator[Gateway]:
    async with fresh_pg_database() as url:
        database = make_url(url).database
        assert database is not None
        upstream = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
        try:
            await upstream.execute("CREATE TABLE counter (id int PRIMARY KEY, n int)")
            await upstream.execute("INSERT INTO counter VALUES (1, 0)")
            await upstream.execute("CREATE TABLE victim (id int)")
        finally:
            await upstream.close()
        api_port, pg_port = free_port(), free_port()
        store = tmp_path / "airlock.db"
        config = up_config(
            tmp_path / "airlock.toml", store_url, database, api_port=api_port, pg_port=pg_port,
            gateway={"shutdown_timeout": f"{TIMEOUT_S:g}s"},
        )  # fmt: skip
        yield Gateway(tmp_path, config, pg_port, store, store_url)


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


class Psql:
    """An interactive psql on the gateway: statements go in on stdin, its messages (verbose:
    with the SQLSTATE) come out on stderr."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.err: list[str] = []
        self.marks = 0

    @classmethod
    async def open(cls, port: int, token: str) -> Psql:
        proc = await asyncio.create_subprocess_exec(
            "psql", "-X", "-q", "-v", "VERBOSITY=verbose",
            f"host=127.0.0.1 port={port} dbname=pg-prod user=alice sslmode=disable",
            env={**os.environ, "PGPASSWORD": token},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        psql = cls(proc)
        await psql.run("SELECT 'connected';")
        return psql

    async def send(self, sql: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{sql}\n".encode())
        await self.proc.stdin.drain()

    async def run(self, sql: str) -> None:
        """Send ``sql`` and wait until it was answered (a marker query after it was)."""
        assert self.proc.stdout is not None
        self.marks += 1
        mark = f"answered-{self.marks}"
        await self.send(f"{sql}\nSELECT '{mark}';")
        async with asyncio.timeout(30):
            while mark not in (line := (await self.proc.stdout.readline()).decode()):
                assert line, f"psql ended: {self.err}"

    async def until_err(self, wanted: str) -> None:
        assert self.proc.stderr is not None
        async with asyncio.timeout(30):
            while not any(wanted in line for line in self.err):
                line = (await self.proc.stderr.readline()).decode()
                assert line, f"psql ended without {wanted!r}: {self.err}"
                self.err.append(line.rstrip("\n"))

    async def finish(self) -> str:
        """Close its input (an idle psql then tries one more statement; one whose connection
        was lost during a statement has exited already) and return all it said on stderr."""
        assert self.proc.stdin is not None
        with contextlib.suppress(ConnectionError):
            await self.send("SELECT 1;")
            self.proc.stdin.close()
        _, err = await asyncio.wait_for(self.proc.communicate(), 30)
        return "\n".join([*self.err, err.decode()])


@contextmanager
def store_locked(store: Path) -> Iterator[sqlite3.Connection]:
    """Another process's hold of the store's write lock (as a backup tool or a stuck
    `airlock` command would take it)."""
    other = sqlite3.connect(store, isolation_level=None, timeout=5)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield other
    finally:
        other.execute("ROLLBACK")
        other.close()


async def sigterm(proc: asyncio.subprocess.Process) -> tuple[float, str]:
    """SIGTERM; seconds until the process exited, and what it said on stderr."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    return time.monotonic() - started, err.decode()


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


def _statements(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        item
        for event in events
        if event["action"] == "statements"
        for item in expand(event["details"], datetime.fromisoformat(event["at"]))
    ]


async def restart_and_check_trail(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> list[dict[str, Any]]:
    """Start the gateway again on the released store (it replays its journal before it
    listens), stop it cleanly, and return the audit trail's statements after `airlock audit
    verify` passed."""
    assert list((gw.tmp_path / "airlock-journal").glob("*.journal")), "the journal was kept"
    proc = await gw.start()
    try:
        _, err = await sigterm(proc)
        assert proc.returncode == 0, err
    finally:
        await _kill(proc)
    assert any("replayed" in line and "unconfirmed statements" in line for line in gw.lines)
    verified = await airlock_in_thread(capsys, "audit", "verify", "--config", str(gw.config))
    assert verified.code == 0, verified.out + verified.err
    exported = await airlock_in_thread(
        capsys, "audit", "export", "--format", "jsonl", "--config", str(gw.config)
    )
    assert exported.code == 0
    return _statements([json.loads(line) for line in exported.out.splitlines()])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_stuck_store_idle_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store: str
) -> None:
    """Store locked by another process, an idle psql session whose last UPDATE ran after the
    lock was taken: SIGTERM ends the process within shutdown_timeout, exit 75, naming the
    session whose end it could not record; psql was told 57P01. After the release and a
    restart the UPDATE is in the audit trail (outcome unknown, from the journal) and the chain
    verifies."""
    async with gateway(tmp_path, store) as gw:
        proc = await gw.start()
        try:
            psql = await Psql.open(gw.pg_port, await gw.token())
            async with gw.locked():
                await psql.run(RAN_TEXT)  # runs upstream, unrecorded so far
                await asyncio.sleep(0.3)
                took, err = await sigterm(proc)
            said = await psql.finish()
        finally:
            await _kill(proc)
        with capsys.disabled():
            print(f"stuck {store} store, idle session: exit {proc.returncode} after {took:.2f}s")
        assert took < TIMEOUT_S + MARGIN_S, err
        assert proc.returncode == EXIT_UNRECORDED, err
        assert "1 PostgreSQL sessions could not record their end in time" in err
        assert FATAL in said
        statements = await restart_and_check_trail(gw, capsys)
    ran = [s for s in statements if s["statement"] == RAN_TEXT]
    assert len(ran) == 1, statements
    assert (ran[0]["outcome"], ran[0]["error"]) == ("unknown", UNKNOWN_ERROR)


@pytest.mark.timeout(300)
async def test_stuck_store_held_statement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A statement held for review, then the store locked by another process and an UPDATE run
    in a second session: SIGTERM ends the process within shutdown_timeout, exit 75, naming the
    review it could not cancel; the held client got 57P01. The UPDATE reaches the trail at the
    next start, and the chain verifies."""
    async with gateway(tmp_path) as gw:
        proc = await gw.start()
        try:
            token = await gw.token()
            held = await Psql.open(gw.pg_port, token)
            await held.send("DROP TABLE victim;")
            await held.until_err("held for approval")
            other = await Psql.open(gw.pg_port, token)
            async with gw.locked():
                await other.run(RAN_TEXT)
                await asyncio.sleep(0.3)
                took, err = await sigterm(proc)
            said = await held.finish()
            await other.finish()
        finally:
            await _kill(proc)
        with capsys.disabled():
            print(f"stuck store, held statement: exit {proc.returncode} after {took:.2f}s")
        assert took < TIMEOUT_S + MARGIN_S, err
        assert proc.returncode == EXIT_UNRECORDED, err
        assert "1 held statements' reviews could not be cancelled in time" in err
        assert FATAL in said
        statements = await restart_and_check_trail(gw, capsys)
    assert [s["statement"] for s in statements].count(RAN_TEXT) == 1, statements


@pytest.mark.timeout(300)
async def test_free_store_clean_shutdown(tmp_path: Path) -> None:
    """With the store free, SIGTERM with an idle session and a held statement: both clients
    get FATAL 57P01, the review is cancelled, both sessions' ends are recorded, and the process
    exits 0, well within the deadline."""
    async with gateway(tmp_path) as gw:
        proc = await gw.start()
        try:
            token = await gw.token()
            idle = await Psql.open(gw.pg_port, token)
            await idle.run(RAN_TEXT)
            held = await Psql.open(gw.pg_port, token)
            await held.send("DROP TABLE victim;")
            await held.until_err("held for approval")
            took, err = await sigterm(proc)
            said_idle, said_held = await idle.finish(), await held.finish()
        finally:
            await _kill(proc)
        print(f"free store: exit {proc.returncode} after {took:.2f}s")
        assert proc.returncode == 0, err
        assert took < TIMEOUT_S, err
        assert FATAL in said_idle
        assert FATAL in said_held
        with sqlite3.connect(gw.store) as db:
            reviews = db.execute("SELECT state, cancel_reason FROM review").fetchall()
            ends = db.execute("SELECT ended_at FROM session").fetchall()
        assert reviews == [
            ("cancelled", "the gateway holding it shut down; the statement never ran")
        ]
        assert len(ends) == 2 and all(end is not None for (end,) in ends)


def test_shutdown_timeout_setting(tmp_path: Path) -> None:
    """`[gateway] shutdown_timeout` is 20 s unless set; a duration; zero is refused."""
    path = tmp_path / "airlock.toml"
    path.write_text("", encoding="utf-8")
    assert load_settings(path).gateway.shutdown_timeout.total_seconds() == 20
    path.write_text('[gateway]\nshutdown_timeout = "1500ms"\n', encoding="utf-8")
    assert load_settings(path).gateway.shutdown_timeout.total_seconds() == 1.5
    path.write_text('[gateway]\nshutdown_timeout = "0s"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="shutdown_timeout"):
        load_settings(path)
    assert main(["token", "create", "--subject", "a", "--config", str(path)]) == 2
