"""PostgreSQL gateway benchmark: pgbench select-only, direct vs PgBouncer vs Airlock.

Run:  .venv/bin/python tests/bench/pg_bench.py [--seconds N] [--rounds R] [--quick]
(not a test; needs the local PostgreSQL at 127.0.0.1:5432 with trust auth, pgbench and the
Debian ``pgbouncer`` package: ``apt-get install -y pgbouncer``).

What it does:
1. creates the ``airlock_bench`` database and runs ``pgbench -i -s 10`` on it, directly;
2. starts PgBouncer (session mode, trust auth, own temp ini + userlist) on a free port;
3. starts ``airlock up`` as a subprocess on free ports with a temp SQLite store and one
   ``pg-bench`` connection (default guardrails, masking on, audit on), mints a token with
   ``airlock token create``;
4. for each case (simple / prepared protocol x 1 / 8 clients) runs ``pgbench -S`` against
   direct, PgBouncer and Airlock interleaved, R rounds, and takes the median tps;
5. checks every run served transactions (exit status, "number of transactions actually
   processed", no failed transactions), that Airlock refused nothing (its log and the session
   stats in its store) and that every statement its sessions counted has its record in the
   audit trail (the ``statements`` events), prints the table and whether Airlock is >= 0.8x
   PgBouncer everywhere;
   with ``--writes``, each transaction is one ``UPDATE pgbench_accounts ... WHERE aid = :aid``
   (a write pinned by its key: in prepared mode the key is a bound parameter) instead of ``-S``;
   with ``--pump``, also a bare Python byte pump (tests/bench/byte_pump.py: uvloop, no parsing)
   as a fourth target: the ceiling of any asyncio relay on the machine;
   with ``--baseline DIR``, also the Airlock of another checkout (DIR/.venv/bin/airlock, e.g. a
   ``git worktree`` of the commit before a change) as the target ``baseline``, interleaved with
   the rest, and a before/after table: each case's medians and their ratio, the geometric mean
   of the rounds' paired ratios (each round runs both, one after the other), and each side's
   own noise (the spread of its rounds, (max - min) / median); a case is worse only when the
   paired ratio lost more than the larger of the two spreads; and each Airlock's own CPU time
   per transaction (from /proc/PID/stat, its threads included), which other work on a shared
   machine moves far less than tps, with the paired difference per round;
6. stops PgBouncer and Airlock and drops the database, also on Ctrl-C.

Exit status: 0 when Airlock is >= 0.8x PgBouncer on every case and refused nothing, 1 when it is
not, 2 when the benchmark could not run (the reason is printed). Running as root, PgBouncer is
started as the ``postgres`` user (it refuses to run as root). The Airlock pid is printed so a
profiler can be attached (``py-spy top --pid PID``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository's `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.benchkit import (
    BenchError,
    Proc,
    check_airlock,
    cpu_seconds,
    fmt_tps,
    free_port,
    print_before_after,
    start_airlock,
    start_pump,
    wait_for_port,
)

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
BENCH_DB = "airlock_bench"
CONNECTION = "pg-bench"
SUBJECT = "bench@example.com"
PASSWORD_ENV = "AIRLOCK_BENCH_UPSTREAM_PASSWORD"
TARGET_RATIO = 0.8

CASES = [  # (protocol, clients, threads)
    ("simple", 1, 1),
    ("simple", 8, 2),
    ("prepared", 1, 1),
    ("prepared", 8, 2),
]
PUMP = "pump"
BASELINE = "baseline"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without libpq and Airlock overrides that could change a run."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PG", "AIRLOCK_")) or k == "PGSSLMODE"
    }
    env["PGSSLMODE"] = "disable"
    env.update(extra)
    return env


# -- prerequisites ---------------------------------------------------------------------------


def find_pgbouncer() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )


def check_prerequisites() -> tuple[str, str, str]:
    missing = []
    pgbench, psql = shutil.which("pgbench"), shutil.which("psql")
    pgbouncer = find_pgbouncer()
    if not pgbench:
        missing.append("pgbench (Debian: apt-get install -y postgresql-client)")
    if not psql:
        missing.append("psql (Debian: apt-get install -y postgresql-client)")
    if not pgbouncer:
        missing.append(
            "pgbouncer — install the Debian package: "
            "sudo apt-get update && sudo apt-get install -y pgbouncer"
        )
    if missing:
        raise BenchError("missing prerequisites:\n  - " + "\n  - ".join(missing))
    assert pgbench and psql and pgbouncer
    return pgbench, psql, pgbouncer


def psql_direct(psql: str, sql: str, database: str = "postgres") -> str:
    proc = subprocess.run(
        [psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", PG_HOST, "-p", str(PG_PORT),
         "-U", PG_USER, "-d", database, "-c", sql],
        env=clean_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise BenchError(f"psql failed ({sql!r}): {proc.stderr.strip()}")
    return proc.stdout


# -- the processes under test ----------------------------------------------------------------


def start_pgbouncer(binary: str, workdir: Path) -> tuple[Proc, int]:
    """PgBouncer in session mode, trust auth, on a free port; as `postgres` when we are root
    (PgBouncer refuses to run as root)."""
    port = free_port()
    bdir = workdir / "pgbouncer"
    bdir.mkdir()
    userlist = bdir / "userlist.txt"
    userlist.write_text(f'"{PG_USER}" ""\n')
    logfile = bdir / "pgbouncer.log"
    ini = bdir / "pgbouncer.ini"
    ini.write_text(
        "\n".join(
            [
                "[databases]",
                f"{BENCH_DB} = host={PG_HOST} port={PG_PORT} dbname={BENCH_DB} user={PG_USER}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {userlist}",
                "pool_mode = session",
                "max_client_conn = 100",
                "default_pool_size = 20",
                "min_pool_size = 0",
                "ignore_startup_parameters = extra_float_digits",
                f"logfile = {logfile}",
                "log_connections = 0",
                "log_disconnections = 0",
                "log_pooler_errors = 1",
                "",
            ]
        )
    )
    uid: int | None = None
    gid: int | None = None
    if os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise BenchError("running as root and no 'postgres' user to run PgBouncer") from exc
        os.chown(bdir, pw.pw_uid, pw.pw_gid)
        for path in (userlist, ini):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        workdir.chmod(0o755)
        uid, gid = pw.pw_uid, pw.pw_gid
    out = (workdir / "pgbouncer.stdout").open("wb")
    popen = subprocess.Popen(
        [binary, "-q", str(ini)],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        cwd=bdir, env=clean_env(), start_new_session=True,
        user=uid, group=gid, extra_groups=[] if uid is not None else None,
    )  # fmt: skip
    proc = Proc("pgbouncer", popen, logfile)
    wait_for_port(proc, port)
    return proc, port


def airlock_config(api_port: int, pg_port: int, store: Path) -> str:
    return f"""\
[store]
url = "sqlite+aiosqlite:///{store}"

[api]
listen = "127.0.0.1:{api_port}"

[listeners]
postgres = "127.0.0.1:{pg_port}"

[[connections]]
name = "{CONNECTION}"
type = "postgres"
upstream = "{PG_HOST}:{PG_PORT}"
database = "{BENCH_DB}"
username = "{PG_USER}"
password_env = "{PASSWORD_ENV}"
upstream_tls = "disable"
access = "standing"
allow_groups = ["eng"]
approvers = {{ groups = ["dba"], quorum = 1 }}
review_timeout = "30s"
guardrails = "default"
masking = {{ columns = ["ssn"], detectors = ["credit_card", "email"] }}
"""


def start_airlock_pg(
    workdir: Path, cmd: list[str] | None = None, name: str = "airlock"
) -> tuple[Proc, int, str, list[str], Path]:
    env = clean_env(**{PASSWORD_ENV: "unused-with-trust-auth", "PYTHONUNBUFFERED": "1"})
    run = start_airlock(workdir, airlock_config, env=env, subject=SUBJECT, cmd=cmd, name=name)
    return run.proc, run.port, run.token, run.cmd, run.store


# -- pgbench ---------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    port: int
    user: str
    database: str
    password: str | None = None


@dataclass
class Run:
    tps: float
    transactions: int
    latency_ms: float | None
    cpu_us: float | None = None  # the gateway process's CPU time per transaction (Airlocks)


_TPS = re.compile(r"^tps = ([0-9.]+) \((?:without|excluding) initial connection", re.M)
_PROCESSED = re.compile(r"^number of transactions actually processed: (\d+)", re.M)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.M)
_LATENCY = re.compile(r"^latency average = ([0-9.]+) ms", re.M)


# --writes: a bounded write per transaction instead of -S (an UPDATE pinned to one account by its
# key: the shape the positive-evidence rule lets run, and the journal records before forwarding).
WRITE_SCRIPT = """\\set aid random(1, {accounts})
UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;
"""
WORKLOAD: list[str] = ["-S"]


def pgbench_run(
    pgbench: str, target: Target, protocol: str, clients: int, threads: int, seconds: int
) -> Run:
    cmd = [pgbench, "-n", *WORKLOAD, "-M", protocol, "-c", str(clients), "-j", str(threads),
           "-T", str(seconds), "-h", "127.0.0.1", "-p", str(target.port), "-U", target.user,
           target.database]  # fmt: skip
    extra = {"PGPASSWORD": target.password} if target.password else {}
    proc = subprocess.run(
        cmd, env=clean_env(**extra), capture_output=True, text=True,
        timeout=seconds + 120, check=False,
    )  # fmt: skip
    where = f"pgbench -M {protocol} -c {clients} against {target.name}"
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise BenchError(f"{where} exited with {proc.returncode}:\n{out.strip()[-2000:]}")
    tps, processed = _TPS.search(out), _PROCESSED.search(out)
    if tps is None or processed is None:
        raise BenchError(f"{where}: cannot read tps / transactions from:\n{out.strip()[-2000:]}")
    failed = _FAILED.search(out)
    if failed is not None and int(failed.group(1)) != 0:
        raise BenchError(f"{where}: {failed.group(1)} failed transactions:\n{out.strip()[-2000:]}")
    if int(processed.group(1)) <= 0 or float(tps.group(1)) <= 0:
        raise BenchError(f"{where} processed no transactions:\n{out.strip()[-2000:]}")
    if re.search(r"aborted|error", proc.stderr, re.IGNORECASE):
        raise BenchError(f"{where} reported errors:\n{proc.stderr.strip()[-2000:]}")
    latency = _LATENCY.search(out)
    return Run(
        float(tps.group(1)), int(processed.group(1)), float(latency.group(1)) if latency else None
    )


# -- verification of Airlock -----------------------------------------------------------------


# -- the run ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    global BENCH_DB, WORKLOAD  # noqa: PLW0603  (read by the helpers that write configs and run)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=None, help="seconds per run (default 10)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per case (default 3)")
    parser.add_argument("--quick", action="store_true", help="1 round of 5 s per case")
    parser.add_argument("--scale", type=int, default=10, help="pgbench -i scale (default 10)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up seconds per target")
    parser.add_argument(
        "--pump", action="store_true", help="also measure a bare Python byte pump (the ceiling)"
    )
    parser.add_argument(
        "--writes",
        action="store_true",
        help="each transaction one UPDATE pinned to an account by its key, instead of -S",
    )
    parser.add_argument(
        "--database",
        default=BENCH_DB,
        help=f"the database it makes and drops (default {BENCH_DB}; another name keeps two "
        "benchmarks on one server out of each other's way)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another checkout (with its .venv) whose Airlock runs beside this one (before/after)",
    )
    args = parser.parse_args(argv)
    BENCH_DB = args.database
    if args.writes:
        script = Path(tempfile.mkdtemp(prefix="pg_bench-")) / "writes.sql"
        script.write_text(WRITE_SCRIPT.format(accounts=100_000 * args.scale), encoding="ascii")
        WORKLOAD = ["-f", str(script)]
    baseline_cmd: list[str] | None = None
    if args.baseline is not None:
        binary = args.baseline.resolve() / ".venv" / "bin" / "airlock"
        if not os.access(binary, os.X_OK):
            print(f"pg_bench: no {binary} (run `make venv` in that checkout)", file=sys.stderr)
            return 2
        baseline_cmd = [str(binary)]
    seconds = args.seconds or (5 if args.quick else 10)
    rounds = args.rounds or (1 if args.quick else 3)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)

    try:
        pgbench, psql, pgbouncer = check_prerequisites()
    except BenchError as exc:
        print(f"pg_bench: {exc}", file=sys.stderr)
        return 2

    # Ctrl-C and SIGTERM both unwind through the finally below.
    def _interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored (`cmd &`)
    signal.signal(signal.SIGTERM, _interrupt)

    procs: list[Proc] = []
    created_db = False
    workdir = Path(tempfile.mkdtemp(prefix="airlock-pg-bench-"))
    try:
        version = psql_direct(psql, "SHOW server_version").strip()
        print(f"PostgreSQL {version} at {PG_HOST}:{PG_PORT}; {os.cpu_count()} CPUs; "
              f"{rounds} round(s) of {seconds} s per target and case, interleaved")  # fmt: skip
        psql_direct(psql, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        psql_direct(psql, f"CREATE DATABASE {BENCH_DB}")
        created_db = True
        init = subprocess.run(
            [pgbench, "-i", "-q", "-s", str(args.scale), "-h", PG_HOST, "-p", str(PG_PORT),
             "-U", PG_USER, BENCH_DB],
            env=clean_env(), capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if init.returncode != 0:
            raise BenchError(f"pgbench -i failed:\n{init.stderr.strip()}")
        print(f"initialised {BENCH_DB} with pgbench -i -s {args.scale}")

        bouncer, bouncer_port = start_pgbouncer(pgbouncer, workdir)
        procs.append(bouncer)
        airlock, airlock_port, token, _, store = start_airlock_pg(workdir)
        procs.append(airlock)
        print(f"PgBouncer pid {bouncer.popen.pid} on :{bouncer_port} (session mode); "
              f"Airlock pid {airlock.popen.pid} on :{airlock_port} (connection {CONNECTION}, "
              "default guardrails, masking on, audit on)")  # fmt: skip

        targets = {
            "direct": Target("direct", PG_PORT, PG_USER, BENCH_DB),
            "pgbouncer": Target("pgbouncer", bouncer_port, PG_USER, BENCH_DB),
            "airlock": Target("airlock", airlock_port, SUBJECT, CONNECTION, token),
        }
        if args.pump:
            pump, pump_port = start_pump(workdir, f"{PG_HOST}:{PG_PORT}")
            procs.append(pump)
            targets[PUMP] = Target(PUMP, pump_port, PG_USER, BENCH_DB)
            print(f"byte pump pid {pump.popen.pid} on :{pump_port} (no parsing, no inspection)")
        if baseline_cmd is not None:
            base, base_port, base_token, _, _ = start_airlock_pg(workdir, baseline_cmd, BASELINE)
            procs.append(base)
            targets[BASELINE] = Target(BASELINE, base_port, SUBJECT, CONNECTION, base_token)
            print(f"baseline Airlock ({args.baseline}) pid {base.popen.pid} on :{base_port}")
        names = tuple(targets)
        pids = {"airlock": airlock.popen.pid}
        if baseline_cmd is not None:
            pids[BASELINE] = base.popen.pid
        results: dict[tuple[str, int], dict[str, list[Run]]] = {}
        airlock_transactions = 0
        if warmup > 0:
            for target in targets.values():
                for protocol in ("simple", "prepared"):
                    run = pgbench_run(pgbench, target, protocol, 8, 2, warmup)
                    if target.name == "airlock":
                        airlock_transactions += run.transactions
        for protocol, clients, threads in CASES:
            per_target: dict[str, list[Run]] = {name: [] for name in names}
            for rnd in range(rounds):
                for name in names:
                    for proc in procs:
                        if not proc.alive():
                            raise BenchError(f"{proc.name} died:\n{proc.tail()}")
                    pid = pids.get(name)
                    used = cpu_seconds(pid) if pid is not None else 0.0
                    run = pgbench_run(pgbench, targets[name], protocol, clients, threads, seconds)
                    if pid is not None:
                        run.cpu_us = (cpu_seconds(pid) - used) / run.transactions * 1e6
                    per_target[name].append(run)
                    if name == "airlock":
                        airlock_transactions += run.transactions
                    label = f"{protocol:8} c={clients} round {rnd + 1}/{rounds} {name:9}"
                    cpu = f"  {run.cpu_us:6.1f} CPU µs/xact" if run.cpu_us is not None else ""
                    print(f"  {label} {fmt_tps(run.tps):>8} tps  {run.transactions:>8} xacts"
                          f"{cpu}", flush=True)  # fmt: skip
            results[(protocol, clients)] = per_target

        # Let Airlock close the last sessions and write their last statement batches.
        deadline = time.monotonic() + 15
        while True:
            time.sleep(1.0)
            check = check_airlock(airlock, store, airlock_transactions, CONNECTION)
            if check.audited >= check.statements or time.monotonic() > deadline:
                break

        print()
        header = (f"{'case':<16} {'direct tps':>11} {'pgbouncer tps':>14} {'airlock tps':>12} "
                  f"{'airlock/pgb':>12} {'airlock/direct':>15} {'added µs/xact':>14}")  # fmt: skip
        print(header)
        print("-" * len(header))
        all_ok = True
        for (protocol, clients), per_target in results.items():
            med = {
                name: statistics.median(r.tps for r in runs) for name, runs in per_target.items()
            }
            ratio_pgb = med["airlock"] / med["pgbouncer"]
            ratio_direct = med["airlock"] / med["direct"]
            added_us = (1 / med["airlock"] - 1 / med["direct"]) * clients * 1e6
            all_ok &= ratio_pgb >= TARGET_RATIO
            flag = "" if ratio_pgb >= TARGET_RATIO else "  < 0.8"
            case = f"{protocol} c={clients}"
            print(f"{case:<16} {fmt_tps(med['direct']):>11} {fmt_tps(med['pgbouncer']):>14} "
                  f"{fmt_tps(med['airlock']):>12} {ratio_pgb:>11.2f}x {ratio_direct:>14.2f}x "
                  f"{added_us:>+13.1f}{flag}")  # fmt: skip
            if PUMP in med:
                pump_ratio = med[PUMP] / med["pgbouncer"]
                print(f"{'':<16} byte pump {fmt_tps(med[PUMP])} tps = {pump_ratio:.2f}x PgBouncer;"
                      f" Airlock = {med['airlock'] / med[PUMP]:.2f}x the pump")  # fmt: skip
        if BASELINE in names:
            print_before_after(results)
        print()
        print(f"Airlock check: {check.store_note}")
        if check.log_problems:
            print(f"Airlock log has {len(check.log_problems)} problem line(s), e.g.:")
            for line in check.log_problems[:10]:
                print(f"    {line}")
        else:
            print("Airlock log: no errors")
        if check.audited < check.statements:
            print(f"Airlock audit trail: {check.statements - check.audited} statements the "
                  "sessions counted have no record in it")  # fmt: skip
        verified = (
            not check.log_problems and check.refused == 0 and check.audited >= check.statements
        )
        verdict = "YES" if all_ok else "NO"
        print(f"Airlock >= {TARGET_RATIO}x PgBouncer tps on every case: {verdict}"
              + ("" if verified else "  (but Airlock reported problems, see above)"))  # fmt: skip
        return 0 if all_ok and verified else 1
    except BenchError as exc:
        print(f"pg_bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\npg_bench: interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in reversed(procs):
            with contextlib.suppress(Exception):
                proc.stop()
        if created_db:
            with contextlib.suppress(Exception):
                psql_direct(psql, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
