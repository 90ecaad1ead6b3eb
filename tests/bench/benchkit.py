"""What the protocol benchmarks share: starting ``airlock up`` on free ports and minting its
token, watching a process, its CPU time, and reading back from Airlock's store whether every
statement of a run was recorded (not a test; imported by pg_bench.py and mysql_bench.py)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = [
    "LOG_PROBLEM",
    "REPO",
    "AirlockCheck",
    "AirlockRun",
    "BenchError",
    "Proc",
    "check_airlock",
    "cpu_seconds",
    "find_airlock",
    "free_port",
    "healthy",
    "start_airlock",
    "wait_for_port",
]

REPO = Path(__file__).resolve().parents[2]

# Lines in Airlock's output that mean something went wrong for a session.
LOG_PROBLEM = re.compile(
    r"Traceback|\bERROR\b|\bCRITICAL\b|exception|session failed|refus|denied|\bheld\b|blocked",
    re.IGNORECASE,
)


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_airlock() -> list[str]:
    beside = Path(sys.executable).parent / "airlock"
    for candidate in (beside, REPO / ".venv" / "bin" / "airlock"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    found = shutil.which("airlock")
    if found:
        return [found]
    return [sys.executable, "-m", "gateway.cli"]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()
            self.popen.wait(timeout=5)


@dataclass
class AirlockRun:
    """An ``airlock up`` under test: its process, its listener's port, a token for
    ``subject``, the command that ran it and its SQLite store."""

    proc: Proc
    port: int
    token: str
    cmd: list[str]
    store: Path


def start_airlock(
    workdir: Path,
    config_for: Callable[[int, int, Path], str],
    *,
    env: dict[str, str],
    subject: str,
    cmd: list[str] | None = None,
    name: str = "airlock",
) -> AirlockRun:
    """``airlock up`` with ``config_for(api_port, listener_port, store)`` as its airlock.toml,
    once healthy and listening, and a token for ``subject`` (group ``eng``) minted by
    ``airlock token create``."""
    adir = workdir / name
    adir.mkdir()
    api_port, port = free_port(), free_port()
    store = adir / "airlock.db"
    config = adir / "airlock.toml"
    config.write_text(config_for(api_port, port, store))
    cmd = cmd or find_airlock()
    log = adir / "airlock.log"
    popen = subprocess.Popen(
        [*cmd, "up", "--config", str(config)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        cwd=adir, env=env, start_new_session=True,
    )  # fmt: skip
    proc = Proc(name, popen, log)
    api = f"http://127.0.0.1:{api_port}/healthz"
    deadline = time.monotonic() + 60
    while True:
        if not proc.alive():
            raise BenchError(f"airlock up exited ({popen.returncode}):\n{proc.tail()}")
        if healthy(api):
            break
        if time.monotonic() > deadline:
            raise BenchError(f"airlock did not become healthy:\n{proc.tail()}")
        time.sleep(0.1)
    wait_for_port(proc, port)
    token_cmd = [*cmd, "token", "create", "--config", str(config), "--subject", subject,
                 "--groups", "eng", "--ttl", "8h"]  # fmt: skip
    minted = subprocess.run(
        token_cmd, cwd=adir, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    lines = minted.stdout.strip().splitlines()
    if minted.returncode != 0 or not lines:
        raise BenchError(f"airlock token create failed: {minted.stderr.strip() or minted.stdout}")
    return AirlockRun(proc, port, lines[-1].strip(), cmd, store)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def wait_for_port(proc: Proc, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise BenchError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise BenchError(f"{proc.name} is not listening on port {port}:\n{proc.tail()}")


def start_pump(workdir: Path, upstream: str) -> tuple[Proc, int]:
    """A bare byte pump (tests/bench/byte_pump.py: uvloop, no parsing) in front of
    ``upstream`` (host:port): the ceiling of any Python relay on this machine."""
    port = free_port()
    log = workdir / "pump.log"
    popen = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("byte_pump.py")), str(port), upstream],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    proc = Proc("pump", popen, log)
    wait_for_port(proc, port)
    return proc, port


class Measured(Protocol):
    """One run of a target (pg_bench's and mysql_bench's Run)."""

    tps: float
    cpu_us: float | None


def fmt_tps(value: float) -> str:
    return f"{value:,.0f}"


def spread(runs: Sequence[Measured]) -> float:
    """A target's own noise in one case: (max - min) / median of its rounds' tps."""
    values = [r.tps for r in runs]
    return (max(values) - min(values)) / statistics.median(values)


def print_before_after(
    results: Mapping[tuple[str, int], Mapping[str, Sequence[Measured]]], baseline: str = "baseline"
) -> None:
    """This checkout's Airlock against the baseline's, case by case, with each side's noise.

    ``paired``: the geometric mean of the rounds' after/before ratios (the two ran one after
    the other in each round, so a round's drift touches both), with their range."""
    print()
    header = (f"{'case':<16} {'baseline tps':>13} {'airlock tps':>12} {'medians':>8} "
              f"{'paired (range)':>22} {'noise before':>13} {'noise after':>12}"
              "  verdict")  # fmt: skip
    print(header)
    print("-" * len(header))
    cpu: list[str] = []
    for (protocol, clients), per_target in results.items():
        before, after = per_target[baseline], per_target["airlock"]
        cpu_before = [r.cpu_us for r in before if r.cpu_us is not None]
        cpu_after = [r.cpu_us for r in after if r.cpu_us is not None]
        if cpu_before and cpu_after:
            b, a = statistics.median(cpu_before), statistics.median(cpu_after)
            pairs = [
                y.cpu_us - x.cpu_us
                for x, y in zip(before, after, strict=True)
                if x.cpu_us is not None and y.cpu_us is not None
            ]
            cpu.append(f"{protocol + ' c=' + str(clients):<16} {b:>13.1f} {a:>12.1f} "
                       f"{statistics.median(pairs):>+14.1f} ({min(pairs):+.1f} to "
                       f"{max(pairs):+.1f})")  # fmt: skip
        med_before = statistics.median(r.tps for r in before)
        med_after = statistics.median(r.tps for r in after)
        ratios = [a.tps / b.tps for a, b in zip(after, before, strict=True)]
        paired = statistics.geometric_mean(ratios)
        noise = max(spread(before), spread(after))
        verdict = "worse" if 1 - paired > noise else "within noise" if paired < 1 else "not worse"
        case = f"{protocol} c={clients}"
        shown = f"{paired:.3f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        print(f"{case:<16} {fmt_tps(med_before):>13} {fmt_tps(med_after):>12} "
              f"{med_after / med_before:>7.3f}x {shown:>22} {spread(before):>12.1%} "
              f"{spread(after):>12.1%}  {verdict}")  # fmt: skip
    if cpu:
        print()
        header = (
            f"{'case':<16} {'baseline CPU':>13} {'airlock CPU':>12} "
            f"{'paired added':>14} (range)   [µs of the gateway's CPU per transaction]"
        )
        print(header)
        print("-" * len(header))
        for line in cpu:
            print(line)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads so far (/proc/PID/stat, Linux).
    Unlike tps, it barely moves when other work shares the machine."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class AirlockCheck:
    log_problems: list[str] = field(default_factory=list)
    store_note: str = ""
    statements: int = 0  # counted by the sessions
    audited: int = 0  # statement records in the audit trail
    refused: int = 0


def check_airlock(proc: Proc, store: Path, transactions: int, connection: str) -> AirlockCheck:
    """What Airlock's log and store say about a run on ``connection``: problems, refusals,
    and whether every statement its sessions counted is in the audit trail."""
    check = AirlockCheck()
    text = proc.log.read_text(errors="replace") if proc.log.exists() else ""
    check.log_problems = [line for line in text.splitlines() if LOG_PROBLEM.search(line)]
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute(
                "SELECT stats, ended_at FROM session WHERE connection = ?", (connection,)
            ).fetchall()
            outcomes = db.execute(
                "SELECT outcome, count(*) FROM session_event e JOIN session s "
                "ON s.id = e.session_id WHERE s.connection = ? GROUP BY outcome",
                (connection,),
            ).fetchall()
            audit_refusals = db.execute(
                "SELECT count(*) FROM audit_event WHERE action = 'statement' "
                "AND outcome IN ('block', 'denied', 'hold', 'held', 'refused')"
            ).fetchone()[0]
            audited = db.execute(  # every statement's record, in the sessions' batched events
                "SELECT coalesce(sum(json_array_length(details, '$.statements')), 0) "
                "FROM audit_event WHERE action = 'statements' AND connection = ?",
                (connection,),
            ).fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as exc:
        check.store_note = f"could not read Airlock's store ({exc}); relied on its log"
        return check
    statements = refused = 0
    for stats, _ in rows:
        data = json.loads(stats) if isinstance(stats, str) else (stats or {})
        statements += int(data.get("statements") or 0)
        refused += int(data.get("refused") or 0)
    ended = sum(1 for _, e in rows if e is not None)
    fine = (None, "allow", "allowed", "ok", "approved")
    bad_events = {o: n for o, n in outcomes if o not in fine}
    check.refused = refused + audit_refusals + sum(bad_events.values())
    check.audited, check.statements = audited, statements
    check.store_note = (
        f"{len(rows)} sessions ({ended} ended), {statements} statements recorded, "
        f"{audited} in the audit trail (the client reported {transactions} transactions), "
        f"refused {refused}, refusal audit events {audit_refusals}"
        + (f", non-allow session events {bad_events}" if bad_events else "")
    )
    if statements and statements < transactions:
        check.store_note += "  [WARNING: fewer statements recorded than transactions]"
    return check
