"""Several replicas for real: two `airlock gateway` processes, one `airlock bot` (Slack through
the fake Slack) and two `airlock scheduler` processes on one fresh PostgreSQL store.

- a statement held on replica A (psql) is approved through replica B's API and runs on A
  (hold → approve → result timed over 20 rounds);
- a revocation through B ends a session on A within a second (FATAL 57P01);
- two schedulers run each tick of each job once between them: an unanswered request's
  reminders are said once each, and each ``(job, tick)`` in ``scheduler_run`` has one claim;
- replica A killed with SIGKILL mid-hold: B reaps A's review and session within
  ``[gateway] replica_dead_after`` plus one ``heartbeat_interval``; nothing is left to approve
  and ``airlock audit verify`` passes.

The numbers go to docs/operations.md ("Several replicas") (run with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from gateway.identity import TokenService, generate_key, load_key
from tests.bot.chatkit import CHANNEL, PEOPLE, SLACK_USERS, cards_in, table_database, wait_for
from tests.conftest import PG_ADMIN_DSN, fresh_pg_database
from tests.harness import free_port, pg_connection
from tests.support.fake_slack import FakeSlack
from tests.support.processes import (
    AirlockProcess,
    bot,
    gateway,
    run_airlock,
    scheduler,
    started,
    write_config,
)

ROUNDS = 20  # held statements approved across replicas
REVOCATIONS = 5  # sessions revoked across replicas
RESUME_GOAL_S = 0.2  # B has answered the approval → result on A, median
REVOKE_WITHIN_S = 1.0
HEARTBEAT = "500ms"
DEAD_AFTER = "2s"
REAP_WITHIN_S = 2.0 + 0.5 + 0.5  # dead_after + one heartbeat + polling and a busy machine
INTERVAL_JOBS = ("expire", "idle-revoke", "review-timeouts", "reminders", "expiry-notice", "prune")
ADMIN = ("root@example.com", ["airlock-admins", "security"])

pytestmark = pytest.mark.timeout(240)


@dataclass
class Cluster:
    """The processes on one store, and what a test needs to talk to them."""

    a: AirlockProcess
    b: AirlockProcess
    bot: AirlockProcess
    schedulers: tuple[AirlockProcess, ...]
    store_url: str
    target: str  # the database pg-test's upstream is
    config: Path  # any of the configurations (for `airlock audit verify`)
    tokens: TokenService
    slack: FakeSlack

    def token(self, subject: str, groups: list[str]) -> str:
        return self.tokens.mint(subject, groups=groups, ttl=timedelta(hours=1))

    def client(self, replica: AirlockProcess, subject: str, groups: list[str]) -> httpx.AsyncClient:
        assert replica.api_url is not None
        headers = {"Authorization": f"Bearer {self.token(subject, groups)}"}
        return httpx.AsyncClient(base_url=replica.api_url, headers=headers, timeout=10)


def _connection(database: str) -> dict[str, Any]:
    # pg_sleep is held by the default rules; here it runs (the revocation test's session).
    sleeps = {"name": "sleeps", "action": "allow", "kind": "review", "function": "pg_sleep"}
    return pg_connection(
        database,
        approvers={"groups": ["dba"], "channel": CHANNEL, "quorum": 1},
        review_timeout="60s",
        rules=[sleeps],
    )


@dataclass(frozen=True)
class _Ports:
    api: int
    pg: int


def _configs(
    tmp: Path, store_url: str, target: str, gateway_options: dict[str, Any]
) -> tuple[dict[str, tuple[Path, _Ports]], tuple[Path, int]]:
    """A configuration per gateway replica (its own ports and journal), one for the bot."""
    connections, people = [_connection(target)], PEOPLE
    chat = {"provider": "slack"}
    scheduler_section = {"interval": "1s", "reminder_backoff": ["2s", "2s", "2s"]}
    replicas: dict[str, tuple[Path, _Ports]] = {}
    for name in ("a", "b"):
        ports = _Ports(free_port(), free_port())
        sections = {
            "gateway": {"journal_dir": str(tmp / f"journal-{name}"), **gateway_options},
            "chat": chat,
            "scheduler": scheduler_section,
        }
        path = write_config(
            tmp / f"{name}.toml", store_url, api_port=ports.api, pg_port=ports.pg,
            sections=sections, connections=connections, people=people,
        )  # fmt: skip
        replicas[name] = (path, ports)
    bot_port = free_port()
    bot_config = write_config(
        tmp / "bot.toml", store_url, api_port=bot_port,
        sections={"chat": chat, "scheduler": scheduler_section}, connections=connections,
        people=people,
    )  # fmt: skip
    return replicas, (bot_config, bot_port)


@dataclass
class _Env:
    key_pem: str
    slack: FakeSlack

    def processes(self, replica_url: str) -> dict[str, str]:
        return {
            "AIRLOCK_SIGNING_KEY": self.key_pem,
            "AIRLOCK_TEST_UPSTREAM_PASSWORD": "unused-with-trust-auth",
            "SLACK_BOT_TOKEN": self.slack.bot_token,
            "SLACK_SIGNING_SECRET": self.slack.signing_secret,
            "AIRLOCK_SLACK_API_URL": self.slack.base_url,
            "AIRLOCK_URL": replica_url,  # the bot records decisions through this replica
        }


@contextlib.asynccontextmanager
async def _cluster(
    tmp: Path, slack: FakeSlack, *, gateway_options: dict[str, Any], schedulers: int
) -> AsyncIterator[Cluster]:
    """Replicas A and B (`airlock gateway`), the bot and ``schedulers`` schedulers on a fresh,
    migrated PostgreSQL store, in front of a fresh database holding table t."""
    async with table_database() as target, fresh_pg_database() as store_url:
        replicas, (bot_config, bot_port) = _configs(tmp, store_url, target, gateway_options)
        key = generate_key()
        (a_config, a_ports), (b_config, b_ports) = replicas["a"], replicas["b"]
        env = _Env(key.private_pem(), slack).processes(f"http://127.0.0.1:{b_ports.api}")
        upgraded = await run_airlock("db", "upgrade", "--config", str(a_config), env=env)
        assert upgraded.code == 0, upgraded.err
        a = gateway(a_config, name="A", api_port=a_ports.api, pg_port=a_ports.pg, env=env)
        b = gateway(b_config, name="B", api_port=b_ports.api, pg_port=b_ports.pg, env=env)
        chat = bot(bot_config, api_port=bot_port, env=env)
        timers = tuple(
            scheduler(bot_config, name=f"scheduler-{n}", env=env) for n in range(schedulers)
        )
        async with started(a, b, chat, *timers):
            yield Cluster(
                a, b, chat, timers, store_url, target, a_config,
                TokenService(load_key(key.private_pem())), slack,
            )  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    """One cluster for the tests that leave it running: A, B, the bot, two schedulers."""
    with FakeSlack(users=SLACK_USERS) as slack:
        tmp = tmp_path_factory.mktemp("replicas")
        async with _cluster(tmp, slack, gateway_options={}, schedulers=2) as running:
            yield running
        processes = (running.a, running.b, running.bot, *running.schedulers)
        shown = [f"{p.name} {p.stopped_in or 0:.1f}s" for p in processes]
        print("\nSIGTERM → exit: " + ", ".join(shown))


# -- clients ----------------------------------------------------------------------------------


@dataclass
class Psql:
    """One ``psql -c SQL`` against a replica's listener, running in the background."""

    proc: asyncio.subprocess.Process

    @classmethod
    async def start(cls, replica: AirlockProcess, token: str, sql: str, user: str) -> Psql:
        env = dict(os.environ, PGPASSWORD=token, PGSSLMODE="disable")
        proc = await asyncio.create_subprocess_exec(
            "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose",
            "-h", "127.0.0.1", "-p", str(replica.pg_port), "-U", user, "-d", "pg-test",
            "-c", sql,
            env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc)

    async def result(self, within: float = 20.0) -> tuple[int, str, str]:
        out, err = await asyncio.wait_for(self.proc.communicate(), within)
        assert self.proc.returncode is not None
        return self.proc.returncode, out.decode(), err.decode()


async def _pending(api: httpx.AsyncClient, statement: str, within: float = 10.0) -> str:
    """The id of the one pending review of ``statement``, as the replica's API lists it."""
    deadline = time.monotonic() + within
    while True:
        listed = await api.get("/v1/reviews", params={"state": "pending"})
        assert listed.status_code == 200, listed.text
        found = [r["id"] for r in listed.json() if r["statement"] == statement]
        if found:
            assert len(found) == 1, found
            return str(found[0])
        if time.monotonic() > deadline:
            raise AssertionError(f"no pending review of {statement!r} within {within}s")
        await asyncio.sleep(0.01)


async def _running_upstream(database: str, query: str, within: float = 10.0) -> None:
    """Wait until the upstream server runs ``query`` in ``database``."""
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        deadline = time.monotonic() + within
        while not await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query = $2 "
            "AND state = 'active'",
            database, query,
        ):  # fmt: skip
            if time.monotonic() > deadline:
                raise AssertionError(f"{query!r} is not running upstream")
            await asyncio.sleep(0.01)
    finally:
        await conn.close()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- (a) held on A, approved on B ---------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="module")
async def test_a_statement_held_on_a_is_approved_through_b_and_runs_on_a(cluster: Cluster) -> None:
    """psql's TRUNCATE on replica A is held; bob approves it through replica B's API; it runs
    on A. Over 20 rounds: once B has answered the approval, A's result follows within 200 ms
    (median), and approval request → result stays under a second (median); the bot (its own
    process) posted every card and redrew each as approved."""
    alice = cluster.token("alice@example.com", ["eng"])
    total: list[float] = []  # approval request sent to B → psql's result on A
    after: list[float] = []  # B's answer (the decision committed) → psql's result on A
    async with cluster.client(cluster.b, "bob@example.com", ["dba"]) as on_b:
        for _ in range(ROUNDS):
            psql = await Psql.start(cluster.a, alice, "TRUNCATE t", "alice")
            review = await _pending(on_b, "TRUNCATE t")
            sent = time.perf_counter()
            decided = await on_b.post(
                f"/v1/reviews/{review}/decisions", json={"outcome": "approve"}
            )
            answered = time.perf_counter()
            code, out, err = await psql.result()
            done = time.perf_counter()
            total.append(done - sent)
            after.append(done - answered)
            assert decided.status_code == 200, decided.text
            assert code == 0, err
            assert "TRUNCATE TABLE" in out and "held for approval" in err
    print(
        f"\ncross-replica resume over {ROUNDS} rounds: approval request on B → result on A "
        f"p50 {statistics.median(total) * 1000:.0f} ms, p99 {_percentile(total, 0.99) * 1000:.0f}"
        f" ms; B's answer → result on A p50 {statistics.median(after) * 1000:.0f} ms, "
        f"p99 {_percentile(after, 0.99) * 1000:.0f} ms"
    )
    assert statistics.median(after) <= RESUME_GOAL_S, after
    assert statistics.median(total) <= 5 * RESUME_GOAL_S, total
    await wait_for(lambda: len(cards_in(cluster.slack)) >= ROUNDS, what=f"{ROUNDS} cards")

    def all_approved() -> bool:
        return all("Approved" in str(card) for _, _, card in cards_in(cluster.slack))

    await wait_for(all_approved, what="every card redrawn as approved")


# -- (b) revoked on B, ended on A ---------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="module")
async def test_a_revocation_through_b_ends_the_session_on_a_within_a_second(
    cluster: Cluster,
) -> None:
    """A person's psql on replica A runs pg_sleep(10); an admin revokes the person through
    replica B's API; A ends the session with FATAL 57P01 within a second (5 people), and the
    session is recorded as ended."""
    elapsed: list[float] = []
    async with cluster.client(cluster.b, *ADMIN) as admin_on_b:
        for n in range(REVOCATIONS):
            person = f"leaver{n}@example.com"
            query = f"SELECT pg_sleep(10) AS round{n}"  # the last round's may still run upstream
            psql = await Psql.start(cluster.a, cluster.token(person, ["eng"]), query, "leaver")
            await _running_upstream(cluster.target, query)
            started_at = time.perf_counter()
            revoked = await admin_on_b.post(
                "/v1/revocations/subjects", json={"subject": person, "reason": "left the company"}
            )
            code, _, err = await psql.result(within=10)
            elapsed.append(time.perf_counter() - started_at)
            assert revoked.status_code == 201, revoked.text
            assert code != 0 and "57P01" in err and "left the company" in err, err
        print(
            f"\nrevocation on B → FATAL on A over {REVOCATIONS} sessions: "
            f"median {statistics.median(elapsed) * 1000:.0f} ms, max {max(elapsed) * 1000:.0f} ms"
        )
        assert max(elapsed) < REVOKE_WITHIN_S, elapsed

        async def ended() -> bool:
            listed = await admin_on_b.get("/v1/sessions", params={"active": "true"})
            assert listed.status_code == 200, listed.text
            return not [s for s in listed.json() if s["subject"].startswith("leaver")]

        deadline = time.monotonic() + 10
        while not await ended():
            assert time.monotonic() < deadline, "the revoked sessions are still recorded live"
            await asyncio.sleep(0.05)


# -- (c) two schedulers, each tick once ---------------------------------------------------------


@pytest.mark.asyncio(loop_scope="module")
async def test_two_schedulers_run_each_tick_once(cluster: Cluster) -> None:
    """Two `airlock scheduler` processes (1 s interval) and an access request nobody answers:
    its three reminders (2 s apart) reach its card's thread once each, the store's mark says 3,
    every (job, tick) in scheduler_run was claimed by one of them, and both of them ran ticks."""
    async with cluster.client(cluster.b, "alice@example.com", ["eng"]) as alice_on_b:
        asked = await alice_on_b.post(
            "/v1/access-requests",
            json={"connection": "pg-test", "duration": "1h", "reason": "INC-42"},
        )
    assert asked.status_code == 201, asked.text
    review = asked.json()["id"]
    channel, ts, _ = (
        await wait_for(
            lambda: [c for c in cards_in(cluster.slack) if review in str(c[2])], what="the card"
        )
    )[0]

    def reminders() -> list[str]:
        return [
            str(m)
            for (c, _), m in cluster.slack.snapshot().items()
            if c == channel and m.get("thread_ts") == ts and "Reminder" in str(m)
        ]

    await wait_for(
        lambda: any("Reminder 3 of 3" in m for m in reminders()), within=30, what="reminder 3"
    )
    await asyncio.sleep(2.5)  # two more ticks of both schedulers: nothing is said again
    said = reminders()
    for step in (1, 2, 3):
        assert sum(f"Reminder {step} of 3" in m for m in said) <= 1, said
    assert sum("Reminder 3 of 3" in m for m in said) == 1, said
    conn = await asyncpg.connect(_dsn(cluster.store_url), timeout=5)
    try:
        mark = await conn.fetchval(
            "SELECT count FROM scheduler_mark WHERE job = 'reminders' AND key = $1", review
        )
        claims = await conn.fetch("SELECT job, tick, instance FROM scheduler_run")
    finally:
        await conn.close()
    assert mark == 3
    per_tick = Counter((r["job"], r["tick"]) for r in claims)
    assert per_tick and set(per_tick.values()) == {1}
    assert {r["job"] for r in claims} >= set(INTERVAL_JOBS)
    assert len({r["instance"] for r in claims}) == len(cluster.schedulers) == 2, claims


def _dsn(store_url: str) -> str:
    """The store's SQLAlchemy URL as a libpq DSN for asyncpg."""
    return make_url(store_url).set(drivername="postgresql").render_as_string(hide_password=False)


# -- (d) SIGKILL mid-hold: B reaps A's review and session -------------------------------------


async def test_a_replica_killed_mid_hold_is_reaped_by_the_other(
    tmp_path: Path, fake: FakeSlack
) -> None:
    """Replica A (heartbeat every 500 ms, dead after 2 s) holds psql's TRUNCATE and is killed
    with SIGKILL. Within dead_after + one heartbeat, B has ended A's session and the review is
    no longer pending; approving it through B is refused, its card has no buttons left, and
    `airlock audit verify` passes."""
    options = {"heartbeat_interval": HEARTBEAT, "replica_dead_after": DEAD_AFTER}
    async with _cluster(tmp_path, fake, gateway_options=options, schedulers=0) as running:
        alice = running.token("alice@example.com", ["eng"])
        psql = await Psql.start(running.a, alice, "TRUNCATE t", "alice")
        async with (
            running.client(running.b, "bob@example.com", ["dba"]) as bob_on_b,
            running.client(running.b, *ADMIN) as admin_on_b,
        ):
            review = await _pending(bob_on_b, "TRUNCATE t")
            await wait_for(lambda: cards_in(fake), what="the card")
            live = await admin_on_b.get("/v1/sessions", params={"active": "true"})
            sessions = [s["id"] for s in live.json() if s["subject"] == "alice@example.com"]
            assert len(sessions) == 1, live.text
            killed_at = time.monotonic()
            await running.a.kill()
            code, _, _ = await psql.result(within=10)
            assert code != 0

            async def reaped() -> bool:
                got = await admin_on_b.get(f"/v1/reviews/{review}")
                one = await admin_on_b.get(f"/v1/sessions/{sessions[0]}")
                return got.json()["state"] != "pending" and one.json()["ended_at"] is not None

            while not await reaped():
                assert time.monotonic() - killed_at < REAP_WITHIN_S, (
                    f"A's review and session not reaped within {REAP_WITHIN_S}s\n"
                    + running.b.said()
                )
                await asyncio.sleep(0.05)
            print(f"\nSIGKILL of A → B reaped its review and session in "
                  f"{(time.monotonic() - killed_at) * 1000:.0f} ms")  # fmt: skip
            approve = await bob_on_b.post(
                f"/v1/reviews/{review}/decisions", json={"outcome": "approve"}
            )
            assert approve.status_code == 409, approve.text
            pending = await bob_on_b.get("/v1/reviews", params={"state": "pending"})
            assert pending.json() == []
            channel, ts, _ = cards_in(fake)[0]
            await wait_for(
                lambda: "airlock_approve" not in str(fake.snapshot()[(channel, ts)]),
                what="the card redrawn without its buttons",
            )
        verified = await run_airlock("audit", "verify", "--config", str(running.config))
        assert verified.code == 0, verified.out + verified.err
