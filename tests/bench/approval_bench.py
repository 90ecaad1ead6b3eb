"""Approval benchmark: how fast a held statement's card reaches Slack, how fast a click lets the
statement finish, what an approval costs the gateway in CPU, and how fast the command line
starts.

Run:  .venv/bin/python -m tests.bench.approval_bench [--stores sqlite,postgres] [--rounds 20]
      [--bursts 20,100] [--cli-runs 5]
(not a test; needs the local PostgreSQL at 127.0.0.1:5432 with trust auth, and psql).
The command line alone (with the trail of ``--rounds`` approvals for ``audit verify``):
      --stores sqlite --bursts '' [--cli-runs 7]

What it does, per store (SQLite file, PostgreSQL database):
1. a fresh target database with tables ``tb_000`` .. ``tb_099`` (three rows each), a fresh
   store, the fake Slack (tests/support/fake_slack, HTTP/1.1 like Slack) in this process, and
   ``airlock up`` as a subprocess with the Slack chat wired to the fake;
2. one at a time, ``--rounds`` times: ``psql -c "DELETE FROM tb_NNN"`` (held: no filter), the
   card (hold → card: the review's ``created_at`` to the fake's ``chat.postMessage`` answer),
   bob's signed Approve click (click → result: the POST sent to psql's exit);
3. for each burst size K: K psql held at once, then K clicks at once;
4. CPU per approval: the gateway process's user + system CPU (/proc, its threads included)
   over the phase, divided by the approvals, and the same for K plain ``SELECT`` psql
   sessions (the session's own cost: login, upstream connection, audit), so the difference
   is the approval's own work;
5. (SQLite run) the command line: ``airlock --help``, ``reviews list``, ``reviews approve``
   (a real pending review each time), ``token create``, ``audit verify``: median wall time and
   the child's CPU over ``--cli-runs`` runs.

The machine is shared: CPU time is the steadier number; wall-time percentiles move with the
load (the load average is printed before and after).

``--baseline DIR`` runs ``airlock`` with ``PYTHONPATH=DIR`` (another checkout, e.g. ``git archive``
of the commit before, with the compiled lane copied in): before and after on the same machine.

Exit status: 0 when every statement finished approved, 1 when one did not, 2 when it could
not run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bot.cards import APPROVE_ACTION_ID
from gateway.identity import TokenService, generate_key, load_key
from tests.bench.benchkit import BenchError, cpu_seconds
from tests.bot.chatkit import (
    PEOPLE,
    SLACK_USERS,
    Psql,
    block_action,
    cards_in,
    connection,
    interaction_body,
    wait_for,
)
from tests.conftest import fresh_pg_database
from tests.harness import free_port
from tests.support.fake_slack import FakeSlack
from tests.support.processes import AIRLOCK, AirlockProcess, child_env, write_config

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TABLES = 100
CARD_WAIT_S = 120.0  # for every card of a batch


@dataclass(frozen=True)
class Address:
    """Where the ``airlock up`` under test answers (satisfies chatkit's GatewayAddress)."""

    api_url: str
    pg_port: int


@dataclass
class Bench:
    """One store's run: the gateway, the fake, tokens, and what was measured."""

    gw: Address
    fake: FakeSlack
    pid: int
    alice: str  # the requester's token
    bob: str  # an approver's token (reads reviews, approves from the CLI)
    lines: list[str] = field(default_factory=list)
    failures: int = 0
    seen: set[str] = field(default_factory=set)  # cards (ts) already matched to a statement
    # Slack's side of the clicks: one kept-alive client, so that the bench's own connection
    # set-up (a TLS context, a TCP connect: 10-25 ms here) is not counted as the gateway's.
    slack: httpx.AsyncClient | None = None


def _pct(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(name: str, samples: Sequence[float]) -> str:
    ms = [1e3 * s for s in samples]
    return (
        f"{name:<34} n {len(ms):>4}  p50 {_pct(ms, 0.5):7.1f}  p90 {_pct(ms, 0.9):7.1f}  "
        f"p99 {_pct(ms, 0.99):7.1f}  max {max(ms):7.1f} ms"
    )


def _say(bench: Bench, line: str) -> None:
    print(line, flush=True)
    bench.lines.append(line)


# -- the target database ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _target() -> AsyncIterator[str]:
    name = f"airlock_approval_bench_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
        try:
            for i in range(TABLES):
                await conn.execute(f"CREATE TABLE tb_{i:03d} (id int); INSERT INTO tb_{i:03d} "
                                   "VALUES (1), (2), (3)")  # fmt: skip
        finally:
            await conn.close()
        yield name
    finally:
        admin = await asyncpg.connect(ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# -- one approval ----------------------------------------------------------------------------


@dataclass
class Held:
    """A held statement: its psql, its card (channel id, ts) and review id, and times."""

    table: str
    psql: Psql
    ref: tuple[str, str] = ("", "")
    review: str = ""
    card_at: float = 0.0  # wall clock, from the fake's record of chat.postMessage
    clicked: float = 0.0
    done: float = 0.0
    code: int = -1


def _card_of(bench: Bench, table: str) -> tuple[str, str, str] | None:
    for channel, ts, card in cards_in(bench.fake):
        if ts not in bench.seen and f"DELETE FROM {table}" in str(card.get("blocks")):
            return channel, ts, str(card["blocks"][-1]["elements"][0]["value"])
    return None


def _posted_at(fake: FakeSlack, ts: str) -> float:
    offset = time.time() - time.monotonic()
    for call in fake.calls_to("chat.postMessage"):
        if call.response.get("ts") == ts:
            return call.at + offset
    raise BenchError(f"no chat.postMessage answered ts {ts}")


async def _hold(bench: Bench, tables: Sequence[str]) -> list[Held]:
    """Start one held DELETE per table at once; wait for every card (up to CARD_WAIT_S: a
    statement whose card never came is counted as a failure, said, and not clicked)."""
    held = [Held(t, Psql(bench.gw, bench.alice, f"DELETE FROM {t}")) for t in tables]
    await asyncio.gather(*(h.psql.start() for h in held))
    carded = []
    deadline = time.monotonic() + CARD_WAIT_S
    for h in held:
        left = max(deadline - time.monotonic(), 0.1)
        try:
            card = await wait_for(partial(_card_of, bench, h.table), left, f"{h.table}'s card")
        except AssertionError:
            bench.failures += 1
            said = await h.psql.result(within=5) if not h.psql.running() else (-1, "", "")
            print(f"  {h.table}: no card in {CARD_WAIT_S:.0f} s; psql {said}", file=sys.stderr)
            continue
        assert card is not None  # wait_for returns what is there
        channel, ts, review = card
        bench.seen.add(ts)
        h.ref, h.review, h.card_at = (channel, ts), review, _posted_at(bench.fake, ts)
        carded.append(h)
    return carded


async def _click(bench: Bench, h: Held) -> None:
    body = interaction_body(block_action("U0BOB", h.review, APPROVE_ACTION_ID, h.ref))
    headers = {**bench.fake.sign(body), "Content-Type": "application/x-www-form-urlencoded"}
    assert bench.slack is not None
    h.clicked = time.monotonic()
    response = await bench.slack.post("/slack/events", content=body, headers=headers)
    if response.status_code != 200:
        raise BenchError(f"the click answered {response.status_code}")
    h.code, _, err = await h.psql.result(within=120)
    h.done = time.monotonic()
    if h.code != 0:
        print(f"  {h.table}: psql exited {h.code}: {err.strip()}", file=sys.stderr)


async def _created_at(bench: Bench, held: Sequence[Held]) -> list[float]:
    """Each review's created_at (wall clock seconds), read through the API after the phase."""
    headers = {"Authorization": f"Bearer {bench.bob}"}
    async with httpx.AsyncClient(base_url=bench.gw.api_url, headers=headers, timeout=30) as api:
        out = []
        for h in held:
            answer = (await api.get(f"/v1/reviews/{h.review}")).raise_for_status().json()
            out.append(datetime.fromisoformat(answer["created_at"]).timestamp())
        return out


async def _plain_sessions(bench: Bench, count: int) -> float:
    """CPU seconds of ``count`` plain (not held) psql sessions at once, per session."""
    before = cpu_seconds(bench.pid)
    runs = [Psql(bench.gw, bench.alice, f"SELECT count(*) FROM tb_{i % TABLES:03d}")
            for i in range(count)]  # fmt: skip
    await asyncio.gather(*(p.start() for p in runs))
    for p in runs:
        code, _, err = await p.result(within=120)
        if code != 0:
            raise BenchError(f"a plain SELECT failed: {err.strip()}")
    return (cpu_seconds(bench.pid) - before) / count


async def _phase(bench: Bench, name: str, batches: Sequence[Sequence[str]]) -> None:
    """Hold and approve ``batches`` one after the other (a batch held at once, then clicked at
    once); report hold → card, click → result and CPU per approval."""
    cpu_before = cpu_seconds(bench.pid)
    every: list[Held] = []
    for tables in batches:
        held = await _hold(bench, tables)
        await asyncio.gather(*(_click(bench, h) for h in held))
        every += held
    if not every:
        _say(bench, f"{name}: no statement got its card")
        return
    cpu = (cpu_seconds(bench.pid) - cpu_before) / len(every)
    created = await _created_at(bench, every)
    bench.failures += sum(1 for h in every if h.code != 0)
    plain = await _plain_sessions(bench, max(len(batches[0]), 10))  # CPU ticks are 10 ms
    _say(
        bench,
        _summary(
            f"{name}: hold → card", [h.card_at - c for h, c in zip(every, created, strict=True)]
        ),
    )
    _say(bench, _summary(f"{name}: click → result", [h.done - h.clicked for h in every]))
    _say(bench, f"{name}: gateway CPU {1e3 * cpu:.1f} ms per held+approved statement, "
                f"{1e3 * plain:.1f} ms per plain session: "
                f"approval ≈ {1e3 * (cpu - plain):.1f} ms")  # fmt: skip


# -- the command line ------------------------------------------------------------------------


def _timed(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one command (the child's user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv[1:3])} failed: {done.stderr.strip() or done.stdout}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


async def _cli(bench: Bench, config: Path, env: dict[str, str], runs: int) -> None:
    client = dict(env, AIRLOCK_URL=bench.gw.api_url, AIRLOCK_TOKEN=bench.bob)
    cfg = ["--config", str(config)]
    commands: dict[str, list[str]] = {
        "airlock --help": ["--help"],
        "airlock reviews list": ["reviews", "list"],
        "airlock reviews approve": [],  # a fresh pending review each run
        "airlock token create": ["token", "create", *cfg, "--subject", "x@example.com"],
        "airlock audit verify": ["audit", "verify", *cfg],
    }
    for name, args in commands.items():
        samples = []
        for i in range(runs):
            if not args:
                h = (await _hold(bench, [f"tb_{i:03d}"]))[0]
                argv = [AIRLOCK, "reviews", "approve", h.review]
                samples.append(await asyncio.to_thread(_timed, argv, client))
                h.code, _, _ = await h.psql.result(within=60)
                bench.failures += h.code != 0
            else:
                samples.append(await asyncio.to_thread(_timed, [AIRLOCK, *args], client))
        wall = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        low, high = min(s[0] for s in samples), max(s[0] for s in samples)
        _say(bench, f"{name:<26} median wall {1e3 * wall:6.0f} ms  CPU {1e3 * cpu:6.0f} ms "
                    f"(wall {1e3 * low:.0f}-{1e3 * high:.0f} ms, {runs} runs)")  # fmt: skip


# -- a store's run ---------------------------------------------------------------------------


def _env(fake: FakeSlack, pem: str, baseline: str | None) -> dict[str, str]:
    """``airlock``'s environment: the signing key, Slack pointed at the fake, and with
    ``baseline`` that checkout's code (this bench and its fakes stay)."""
    env = child_env({
        "AIRLOCK_SIGNING_KEY": pem, "AIRLOCK_TEST_UPSTREAM_PASSWORD": "x",
        "SLACK_BOT_TOKEN": fake.bot_token, "SLACK_SIGNING_SECRET": fake.signing_secret,
        "AIRLOCK_SLACK_API_URL": fake.base_url,
    })  # fmt: skip
    env.pop("SLACK_APP_TOKEN", None)
    if baseline:
        env["PYTHONPATH"] = baseline
    return env


async def _run_store(store: str, args: argparse.Namespace, pem: str) -> Bench:
    tokens = TokenService(load_key(pem))
    async with contextlib.AsyncExitStack() as stack:
        target = await stack.enter_async_context(_target())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if store == "postgres":
            store_url = await stack.enter_async_context(fresh_pg_database())
        else:
            store_url = f"sqlite+aiosqlite:///{tmp}/airlock.db"
        fake = stack.enter_context(FakeSlack(users=SLACK_USERS, keep_alive=True))
        api, pg = free_port(), free_port()
        sections: dict[str, dict[str, Any]] = {
            "scheduler": {"enabled": False},
            "gateway": {"journal_dir": str(tmp / "journal"), "max_sessions_per_identity": 1000},
            "chat": {"provider": "slack", "dev_mode": True},
        }
        config = write_config(
            tmp / "airlock.toml", store_url, api_port=api, pg_port=pg,
            connections=[connection(target, review_timeout="10m")], people=PEOPLE,
            sections=sections,
        )  # fmt: skip
        env = _env(fake, pem, args.baseline)
        upgrade = [AIRLOCK, "db", "upgrade", "--config", str(config)]
        await asyncio.to_thread(subprocess.run, upgrade, env=env, check=True, capture_output=True)
        ready = (f"HTTP API on http://127.0.0.1:{api}", f"listener on 127.0.0.1:{pg}")
        process = AirlockProcess("up", (AIRLOCK, "up", "--config", str(config)), env, ready)
        await process.start()
        stack.push_async_callback(process.stop)
        slack = httpx.AsyncClient(base_url=f"http://127.0.0.1:{api}", timeout=60)
        stack.push_async_callback(slack.aclose)
        bench = Bench(
            Address(f"http://127.0.0.1:{api}", pg), fake, process.pid,
            tokens.mint("alice@example.com", groups=["eng"]),
            tokens.mint("bob@example.com", groups=["dba"]), slack=slack,
        )  # fmt: skip
        _say(bench, f"== {store} store; airlock up pid {process.pid}; load {os.getloadavg()}")
        await _click(bench, (await _hold(bench, ["tb_099"]))[0])  # warm-up, not counted
        names = [f"tb_{i:03d}" for i in range(TABLES)]
        rounds = [[names[i % 90]] for i in range(args.rounds)]
        await _phase(bench, "1 in flight", rounds)
        for k in args.bursts:
            await _phase(bench, f"{k} at once", [names[:k]])
        if store == "sqlite" and args.cli_runs:
            await _cli(bench, config, env, args.cli_runs)
        _say(bench, f"== {store} done; load {os.getloadavg()}; failures {bench.failures}")
        return bench
    raise AssertionError("unreachable")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stores", default="sqlite,postgres", help="the CLI part runs on sqlite")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--bursts",
        default="20,100",
        help="burst sizes; '' for none (the CLI part alone: --stores sqlite --bursts '')",
    )
    parser.add_argument("--cli-runs", type=int, default=5)
    parser.add_argument("--baseline", help="run the gateway (and the CLI) from this checkout")
    args = parser.parse_args(argv)
    args.stores = [s for s in args.stores.split(",") if s]
    args.baseline = str(Path(args.baseline).resolve()) if args.baseline else None
    args.bursts = [int(k) for k in args.bursts.split(",") if k]
    if any(k > TABLES for k in args.bursts):
        parser.error(f"bursts of at most {TABLES}")
    return args


async def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    pem = generate_key().private_pem()
    failures = 0
    for store in args.stores:
        failures += (await _run_store(store, args, pem)).failures
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except (BenchError, OSError, asyncpg.PostgresError) as exc:
        print(f"approval_bench: {exc}", file=sys.stderr)
        sys.exit(2)
