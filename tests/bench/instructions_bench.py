"""The gateway's instructions per transaction, counted by callgrind: a number other work on a
shared machine does not move (tps and CPU time do, by 15-50% on the 2-vCPU machine).

Run:  .venv/bin/python tests/bench/instructions_bench.py [--transactions N] [--baseline DIR]
      [--protocol simple|prepared] [--writes]
(not a test; needs valgrind, pgbench and the local PostgreSQL at 127.0.0.1:5432 with trust
auth). For this checkout (and ``DIR``'s, with its own .venv, e.g. a ``git worktree`` of the
commit before a change): starts ``airlock up`` under ``valgrind --tool=callgrind`` with
counting off, warms it up with 300 transactions of pgbench at one client (imports, caches, the
lane's verdicts), turns counting on for N transactions, and prints the instructions the whole
process (every thread) executed per transaction. Everything else (database, config, token) is
pg_bench.py's. A run takes a few minutes: the gateway runs about fifty times slower under
valgrind.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import pg_bench

DATABASE = "airlock_bench_instructions"


def _run_pgbench(port: int, token: str, args: list[str], transactions: int) -> None:
    done = subprocess.run(
        ["pgbench", "-n", "-h", "127.0.0.1", "-p", str(port), "-U", "alice", "-c", "1",
         "-t", str(transactions), *args, pg_bench.CONNECTION],
        env=pg_bench.clean_env(PGPASSWORD=token), capture_output=True, text=True,
        timeout=3600, check=False,
    )  # fmt: skip
    failed = re.search(r"failed transactions: (\d+)", done.stdout)
    if done.returncode != 0 or (failed is not None and failed.group(1) != "0"):
        raise pg_bench.BenchError(f"pgbench failed: {(done.stdout + done.stderr)[-800:]}")


def _callgrind(pid: int, *args: str) -> str:
    done = subprocess.run(
        ["callgrind_control", *args, str(pid)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or "OK" not in done.stdout:  # it exits 0 when it found no run
        raise pg_bench.BenchError(f"callgrind_control {args}: {done.stdout}{done.stderr}")
    return done.stdout


def measure(checkout: Path, workdir: Path, transactions: int, args: list[str]) -> float:
    """Instructions per transaction of ``checkout``'s gateway."""
    airlock = checkout / ".venv" / "bin" / "airlock"
    python = checkout / ".venv" / "bin" / "python"
    adir = workdir / checkout.name
    adir.mkdir()
    api_port, pg_port = pg_bench.free_port(), pg_bench.free_port()
    config = adir / "airlock.toml"
    config.write_text(pg_bench.airlock_config(api_port, pg_port, adir / "airlock.db"))
    out = adir / "callgrind.out"
    env = pg_bench.clean_env(**{pg_bench.PASSWORD_ENV: "unused-with-trust-auth"})
    log = adir / "airlock.log"
    popen = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
         str(python), str(airlock), "up", "--config", str(config)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        cwd=adir, env=env, start_new_session=True,
    )  # fmt: skip
    proc = pg_bench.Proc(checkout.name, popen, log)
    try:
        deadline = time.monotonic() + 600
        while not pg_bench.healthy(f"http://127.0.0.1:{api_port}/healthz"):
            if not proc.alive() or time.monotonic() > deadline:
                raise pg_bench.BenchError(f"airlock did not start:\n{proc.tail()}")
            time.sleep(1)
        pg_bench.wait_for_port(proc, pg_port, timeout=600)
        minted = subprocess.run(
            [str(airlock), "token", "create", "--config", str(config), "--subject",
             pg_bench.SUBJECT, "--groups", "eng", "--ttl", "8h"],
            cwd=adir, env=env, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        token = minted.stdout.strip().splitlines()[-1]
        _run_pgbench(pg_port, token, args, 300)
        _callgrind(popen.pid, "-z")
        _callgrind(popen.pid, "-i", "on")
        _run_pgbench(pg_port, token, args, transactions)
        _callgrind(popen.pid, "-i", "off")
        _callgrind(popen.pid, "-d")
        dump = out.with_name(f"{out.name}.1")  # the dump asked for (written a little later)
        deadline = time.monotonic() + 300
        while (total := _summary(dump)) is None:
            if time.monotonic() > deadline:
                raise pg_bench.BenchError(f"no callgrind dump {dump}")
            time.sleep(1)
    finally:
        proc.stop()
    return total / transactions


def _summary(dump: Path) -> int | None:
    """The instructions a finished callgrind dump counted (None: not there or not finished)."""
    try:
        text = dump.read_text(errors="replace")
    except OSError:
        return None
    found = re.search(r"^totals:\s+(\d+)", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=3000)
    parser.add_argument("--protocol", choices=("simple", "prepared"), default="simple")
    parser.add_argument("--writes", action="store_true", help="pg_bench.py's UPDATE workload")
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout")
    args = parser.parse_args(argv)
    pg_bench.BENCH_DB = DATABASE
    workload = ["-S"]
    with tempfile.TemporaryDirectory(prefix="instructions-") as tmp:
        workdir = Path(tmp)
        if args.writes:
            script = workdir / "writes.sql"
            script.write_text(pg_bench.WRITE_SCRIPT.format(accounts=100_000), encoding="ascii")
            workload = ["-f", str(script)]
        pgbench_args = [*workload, "-M", args.protocol]
        try:
            pg_bench.psql_direct("psql", f'DROP DATABASE IF EXISTS "{DATABASE}"')
            pg_bench.psql_direct("psql", f'CREATE DATABASE "{DATABASE}"')
            subprocess.run(
                ["pgbench", "-i", "-s", "1", "-q", "-h", pg_bench.PG_HOST, "-p",
                 str(pg_bench.PG_PORT), "-U", pg_bench.PG_USER, DATABASE],
                env=pg_bench.clean_env(), capture_output=True, check=True, timeout=300,
            )  # fmt: skip
            checkouts = [Path(__file__).resolve().parents[2]]
            if args.baseline is not None:
                checkouts.insert(0, args.baseline.resolve())
            results = {}
            for checkout in checkouts:
                results[checkout] = measure(checkout, workdir, args.transactions, pgbench_args)
                print(f"{checkout}: {results[checkout]:,.0f} instructions per transaction",
                      flush=True)  # fmt: skip
        except pg_bench.BenchError as exc:
            print(f"instructions_bench: {exc}", file=sys.stderr)
            return 2
        finally:
            pg_bench.psql_direct("psql", f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    if len(checkouts) == 2:
        before, after = results[checkouts[0]], results[checkouts[1]]
        print(f"after - before: {after - before:+,.0f} instructions per transaction "
              f"({after / before:.3f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
