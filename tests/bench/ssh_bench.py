"""SSH benchmark: OpenSSH's sshd reached directly and through ``airlock up``'s SSH listener,
interleaved (not a test; run ``.venv/bin/python tests/bench/ssh_bench.py``).

- exec round trip: ``true`` run ``--execs`` times (default 200) on one connection, each a new
  session channel (RFC 4254 §6.5 exec) answered with its exit status, in alternating blocks of
  ``--block`` per side; the median and p95 per exec, and Airlock's cost per exec;
- bulk: ``--megabytes`` (default 100) through ``cat`` (sent, echoed back) per round, rounds
  alternating sides; MB/s each and Airlock's ratio.

The client is asyncssh on both sides (the same client cost), the gateway logs in upstream with
a key, the client with a token. The goal (issue 19): +5 ms or less per exec, 0.8x direct
throughput or better.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.benchkit import BenchError, free_port, start_airlock
from tests.gateway.ssh.support import SSHD, Sshd, _prepare

CHUNK = 1 << 18


def _config(sshd_port: int, fingerprint: str, key: Path):  # type: ignore[no-untyped-def]
    def config_for(api_port: int, port: int, store: Path) -> str:
        return (
            f'[store]\nurl = "sqlite+aiosqlite:///{store}"\n'
            f'[api]\nlisten = "127.0.0.1:{api_port}"\n'
            f'[listeners]\nssh = "127.0.0.1:{port}"\n[[connections]]\nname = "box"\n'
            f'type = "ssh"\nupstream = "127.0.0.1:{sshd_port}"\nusername = "root"\n'
            f'private_key_file = "{key}"\nhost_key = "{fingerprint}"\naccess = "standing"\n'
            'allow_groups = ["eng"]\n'
        )

    return config_for


async def _execs(conn: asyncssh.SSHClientConnection, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        result = await conn.run("true")
        times.append(time.perf_counter() - started)
        if result.exit_status != 0:
            raise BenchError(f"true exited {result.exit_status}: {result.stderr!r}")
    return times


async def _bulk(conn: asyncssh.SSHClientConnection, megabytes: int) -> float:
    """MB/s of ``megabytes`` sent through ``cat`` and read back."""
    total = megabytes << 20
    block = os.urandom(CHUNK)
    started = time.perf_counter()
    async with conn.create_process("cat", encoding=None) as proc:

        async def send() -> None:
            left = total
            while left > 0:
                proc.stdin.write(block[: min(CHUNK, left)])
                left -= CHUNK
                await proc.stdin.drain()
            proc.stdin.write_eof()

        sender = asyncio.create_task(send())
        got = 0
        while data := await proc.stdout.read(CHUNK):
            got += len(data)
        await sender
    if got != total:
        raise BenchError(f"cat returned {got} bytes of {total}")
    return megabytes / (time.perf_counter() - started)


def _sshd(work: Path) -> tuple[subprocess.Popen[bytes], Sshd]:
    """OpenSSH's sshd on a free loopback port, as the tests start it."""
    if not Path(SSHD).exists():
        raise BenchError("openssh-server is not installed")
    config, sshd = _prepare(work, free_port())
    return subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)]), sshd


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        daemon, sshd = _sshd(work)
        sshd_port = sshd.port
        airlock = None
        try:
            env = dict(os.environ)
            airlock = start_airlock(
                work, _config(sshd_port, sshd.fingerprint, sshd.client_key),
                env=env, subject="bench@example.com",
            )  # fmt: skip
            common = {"known_hosts": None, "agent_path": None, "config": None}
            direct = await asyncssh.connect(
                "127.0.0.1", sshd_port, username="root", client_keys=[str(sshd.client_key)],
                **common,
            )  # fmt: skip
            via = await asyncssh.connect(
                "127.0.0.1", airlock.port, username="box", password=airlock.token,
                client_keys=None, **common,
            )  # fmt: skip
            await _execs(direct, 10)  # warm both
            await _execs(via, 10)
            times: dict[str, list[float]] = {"direct": [], "airlock": []}
            for _ in range(max(1, args.execs // args.block)):
                times["direct"] += await _execs(direct, args.block)
                times["airlock"] += await _execs(via, args.block)
            _report_execs(times)
            rates: dict[str, list[float]] = {"direct": [], "airlock": []}
            for _ in range(args.rounds):
                rates["direct"].append(await _bulk(direct, args.megabytes))
                rates["airlock"].append(await _bulk(via, args.megabytes))
            _report_bulk(rates, args.megabytes)
            direct.close()
            via.close()
        finally:
            if airlock is not None:
                airlock.proc.stop()
            daemon.terminate()
            daemon.wait(10)


def _report_execs(times: dict[str, list[float]]) -> None:
    for side, values in times.items():
        ms = sorted(v * 1000 for v in values)
        p95 = ms[int(len(ms) * 0.95) - 1]
        median = statistics.median(ms)
        print(f"exec true x{len(ms)} {side:8} median {median:6.2f} ms  p95 {p95:6.2f} ms")
    extra = statistics.median(times["airlock"]) - statistics.median(times["direct"])
    print(f"exec: Airlock adds {extra * 1000:.2f} ms per exec (median; goal <= 5 ms)")


def _report_bulk(rates: dict[str, list[float]], megabytes: int) -> None:
    for side, values in rates.items():
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"bulk {megabytes} MB through cat {side:8} MB/s: {shown}")
    ratio = statistics.median(rates["airlock"]) / statistics.median(rates["direct"])
    print(f"bulk: Airlock reaches {ratio:.2f}x direct throughput (median; goal >= 0.8x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--execs", type=int, default=200)
    parser.add_argument("--block", type=int, default=20)
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
