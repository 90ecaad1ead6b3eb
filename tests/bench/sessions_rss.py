"""Gateway memory per session: RSS after rounds of sessions opened and closed, and per idle session.

Run:  .venv/bin/python -m tests.bench.sessions_rss [--sessions 1000] [--rounds 4] [--open 1000]
(not a test; needs the local PostgreSQL binaries, and PostgreSQL at 127.0.0.1:5432 with trust
auth unless ``--private-pg``).

What it does:
1. with ``--private-pg`` (the default when ``--open`` needs more connections than the local
   server's ``max_connections`` leaves), starts a throw-away PostgreSQL cluster (initdb, as the
   ``postgres`` user when we are root) on a free port with ``max_connections`` above ``--open``,
   else uses 127.0.0.1:5432; creates the database ``airlock_rss`` there;
2. starts ``airlock up`` as a subprocess on free ports (temp SQLite store, one ``pg-rss``
   connection, default guardrails, masking on; ``--gateway KEY=VALUE`` adds ``[gateway]`` keys,
   e.g. ``--gateway max_sessions_per_identity=2000``: every session is one identity's, and the
   default cap of 100 per identity would refuse the idle ones) and mints a token with
   ``airlock token create``;
3. prints the gateway's RSS (``VmRSS`` of /proc/PID/status) once started, after a warm-up of
   ``--concurrency`` sessions, then after each of ``--rounds`` rounds in which ``--sessions``
   sessions are opened (asyncpg), run ``SELECT 1`` and one masked SELECT, and are closed,
   ``--concurrency`` at a time; the RSS is read ``--settle`` seconds after each round (the
   audit writer and the guard's usage flush have run by then);
4. ``--idle-rounds`` times: opens ``--open`` sessions and keeps them open and idle: prints the
   RSS with them open, the difference over the RSS before, per session (KiB), then the RSS
   once they are closed (a second round shows whether closing them kept anything);
5. with ``--trim``, asks the gateway's C allocator to give back what it holds free
   (``malloc_trim(0)`` called in the process through ``gdb -p``) and prints the RSS after: what
   that returns was freed memory glibc kept, not objects the gateway still holds;
6. stops the gateway and the private cluster (or drops the database), also on Ctrl-C.

Exit status 0 when every session ran; 2 when the benchmark could not run (the reason printed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from tests.bench.benchkit import BenchError, free_port
from tests.bench.pg_bench import clean_env

REPO = Path(__file__).resolve().parents[2]
DATABASE = "airlock_rss"
CONNECTION = "pg-rss"
PASSWORD_ENV = "AIRLOCK_RSS_UPSTREAM_PASSWORD"
SCHEMA = "CREATE TABLE IF NOT EXISTS people (id int PRIMARY KEY, name text, ssn text)"
ROWS = "INSERT INTO people VALUES (1, 'a', '078-05-1121') ON CONFLICT DO NOTHING"


def rss_mib(pid: int) -> float:
    return int(status_field(pid, "VmRSS")) / 1024


def threads(pid: int) -> int:
    """The process's threads: each aiosqlite connection runs one, and glibc gives threads
    their own malloc arenas, which keep what was freed in them."""
    return int(status_field(pid, "Threads"))


def trim(pid: int) -> float:
    """RSS after ``malloc_trim(0)`` ran in the process (through gdb)."""
    gdb = shutil.which("gdb")
    if gdb is None:
        raise BenchError("--trim needs gdb")
    subprocess.run(
        [gdb, "-p", str(pid), "-batch", "-ex", "call (int) malloc_trim(0)"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return rss_mib(pid)


def status_field(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{name}:"):
                return line.split()[1]
    raise BenchError(f"no {name} in /proc/{pid}/status")


def wait_port(port: int, popen: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise BenchError(f"{what} exited ({popen.returncode}):\n{tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise BenchError(f"{what} is not listening on {port}:\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def stop(popen: subprocess.Popen[bytes]) -> None:
    if popen.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        popen.send_signal(signal.SIGTERM)
    try:
        popen.wait(timeout=30)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(timeout=5)


# -- the upstream -------------------------------------------------------------------------------


@contextlib.contextmanager
def private_cluster(workdir: Path, max_connections: int) -> Iterator[int]:
    """A throw-away PostgreSQL cluster (trust auth) on a free port; yields the port."""
    data = workdir / "pgdata"
    data.mkdir()
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        user = pwd.getpwnam("postgres")
        os.chown(workdir, user.pw_uid, user.pw_gid)
        os.chown(data, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    initdb = shutil.which("initdb") or "initdb"
    pg_ctl = shutil.which("pg_ctl") or "pg_ctl"
    subprocess.run(
        [*run_as, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    port = free_port()
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={workdir} "
        f"-c max_connections={max_connections} -c shared_buffers=32MB -c fsync=off"
    )
    log = workdir / "postgres.log"
    subprocess.run(
        [*run_as, pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    try:
        yield port
    finally:
        subprocess.run(
            [*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            check=False, capture_output=True, timeout=60,
        )  # fmt: skip


async def prepare_database(port: int) -> int:
    """Create the benchmark's database and table; the server's max_connections."""
    admin = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres")
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {DATABASE}")
        limit = int(await admin.fetchval("SHOW max_connections"))
    finally:
        await admin.close()
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database=DATABASE)
    try:
        await conn.execute(SCHEMA)
        await conn.execute(ROWS)
    finally:
        await conn.close()
    return limit


async def drop_database(port: int) -> None:
    with contextlib.suppress(Exception):
        admin = await asyncpg.connect(
            host="127.0.0.1", port=port, user="postgres", database="postgres"
        )
        await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await admin.close()


# -- the gateway --------------------------------------------------------------------------------


def airlock_config(api_port: int, pg_port: int, upstream: int, store: Path, extra: str) -> str:
    return f"""\
[store]
url = "sqlite+aiosqlite:///{store}"

[gateway]
{extra}

[api]
listen = "127.0.0.1:{api_port}"

[listeners]
postgres = "127.0.0.1:{pg_port}"

[[connections]]
name = "{CONNECTION}"
type = "postgres"
upstream = "127.0.0.1:{upstream}"
database = "{DATABASE}"
username = "postgres"
password_env = "{PASSWORD_ENV}"
upstream_tls = "disable"
access = "standing"
allow_groups = ["eng"]
approvers = {{ groups = ["dba"], quorum = 1 }}
guardrails = "default"
masking = {{ columns = ["ssn"], detectors = ["credit_card", "email"] }}
"""


def airlock_command() -> list[str]:
    for candidate in (Path(sys.executable).parent / "airlock", REPO / ".venv" / "bin" / "airlock"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    raise BenchError("no airlock command: run `make venv` first")


def start_airlock(
    workdir: Path, upstream: int, extra: str
) -> tuple[subprocess.Popen[bytes], int, str]:
    api_port, pg_port = free_port(), free_port()
    config = workdir / "airlock.toml"
    config.write_text(airlock_config(api_port, pg_port, upstream, workdir / "airlock.db", extra))
    env = clean_env(**{PASSWORD_ENV: "unused-with-trust-auth", "PYTHONUNBUFFERED": "1"})
    log = workdir / "airlock.log"
    cmd = airlock_command()
    popen = subprocess.Popen(
        [*cmd, "up", "--config", str(config)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        cwd=workdir, env=env, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        if popen.poll() is not None:
            raise BenchError(f"airlock up exited ({popen.returncode}):\n{tail(log)}")
        with contextlib.suppress(OSError, urllib.error.URLError):
            url = f"http://127.0.0.1:{api_port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    break
        if time.monotonic() > deadline:
            raise BenchError(f"airlock did not become healthy:\n{tail(log)}")
        time.sleep(0.1)
    wait_port(pg_port, popen, "airlock", log)
    minted = subprocess.run(
        [*cmd, "token", "create", "--config", str(config), "--subject", "rss@example.com",
         "--groups", "eng", "--ttl", "8h"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    lines = minted.stdout.strip().splitlines()
    if minted.returncode != 0 or not lines:
        raise BenchError(f"airlock token create failed: {minted.stderr or minted.stdout}")
    return popen, pg_port, lines[-1].strip()


# -- the sessions -------------------------------------------------------------------------------


async def session(port: int, token: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(
        host="127.0.0.1", port=port, user="rss", database=CONNECTION, password=token, ssl=False
    )
    await conn.fetchval("SELECT 1")
    await conn.fetch("SELECT id, name, ssn FROM people")
    return conn


async def cycle(port: int, token: str, sessions: int, concurrency: int) -> None:
    """Open, use and close ``sessions`` sessions, ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            conn = await session(port, token)
            await conn.close()

    await asyncio.gather(*(one() for _ in range(sessions)))


async def idle(port: int, token: str, count: int, pid: int, settle: float) -> tuple[float, float]:
    """RSS with ``count`` sessions open and idle, and once they are closed."""
    gate = asyncio.Semaphore(50)

    async def one() -> asyncpg.Connection:
        async with gate:
            return await session(port, token)

    conns = await asyncio.gather(*(one() for _ in range(count)))
    await asyncio.sleep(settle)
    open_rss = rss_mib(pid)
    await asyncio.gather(*(c.close() for c in conns))
    await asyncio.sleep(settle)
    return open_rss, rss_mib(pid)


async def measure(args: argparse.Namespace, port: int, token: str, pid: int) -> None:
    print(f"gateway pid {pid}; RSS at start: {rss_mib(pid):.1f} MiB", flush=True)
    await cycle(port, token, args.concurrency, args.concurrency)
    await asyncio.sleep(args.settle)
    print(f"after a warm-up of {args.concurrency} sessions: {rss_mib(pid):.1f} MiB", flush=True)
    for n in range(1, args.rounds + 1):
        started = time.monotonic()
        await cycle(port, token, args.sessions, args.concurrency)
        took = time.monotonic() - started
        await asyncio.sleep(args.settle)
        print(
            f"round {n}: {args.sessions} sessions opened and closed in {took:.1f} s; "
            f"RSS {rss_mib(pid):.1f} MiB ({threads(pid)} threads)",
            flush=True,
        )
    for n in range(1, args.idle_rounds + 1 if args.open else 1):
        before = rss_mib(pid)
        open_rss, closed_rss = await idle(port, token, args.open, pid, args.settle)
        per = (open_rss - before) * 1024 / args.open
        print(
            f"idle {n}: RSS {before:.1f} MiB before, {open_rss:.1f} MiB with {args.open} "
            f"sessions open ({per:.0f} KiB per session), {closed_rss:.1f} MiB once they closed "
            f"({threads(pid)} threads)",
            flush=True,
        )
    if args.trim:
        before = rss_mib(pid)
        print(f"malloc_trim(0): RSS {before:.1f} MiB before, {trim(pid):.1f} MiB after", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000, help="sessions per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=50, help="sessions open at once")
    parser.add_argument("--open", type=int, default=1000, help="idle sessions held open at once")
    parser.add_argument("--idle-rounds", type=int, default=2)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before reading RSS")
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) at the end (gdb)")
    parser.add_argument("--private-pg", action="store_true", help="a throw-away cluster")
    parser.add_argument(
        "--gateway", action="append", default=[], metavar="KEY=VALUE", help="a [gateway] key"
    )
    args = parser.parse_args()
    extra = "\n".join(args.gateway)
    with tempfile.TemporaryDirectory(prefix="airlock-rss-") as tmp:
        workdir = Path(tmp)
        try:
            with contextlib.ExitStack() as stack:
                port = 5432
                if args.private_pg:
                    port = stack.enter_context(private_cluster(workdir, args.open + 50))
                limit = asyncio.run(prepare_database(port))
                stack.callback(lambda: asyncio.run(drop_database(port)))
                if max(args.open, args.concurrency) > limit - 10:
                    raise BenchError(
                        f"the upstream allows {limit} connections: use --private-pg, or less "
                        "--open / --concurrency"
                    )
                gateway_dir = workdir / "gateway"
                gateway_dir.mkdir()
                popen, pg_port, token = start_airlock(gateway_dir, port, extra)
                stack.callback(stop, popen)
                asyncio.run(measure(args, pg_port, token, popen.pid))
        except (BenchError, subprocess.CalledProcessError, OSError) as exc:
            print(f"sessions_rss: cannot run: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
