"""MySQL gateway benchmark: sysbench point selects, MariaDB directly vs HAProxy vs Airlock.

Run:  .venv/bin/python tests/bench/mysql_bench.py [--seconds N] [--rounds R] [--quick] [--pump]
      [--baseline DIR]
(not a test; needs the local MariaDB at 127.0.0.1:3306 with root and no password, and the
Debian packages ``sysbench`` and ``haproxy``: ``apt-get install -y sysbench haproxy``).

What it does:
1. creates the ``airlock_bench`` database and a user ``airlock_bench`` (mysql_native_password)
   and runs ``sysbench oltp_point_select prepare`` on it, directly;
2. starts HAProxy in TCP mode on a free port (a C proxy that reads nothing: the floor for any
   proxy);
3. starts ``airlock up`` as a subprocess on free ports with a temp SQLite store and one
   ``mysql-bench`` connection (default guardrails, masking on, audit on), mints a token with
   ``airlock token create``;
4. for each case (text / prepared protocol x 1 / 8 clients) runs ``sysbench
   oltp_point_select`` (one point select per transaction) against direct, HAProxy and Airlock
   interleaved, R rounds, and takes the median tps; Airlock's CPU time per transaction from
   /proc; with ``--pump``, also a bare Python byte pump (tests/bench/byte_pump.py: uvloop, no
   parsing), the ceiling of any Python relay here; with ``--baseline DIR``, also the Airlock of
   another checkout (DIR/.venv/bin/airlock, e.g. a ``git worktree`` of the commit before a
   change), interleaved, and the two compared round by round (tests/bench/benchkit.py);
5. checks that every run served transactions with no errors, that Airlock refused nothing, and
   that every statement its sessions counted has its record in the audit trail; prints the
   table and whether Airlock is >= 0.8x HAProxy everywhere;
6. stops HAProxy and Airlock and drops the database and the user, also on Ctrl-C.

Exit status: 0 when Airlock is >= 0.8x HAProxy on every case and refused nothing, 1 when it is
not, 2 when the benchmark could not run (the reason is printed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
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
    free_port,
    print_before_after,
    start_airlock,
    start_pump,
    wait_for_port,
)
from tests.harness import config_toml

MY_HOST, MY_PORT = "127.0.0.1", 3306
BENCH_DB = "airlock_bench"
BENCH_USER = "airlock_bench"
CONNECTION = "mysql-bench"
SUBJECT = "bench@example.com"
PASSWORD_ENV = "AIRLOCK_BENCH_UPSTREAM_PASSWORD"
TARGET_RATIO = 0.8
PUMP = "pump"
BASELINE = "baseline"
CASES = [  # (protocol, clients)
    ("text", 1),
    ("text", 8),
    ("prepared", 1),
    ("prepared", 8),
]
TABLE_SIZE = 100_000


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without MySQL client and Airlock overrides that could change a run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MYSQL", "AIRLOCK_"))}
    env.update(extra)
    return env


def check_prerequisites() -> tuple[str, str, str]:
    found = {name: shutil.which(name) for name in ("sysbench", "haproxy", "mariadb")}
    found["haproxy"] = found["haproxy"] or next(
        (p for p in ("/usr/sbin/haproxy",) if os.access(p, os.X_OK)), None
    )
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise BenchError(
            f"missing {', '.join(missing)}: apt-get install -y sysbench haproxy mariadb-client"
        )
    return found["sysbench"] or "", found["haproxy"] or "", found["mariadb"] or ""


def mariadb_root(client: str, sql: str) -> str:
    proc = subprocess.run(
        [client, "--protocol=tcp", "-h", MY_HOST, "-P", str(MY_PORT), "-uroot", "-N", "-B",
         "-e", sql],
        env=clean_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise BenchError(f"mariadb failed ({sql!r}): {proc.stderr.strip()}")
    return proc.stdout


def start_haproxy(binary: str, workdir: Path) -> tuple[Proc, int]:
    """HAProxy in TCP mode in front of MariaDB: bytes through, nothing read."""
    port = free_port()
    cfg = workdir / "haproxy.cfg"
    cfg.write_text(
        "\n".join(
            [
                "global",
                "    maxconn 1000",
                "defaults",
                "    mode tcp",
                "    timeout connect 5s",
                "    timeout client 1h",
                "    timeout server 1h",
                "listen mariadb",
                f"    bind 127.0.0.1:{port}",
                f"    server db {MY_HOST}:{MY_PORT}",
                "",
            ]
        )
    )
    log = workdir / "haproxy.log"
    popen = subprocess.Popen(
        [binary, "-db", "-f", str(cfg)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=clean_env(), start_new_session=True,
    )  # fmt: skip
    proc = Proc("haproxy", popen, log)
    wait_for_port(proc, port)
    return proc, port


def airlock_config(api_port: int, port: int, store: Path) -> str:
    connection = {
        "name": CONNECTION, "type": "mysql", "upstream": f"{MY_HOST}:{MY_PORT}",
        "database": BENCH_DB, "username": BENCH_USER, "password_env": PASSWORD_ENV,
        "upstream_tls": "disable", "access": "standing", "allow_groups": ["eng"],
        "approvers": {"groups": ["dba"], "quorum": 1}, "review_timeout": "30s",
        "guardrails": "default",
        "masking": {"columns": ["ssn"], "detectors": ["credit_card", "email"]},
    }  # fmt: skip
    return config_toml(
        f"sqlite+aiosqlite:///{store}",
        api_port=api_port,
        pg_port=free_port(),
        listeners={"mysql": f"127.0.0.1:{port}"},
        connections=[connection],
    )


@dataclass
class Target:
    name: str
    port: int
    user: str
    database: str
    password: str


@dataclass
class Run:
    tps: float
    transactions: int
    cpu_us: float | None = None


_TPS = re.compile(r"transactions:\s+(\d+)\s+\(([0-9.]+) per sec\.\)")
_ERRORS = re.compile(r"ignored errors:\s+(\d+)")


def sysbench_run(sysbench: str, target: Target, protocol: str, clients: int, seconds: int) -> Run:
    cmd = [sysbench, "oltp_point_select", "--db-driver=mysql", f"--mysql-host={MY_HOST}",
           f"--mysql-port={target.port}", f"--mysql-user={target.user}",
           f"--mysql-password={target.password}", f"--mysql-db={target.database}",
           "--mysql-ssl=off", "--tables=1", f"--table-size={TABLE_SIZE}", "--point_selects=1",
           "--db-ps-mode=" + ("auto" if protocol == "prepared" else "disable"),
           f"--threads={clients}", f"--time={seconds}", "--report-interval=0", "run"]  # fmt: skip
    # libmariadb loads an authentication plugin on first use, and two threads connecting at
    # once may both try (the second fails: "Plugin mysql_clear_password could not be loaded:
    # it is already loaded"); Airlock asks for that plugin on loopback, so it is loaded at
    # the library's start (docs/mysql.md, "Client flags").
    env = clean_env(LIBMYSQL_PLUGINS="mysql_clear_password")
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    where = f"sysbench {protocol} --threads={clients} against {target.name}"
    out = proc.stdout + proc.stderr
    tps, errors = _TPS.search(out), _ERRORS.search(out)
    if proc.returncode != 0 or tps is None:
        raise BenchError(f"{where} failed ({proc.returncode}):\n{out.strip()[-2000:]}")
    if errors is not None and int(errors.group(1)) != 0:
        raise BenchError(f"{where}: {errors.group(1)} errors:\n{out.strip()[-2000:]}")
    if int(tps.group(1)) <= 0:
        raise BenchError(f"{where} served no transactions:\n{out.strip()[-2000:]}")
    return Run(float(tps.group(2)), int(tps.group(1)))


def prepare(sysbench: str, client: str, password: str) -> None:
    mariadb_root(client, f"DROP DATABASE IF EXISTS {BENCH_DB}")
    mariadb_root(client, f"DROP USER IF EXISTS '{BENCH_USER}'@'%'")
    mariadb_root(client, f"CREATE DATABASE {BENCH_DB}")
    mariadb_root(
        client,
        f"CREATE USER '{BENCH_USER}'@'%' IDENTIFIED VIA mysql_native_password "
        f"USING PASSWORD('{password}'); GRANT ALL ON {BENCH_DB}.* TO '{BENCH_USER}'@'%'",
    )
    init = subprocess.run(
        [sysbench, "oltp_point_select", "--db-driver=mysql", f"--mysql-host={MY_HOST}",
         f"--mysql-port={MY_PORT}", f"--mysql-user={BENCH_USER}", f"--mysql-password={password}",
         f"--mysql-db={BENCH_DB}", "--mysql-ssl=off", "--tables=1",
         f"--table-size={TABLE_SIZE}", "prepare"],
        env=clean_env(), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if init.returncode != 0:
        raise BenchError(f"sysbench prepare failed:\n{init.stdout[-1000:]}{init.stderr}")


def run_cases(
    sysbench: str,
    targets: dict[str, Target],
    pids: dict[str, int],
    rounds: int,
    seconds: int,
) -> tuple[dict[tuple[str, int], dict[str, list[Run]]], int]:
    """Every case, every round, every target in turn (``pids``: the Airlocks', whose CPU time
    is measured); this checkout's Airlock's transactions in all."""
    results: dict[tuple[str, int], dict[str, list[Run]]] = {}
    served = 0
    for protocol, clients in CASES:
        per_target: dict[str, list[Run]] = {name: [] for name in targets}
        for rnd in range(rounds):
            for name, target in targets.items():
                pid = pids.get(name)
                used = cpu_seconds(pid) if pid is not None else 0.0
                run = sysbench_run(sysbench, target, protocol, clients, seconds)
                if pid is not None:
                    run.cpu_us = (cpu_seconds(pid) - used) / run.transactions * 1e6
                if name == "airlock":
                    served += run.transactions
                per_target[name].append(run)
                cpu = f"  {run.cpu_us:6.1f} CPU µs/xact" if run.cpu_us is not None else ""
                print(f"  {protocol:8} c={clients} round {rnd + 1}/{rounds} {name:8} "
                      f"{run.tps:>10,.0f} tps  {run.transactions:>8} xacts{cpu}",
                      flush=True)  # fmt: skip
        results[(protocol, clients)] = per_target
    return results, served


def report(results: dict[tuple[str, int], dict[str, list[Run]]]) -> bool:
    header = (f"{'case':<14} {'direct tps':>11} {'haproxy tps':>12} {'airlock tps':>12} "
              f"{'airlock/hap':>12} {'airlock/direct':>15} {'CPU µs/xact':>12}")  # fmt: skip
    print()
    print(header)
    print("-" * len(header))
    all_ok = True
    for (protocol, clients), per_target in results.items():
        med = {name: statistics.median(r.tps for r in runs) for name, runs in per_target.items()}
        cpu = statistics.median(r.cpu_us or 0.0 for r in per_target["airlock"])
        ratio = med["airlock"] / med["haproxy"]
        all_ok &= ratio >= TARGET_RATIO
        flag = "" if ratio >= TARGET_RATIO else f"  < {TARGET_RATIO}"
        print(f"{protocol + ' c=' + str(clients):<14} {med['direct']:>11,.0f} "
              f"{med['haproxy']:>12,.0f} {med['airlock']:>12,.0f} {ratio:>11.2f}x "
              f"{med['airlock'] / med['direct']:>14.2f}x {cpu:>12.1f}{flag}")  # fmt: skip
        if PUMP in med:
            print(f"{'':<14} byte pump {med[PUMP]:,.0f} tps = {med[PUMP] / med['haproxy']:.2f}x "
                  f"HAProxy; Airlock = {med['airlock'] / med[PUMP]:.2f}x the pump")  # fmt: skip
    return all_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=None, help="seconds per run (default 10)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per case (default 3)")
    parser.add_argument("--quick", action="store_true", help="1 round of 5 s per case")
    parser.add_argument(
        "--pump", action="store_true", help="also measure a bare Python byte pump (the ceiling)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another checkout whose .venv/bin/airlock runs as the target 'baseline'",
    )
    args = parser.parse_args(argv)
    seconds = args.seconds or (5 if args.quick else 10)
    baseline_cmd: list[str] | None = None
    if args.baseline is not None:
        binary = args.baseline.resolve() / ".venv" / "bin" / "airlock"
        if not binary.is_file():
            print(f"mysql_bench: no {binary}", file=sys.stderr)
            return 2
        baseline_cmd = [str(binary)]
    rounds = args.rounds or (1 if args.quick else 3)
    try:
        sysbench, haproxy, client = check_prerequisites()
    except BenchError as exc:
        print(f"mysql_bench: {exc}", file=sys.stderr)
        return 2

    def _interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    procs: list[Proc] = []
    password = secrets.token_urlsafe(16)
    workdir = Path(tempfile.mkdtemp(prefix="airlock-mysql-bench-"))
    try:
        version = mariadb_root(client, "SELECT VERSION()").strip()
        print(f"MariaDB {version} at {MY_HOST}:{MY_PORT}; {os.cpu_count()} CPUs; {rounds} "
              f"round(s) of {seconds} s per target and case, interleaved")  # fmt: skip
        prepare(sysbench, client, password)
        hap, hap_port = start_haproxy(haproxy, workdir)
        procs.append(hap)
        env = clean_env(**{PASSWORD_ENV: password, "PYTHONUNBUFFERED": "1"})
        airlock = start_airlock(workdir, airlock_config, env=env, subject=SUBJECT)
        procs.append(airlock.proc)
        print(f"HAProxy pid {hap.popen.pid} on :{hap_port} (TCP mode); Airlock pid "
              f"{airlock.proc.popen.pid} on :{airlock.port} (connection {CONNECTION}, default "
              "guardrails, masking on, audit on)")  # fmt: skip
        targets = {
            "direct": Target("direct", MY_PORT, BENCH_USER, BENCH_DB, password),
            "haproxy": Target("haproxy", hap_port, BENCH_USER, BENCH_DB, password),
            "airlock": Target("airlock", airlock.port, SUBJECT, CONNECTION, airlock.token),
        }
        if args.pump:
            pump, pump_port = start_pump(workdir, f"{MY_HOST}:{MY_PORT}")
            procs.append(pump)
            targets[PUMP] = Target(PUMP, pump_port, BENCH_USER, BENCH_DB, password)
            print(f"byte pump pid {pump.popen.pid} on :{pump_port} (no parsing, no inspection)")
        pids = {"airlock": airlock.proc.popen.pid}
        if baseline_cmd is not None:
            base = start_airlock(
                workdir, airlock_config, env=env, subject=SUBJECT, cmd=baseline_cmd, name=BASELINE
            )
            procs.append(base.proc)
            targets[BASELINE] = Target(BASELINE, base.port, SUBJECT, CONNECTION, base.token)
            pids[BASELINE] = base.proc.popen.pid
            print(f"baseline Airlock ({args.baseline}) pid {pids[BASELINE]} on :{base.port}")
        results, served = run_cases(sysbench, targets, pids, rounds, seconds)
        deadline = time.monotonic() + 15
        while True:  # let Airlock write its sessions' last statement batches
            time.sleep(1.0)
            check = check_airlock(airlock.proc, airlock.store, served, CONNECTION)
            if check.audited >= check.statements or time.monotonic() > deadline:
                break
        all_ok = report(results)
        if baseline_cmd is not None:
            print_before_after(results, BASELINE)
        print()
        print(f"Airlock check: {check.store_note}")
        for line in check.log_problems[:10]:
            print(f"    log: {line}")
        verified = (
            not check.log_problems and check.refused == 0 and check.audited >= check.statements
        )
        print(f"Airlock >= {TARGET_RATIO}x HAProxy tps on every case: "
              f"{'YES' if all_ok else 'NO'}"
              + ("" if verified else "  (but Airlock reported problems, see above)"))  # fmt: skip
        return 0 if all_ok and verified else 1
    except BenchError as exc:
        print(f"mysql_bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nmysql_bench: interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in reversed(procs):
            with contextlib.suppress(Exception):
                proc.stop()
        with contextlib.suppress(Exception):
            mariadb_root(client, f"DROP DATABASE IF EXISTS {BENCH_DB}")
            mariadb_root(client, f"DROP USER IF EXISTS '{BENCH_USER}'@'%'")
        shutil.rmtree(workdir, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
