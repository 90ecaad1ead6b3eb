"""Local forwards to a database connection in forward_to are served by the PostgreSQL listener
logic as the SSH session's identity: guardrails and holds apply inside the tunnel."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import asyncssh
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import fresh_pg_database
from tests.gateway.postgres.support import psql, reset_table
from tests.gateway.ssh.support import Env, gateway_env
from tests.harness import free_port, pg_connection


async def _forward(env: Env) -> tuple[asyncssh.SSHClientConnection, asyncssh.SSHListener]:
    conn = await asyncssh.connect(
        "127.0.0.1", env.ssh_port, username="box", password=env.token, known_hosts=None,
        client_keys=None, agent_path=None, config=None,
    )  # fmt: skip
    listener = await conn.forward_local_port("127.0.0.1", 0, "pg-test", 5432)
    return conn, listener


async def test_delete_inside_the_tunnel_is_held(tmp_path: Path) -> None:
    """Through ssh -L to pg-test, reads run as alice and DELETE FROM t is held for review;
    denied, it fails with the approver's reason and the rows stay."""
    async with fresh_pg_database() as url:
        database = make_url(url).database
        assert database is not None
        dsn = f"postgresql://postgres@127.0.0.1:5432/{database}"
        await reset_table(dsn)
        pg = pg_connection(database, approvers={"groups": ["ops"], "quorum": 1})
        async with gateway_env(
            tmp_path, overrides={"forward_to": ["pg-test"]}, connections=[pg]
        ) as env:
            conn, listener = await _forward(env)
            async with conn:
                db = await asyncpg.connect(
                    host="127.0.0.1", port=listener.get_port(), user="anyone",
                    database="pg-test", password="not-used", ssl=False,
                )  # fmt: skip
                try:
                    assert await db.fetchval("SELECT count(*) FROM t") == 3
                    deleting = asyncio.create_task(db.execute("DELETE FROM t"))
                    review = await env.pending_review(connection="pg-test")
                    assert review.requester.subject == "alice@example.com"
                    await env.decide(review.id, "deny", "not in the tunnel")
                    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="tunnel"):
                        await deleting
                finally:
                    await db.close()
            direct = await asyncpg.connect(dsn)
            try:
                assert await direct.fetchval("SELECT count(*) FROM t") == 3
            finally:
                await direct.close()
            [session] = await env.gw.runtime.repository.list_sessions(connection="pg-test", limit=1)
            assert session.identity.subject == "alice@example.com"


async def test_forward_outside_forward_to_is_refused(tmp_path: Path) -> None:
    """A forward to anything not in forward_to (here the database's raw address) is refused."""
    async with gateway_env(tmp_path, overrides={"forward_to": []}) as env:
        conn, listener = await _forward(env)
        async with conn:
            with pytest.raises((OSError, asyncpg.PostgresError, ConnectionError)):
                await asyncpg.connect(
                    host="127.0.0.1", port=listener.get_port(), user="x", database="pg-test",
                    password="x", ssl=False, timeout=5,
                )  # fmt: skip
        events = await env.audit("ssh.channel_refused")
        assert [e.details["channel"] for e in events] == ["direct-tcpip"]


async def test_real_ssh_dash_l_tunnel_with_psql(tmp_path: Path) -> None:
    """OpenSSH's ssh -L to pg-test and psql through it: a read runs, DELETE FROM t is held
    (psql shows the notice naming the review), denied, and the rows stay."""
    async with fresh_pg_database() as url:
        database = make_url(url).database
        assert database is not None
        await reset_table(f"postgresql://postgres@127.0.0.1:5432/{database}")
        pg = pg_connection(database, approvers={"groups": ["ops"], "quorum": 1})
        async with gateway_env(
            tmp_path, overrides={"forward_to": ["pg-test"]}, connections=[pg]
        ) as env:
            port = free_port()
            tunnel = await env.start_ssh(
                None, options=["-N", "-L", f"{port}:pg-test:5432", "-o", "ExitOnForwardFailure=yes"]
            )
            try:
                for _ in range(200):
                    try:
                        _, writer = await asyncio.open_connection("127.0.0.1", port)
                    except OSError:
                        await asyncio.sleep(0.05)
                        continue
                    writer.close()
                    break
                code, out, err = await psql(port, "not-used", "SELECT count(*) FROM t")
                assert (code, out.strip()) == (0, "3"), err
                deleting = asyncio.create_task(psql(port, "not-used", "DELETE FROM t"))
                review = await env.pending_review(connection="pg-test")
                await env.decide(review.id, "deny", "not through ssh")
                code, _, err = await deleting
                assert code != 0 and "denied by bob@example.com: not through ssh" in err
                assert f"review {review.id}" in err
            finally:
                tunnel.terminate()
                await tunnel.wait()
