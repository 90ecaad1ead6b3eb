"""Local forwards to a MySQL connection in forward_to are served by the MySQL listener logic as
the SSH session's identity: masking, guardrails and holds apply inside the tunnel."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import asyncssh
import pymysql
import pytest
from sqlalchemy.engine import make_url

from approvals import ReviewState
from gateway.cli.listeners import unserved_lines
from gateway.config import ConnectionConfig, ListenerSettings, Settings
from gateway.errors import ConfigError
from tests.conftest import fresh_pg_database
from tests.gateway.mysql.support import (
    PASSWORD_ENV,
    ROWS,
    RawClient,
    maria_target,
    mariadb,
    my_connection,
    wait_listening,
)
from tests.gateway.postgres.support import reset_table
from tests.gateway.ssh.support import Env, gateway_env
from tests.harness import free_port, pg_connection

MASKING = {"columns": ["ssn", "card_number"], "detectors": ["credit_card", "ssn", "email"]}
OPS = {"groups": ["ops"], "quorum": 1}  # bob, the approver of tests.gateway.ssh.support
SSN = "078-05-1121"  # alice's, in ROWS


def _count(database: str, user: str, password: str) -> int:
    """The rows of t, read on MariaDB directly (not through the gateway)."""
    conn = pymysql.connect(
        host="127.0.0.1", port=3306, user=user, password=password, database=database
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM t")
            row = cursor.fetchone()
            assert row is not None
            return int(row[0])
    finally:
        conn.close()


async def _ssh(env: Env) -> asyncssh.SSHClientConnection:
    """asyncssh as alice to the SSH connection box (the token as the password)."""
    return await asyncssh.connect(
        "127.0.0.1", env.ssh_port, username="box", password=env.token, known_hosts=None,
        client_keys=None, agent_path=None, config=None,
    )  # fmt: skip


async def _ssh_dash_l(env: Env, port: int, to: str) -> asyncio.subprocess.Process:
    """OpenSSH's ssh -N -L port:to, once its local port accepts."""
    tunnel = await env.start_ssh(
        None, options=["-N", "-L", f"{port}:{to}", "-o", "ExitOnForwardFailure=yes"]
    )
    await wait_listening(port)
    return tunnel


async def test_real_ssh_dash_l_tunnel_with_mariadb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenSSH's ssh -L to my-test and the mariadb CLI through it: a read runs masked, DELETE
    FROM t is held for review as alice, denied it fails with the reason, and the rows stay."""
    with maria_target() as (database, user, password):
        monkeypatch.setenv(PASSWORD_ENV, password)
        my = my_connection(database, user, masking=MASKING, approvers=OPS)
        async with gateway_env(
            tmp_path, overrides={"forward_to": ["my-test"]}, connections=[my]
        ) as env:
            port = free_port()
            tunnel = await _ssh_dash_l(env, port, "my-test:3306")
            try:
                code, out, err = await mariadb(port, "not-used", "SELECT name, ssn FROM t")
                assert code == 0, err
                assert "alice" in out and SSN not in out
                deleting = asyncio.create_task(mariadb(port, "not-used", "DELETE FROM t"))
                review = await env.pending_review(connection="my-test")
                assert review.requester.subject == "alice@example.com"
                await env.decide(review.id, "deny", "not through ssh")
                code, _, err = await deleting
                assert code != 0 and "denied by bob@example.com: not through ssh" in err
            finally:
                tunnel.terminate()
                await tunnel.wait()
            assert _count(database, user, password) == len(ROWS)
            sessions = await env.gw.runtime.repository.list_sessions(connection="my-test")
            assert sessions and {s.identity.subject for s in sessions} == {"alice@example.com"}


async def test_one_ssh_session_forwards_to_both_protocols(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """forward_to may name a PostgreSQL and a MySQL connection: one SSH session forwards to
    each (the MySQL one asked for by its upstream address), each served by its own protocol."""
    async with fresh_pg_database() as url:
        pg_database = make_url(url).database
        assert pg_database is not None
        await reset_table(f"postgresql://postgres@127.0.0.1:5432/{pg_database}")
        with maria_target() as (database, user, password):
            monkeypatch.setenv(PASSWORD_ENV, password)
            conns = [pg_connection(pg_database), my_connection(database, user)]
            overrides = {"forward_to": ["pg-test", "my-test"]}
            async with gateway_env(tmp_path, overrides=overrides, connections=conns) as env:
                conn = await _ssh(env)
                async with conn:
                    to_pg = await conn.forward_local_port("127.0.0.1", 0, "pg-test", 5432)
                    to_my = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", 3306)
                    db = await asyncpg.connect(
                        host="127.0.0.1", port=to_pg.get_port(), user="anyone",
                        database="pg-test", password="not-used", ssl=False,
                    )  # fmt: skip
                    try:
                        assert await db.fetchval("SELECT count(*) FROM t") == 3
                    finally:
                        await db.close()
                    rows = await asyncio.to_thread(_read_through, to_my.get_port())
                    assert rows == ((len(ROWS),),)
            for name in ("pg-test", "my-test"):
                [session] = await env.gw.runtime.repository.list_sessions(connection=name)
                assert session.identity.subject == "alice@example.com"


def _read_through(port: int) -> tuple[tuple[Any, ...], ...]:
    """SELECT count(*) FROM t with PyMySQL through a forwarded port, naming any database."""
    conn = _connect(port, "any-name")
    try:
        return _run(conn, "SELECT count(*) FROM t")
    finally:
        conn.close()


def test_a_connection_only_forwards_reach_is_named_so() -> None:
    """With no MySQL listener, a MySQL connection in a forward_to is named at start as reached
    only by SSH forwards; one in no forward_to as not served."""
    ssh = ConnectionConfig(name="box", type="ssh", upstream="127.0.0.1:22", forward_to=["my-a"])
    connections = [
        ssh,
        *(ConnectionConfig(name=n, type="mysql", upstream="h:3306") for n in ("my-a", "my-b")),
    ]
    settings = Settings(connections=connections, listeners=ListenerSettings(ssh="127.0.0.1:0"))
    assert unserved_lines(settings) == [
        "airlock: connection my-a (mysql) is not served: no mysql listener (only SSH forwards "
        "reach it: forward_to)",
        "airlock: connection my-b (mysql) is not served: no mysql listener",
    ]


async def test_a_missing_password_of_a_forwarded_connection_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A MySQL connection only SSH forwards reach has its secret checked at start, not at the
    first forward: without it the gateway does not start."""
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    # (with a PostgreSQL connection the harness sees the start fail at once)
    conns = [my_connection("any", "any"), pg_connection("any")]
    with pytest.raises(ConfigError, match=f"my-test: environment variable {PASSWORD_ENV}"):
        async with gateway_env(tmp_path, overrides={"forward_to": ["my-test"]}, connections=conns):
            pass


async def test_ctrl_c_through_the_tunnel_cancels_the_held_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the tunnel a connection naming no database is the mysql client's Ctrl-C: its
    KILL QUERY of the tunnel's held session cancels the review (1317) and nothing ran."""
    with maria_target() as (database, user, password):
        monkeypatch.setenv(PASSWORD_ENV, password)
        my = my_connection(database, user, approvers=OPS)
        async with gateway_env(
            tmp_path, overrides={"forward_to": ["my-test"]}, connections=[my]
        ) as env:
            conn = await _ssh(env)
            async with conn:
                port = (await conn.forward_local_port("127.0.0.1", 0, "my-test", 3306)).get_port()
                held = await asyncio.to_thread(_connect, port, "my-test")
                try:
                    deleting = asyncio.create_task(asyncio.to_thread(_run, held, "DELETE FROM t"))
                    review = await env.pending_review(connection="my-test")
                    # The mysql client's Ctrl-C connection: no database, then KILL QUERY.
                    killer = await RawClient.connect(port)
                    try:
                        assert (await killer.login("not-used", database="")).payload[0] == 0
                        thread_id = held.thread_id()  # type: ignore[no-untyped-call]
                        [ok] = await killer.query(f"KILL QUERY {thread_id}")
                        assert ok.payload[0] == 0
                    finally:
                        killer.close()
                    with pytest.raises(pymysql.err.OperationalError) as caught:
                        await deleting
                    assert caught.value.args[0] == 1317
                finally:
                    held.close()
            assert (await env.review(review.id)).state is ReviewState.CANCELLED
            assert _count(database, user, password) == len(ROWS)


def _connect(port: int, database: str) -> pymysql.Connection[Any]:
    """PyMySQL through a forwarded port (any password)."""
    return pymysql.connect(
        host="127.0.0.1", port=port, user="anyone", password="not-used", database=database,
        connect_timeout=10, read_timeout=30, autocommit=True,
    )  # fmt: skip


def _run(conn: pymysql.Connection[Any], sql: str) -> tuple[tuple[Any, ...], ...]:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return tuple(tuple(row) for row in cursor.fetchall())


async def test_access_to_the_forwarded_connection_is_checked_for_the_ssh_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forward to a MySQL connection alice's groups may not use is opened, but its handshake
    ends with 1044 (access denied) and no session starts."""
    with maria_target() as (database, user, password):
        monkeypatch.setenv(PASSWORD_ENV, password)
        my = my_connection(database, user, allow_groups=["finance"])
        async with gateway_env(
            tmp_path, overrides={"forward_to": ["my-test"]}, connections=[my]
        ) as env:
            conn = await _ssh(env)
            async with conn:
                port = (await conn.forward_local_port("127.0.0.1", 0, "my-test", 3306)).get_port()
                with pytest.raises(pymysql.err.OperationalError) as caught:
                    await asyncio.to_thread(_connect, port, "my-test")
                assert caught.value.args[0] == 1044
            assert await env.gw.runtime.repository.list_sessions(connection="my-test") == []


async def test_revoking_the_delegation_ends_the_tunnel_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside a tunnel alice uses her delegation on my-test; revoking it ends that MySQL
    session (its record says revoked) while the SSH session stays."""
    with maria_target() as (database, user, password):
        monkeypatch.setenv(PASSWORD_ENV, password)
        my = my_connection(database, user, access="request", approvers=OPS)
        async with gateway_env(
            tmp_path, overrides={"forward_to": ["my-test"]}, connections=[my]
        ) as env:
            async with env.gw.client(env.token) as http:
                asked = await http.post(
                    "/v1/access-requests",
                    json={"connection": "my-test", "duration": "1h", "reason": "INC-8"},
                )
                assert asked.status_code == 201, asked.text
            await env.decide(asked.json()["id"], "approve", "ok")
            async with env.gw.client(env.token) as http:
                delegation = (await http.get("/v1/delegations")).json()[0]["id"]
            conn = await _ssh(env)
            async with conn:
                port = (await conn.forward_local_port("127.0.0.1", 0, "my-test", 3306)).get_port()
                db = await asyncio.to_thread(_connect, port, "my-test")
                try:
                    assert await asyncio.to_thread(_run, db, "SELECT count(*) FROM t") == ((3,),)
                    async with env.gw.client(env.token) as http:
                        revoked = await http.post(
                            f"/v1/delegations/{delegation}/revoke", json={"reason": "done"}
                        )
                        assert revoked.status_code == 200, revoked.text
                    session = await _ended(env, "my-test")
                    assert session.stats["end"] == "revoked"
                    with pytest.raises(pymysql.err.OperationalError):
                        await asyncio.to_thread(_run, db, "SELECT 1")
                finally:
                    db.close()
                assert not conn.is_closed()


async def _ended(env: Env, connection: str) -> Any:
    """The session record on ``connection`` once it has ended (within 5 s)."""
    async with asyncio.timeout(5):
        while True:
            [session] = await env.gw.runtime.repository.list_sessions(connection=connection)
            if session.ended_at is not None:
                return session
            await asyncio.sleep(0.02)
