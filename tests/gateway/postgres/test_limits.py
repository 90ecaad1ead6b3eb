"""Session caps end to end (gateway.sessions.limits): past ``[gateway] max_sessions``, past
``max_sessions_per_identity`` (the chain's root subject) or past a connection's own
``max_sessions``, a new session is refused with 53300 before anything is opened upstream; the
refusal is audited and counted; a closed session frees its place; connections past twice
``max_sessions`` are answered at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import pytest_asyncio

from approvals import Actor
from gateway.postgres import wire as pg
from store import AuditRecord
from tests.gateway.postgres.support import Env, RawClient, gateway_env, psql

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAX_SESSIONS, PER_IDENTITY = 4, 2


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    directory = tmp_path_factory.mktemp("limits")
    async with gateway_env(
        directory,
        connections=[{"name": "pg-one", "max_sessions": 1}],
        gateway_options={"max_sessions": MAX_SESSIONS, "max_sessions_per_identity": PER_IDENTITY},
    ) as env:
        yield env


def token(env: Env, subject: str, *agents: str) -> str:
    actors = tuple(Actor(a, groups=frozenset({"eng"})) for a in agents)
    return env.gw.runtime.tokens.mint(subject, groups=["eng"], actors=actors)


async def connect(env: Env, secret: str, database: str = "pg-test") -> asyncpg.Connection:
    conn = await asyncpg.connect(
        host="127.0.0.1", port=env.port, user="x", database=database, password=secret, ssl=False
    )
    assert await conn.fetchval("SELECT 1") == 1
    return conn


async def refused(env: Env, secret: str, database: str = "pg-test") -> str:
    """The 53300 a new session gets; its message."""
    with pytest.raises(asyncpg.TooManyConnectionsError) as caught:
        await connect(env, secret, database)
    assert caught.value.sqlstate == "53300"
    return str(caught.value)


async def upstream_sessions(env: Env) -> int:
    """Connections open on the upstream database (besides this one)."""
    rows = await env.upstream(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        env.database,
    )
    return int(rows[0]["n"])


@contextlib.asynccontextmanager
async def sessions(*opening: asyncpg.Connection) -> AsyncIterator[list[asyncpg.Connection]]:
    conns = list(opening)
    try:
        yield conns
    finally:
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)


async def metrics(env: Env) -> str:
    async with httpx.AsyncClient(base_url=env.gw.api_url) as http:
        return (await http.get("/metrics")).text


async def refusals(env: Env, rule: str) -> list[AuditRecord]:
    """The ``session.refused`` audit events of ``rule``, once the writer caught up."""
    async with asyncio.timeout(5):
        while True:
            found = [
                r
                for r in await env.gw.runtime.repository.list_audit(limit=10_000)
                if r.action == "session.refused" and r.details.get("rule") == rule
            ]
            if found:
                return found
            await asyncio.sleep(0.05)


async def no_sessions_left(env: Env) -> None:
    """Every session's place is given back (the gauge reads 0)."""
    async with asyncio.timeout(5):
        while True:
            if "airlock_sessions_admitted 0.0" in await metrics(env):
                return
            await asyncio.sleep(0.05)


async def test_past_max_sessions_refused_before_upstream(env: Env) -> None:
    """With max_sessions open, the next session gets 53300 and no upstream connection is opened;
    closing one frees its place."""
    subjects = ("a1@example.com", "a2@example.com", "a3@example.com", "a4@example.com")
    async with sessions(*[await connect(env, token(env, s)) for s in subjects]) as conns:
        upstream = await upstream_sessions(env)
        assert upstream >= MAX_SESSIONS
        message = await refused(env, token(env, "late@example.com"))
        assert "max_sessions = 4" in message
        assert await upstream_sessions(env) == upstream  # nothing opened for the refused one
        code, _, err = await psql(env.port, token(env, "late@example.com"), "SELECT 1")
        assert code != 0 and "too many sessions on this gateway" in err, err
        assert f"airlock_sessions_admitted {float(MAX_SESSIONS)}" in await metrics(env)
        await conns.pop().close()
        conns.append(await connect(env, token(env, "late@example.com")))
    await no_sessions_left(env)
    text = await metrics(env)
    assert 'airlock_sessions_refused_total{limit="limits/max_sessions",protocol="postgres"}' in text
    assert f"airlock_sessions_max {float(MAX_SESSIONS)}" in text
    [*_, last] = await refusals(env, "limits/max_sessions")
    assert last.actor_subject == "late@example.com" and last.connection == "pg-test"


async def test_per_identity_cap_counts_the_root_subject(env: Env) -> None:
    """alice's cap holds whether she connects herself or through an agent, and another
    identity is not affected by it."""
    async with sessions(
        await connect(env, token(env, "alice@example.com")),
        await connect(env, token(env, "alice@example.com", "sql-agent")),
    ) as conns:
        for secret in (token(env, "alice@example.com"), token(env, "alice@example.com", "bot")):
            message = await refused(env, secret)
            assert "alice@example.com" in message and "max_sessions_per_identity = 2" in message
        conns.append(await connect(env, token(env, "bob@example.com")))
        conns.append(await connect(env, token(env, "bob@example.com", "sql-agent")))
        await refused(env, token(env, "bob@example.com"))
        await conns.pop(0).close()  # one of alice's: she may open one again
        conns.append(await connect(env, token(env, "alice@example.com", "bot")))
    found = await refusals(env, "limits/per_identity")
    chains = {r.actor_chain for r in found}
    assert ("alice@example.com", "bot") in chains and ("alice@example.com",) in chains
    assert all(r.outcome == "refused" and r.details["limit"] == PER_IDENTITY for r in found)
    await no_sessions_left(env)


async def test_a_connections_own_cap(env: Env) -> None:
    """A connection's max_sessions holds below the process's caps."""
    async with sessions(await connect(env, token(env, "c1@example.com"), "pg-one")):
        message = await refused(env, token(env, "c2@example.com"), "pg-one")
        assert "too many sessions on pg-one" in message
        async with sessions(await connect(env, token(env, "c2@example.com"))):
            pass
    async with sessions(await connect(env, token(env, "c2@example.com"), "pg-one")):
        pass
    await refusals(env, "limits/per_connection")
    await no_sessions_left(env)


async def test_connections_past_twice_the_cap_are_answered_at_once(env: Env) -> None:
    """Connections still in their start-up count too: past 2 * max_sessions a new one is
    answered with 53300 as soon as its start-up packet is read (also behind an SSLRequest, as
    libpq sends one), and closed."""
    idle = [await RawClient.connect(env.port) for _ in range(2 * MAX_SESSIONS)]
    try:
        await asyncio.sleep(0.1)
        late = await RawClient.connect(env.port)
        late.send(pg.StartupMessage({"user": "alice", "database": "pg-test"}))
        error = await late.read(within=2)
        assert isinstance(error, pg.ErrorResponse) and error.sqlstate == "53300", error
        assert error.severity == "FATAL" and "too many clients" in (error.message or "")
        assert await late.closed()
        # libpq reads it as the answer to its SSLRequest too (sslmode=prefer sends one first)
        secret = token(env, "e@example.com")
        code, _, err = await psql(env.port, secret, "SELECT 1", env={"PGSSLMODE": "prefer"})
        assert code != 0 and "too many clients" in err, err
    finally:
        for client in idle:
            client.writer.close()
    async with asyncio.timeout(5):  # their places are free once the gateway saw them go
        while True:
            client = await RawClient.connect(env.port)
            messages = await client.login(token(env, "d@example.com"))
            if isinstance(messages[-1], pg.ReadyForQuery):
                break
            await asyncio.sleep(0.05)
    client.writer.close()
    assert 'limit="limits/connections"' in await metrics(env)
