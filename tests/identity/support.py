"""Support for the identity tests: a gateway that trusts the local OIDC issuer, a target
database, psql through the gateway (one-shot or held open), and the token endpoint's grants.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from gateway.identity.grants import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE
from tests.conftest import fresh_pg_database
from tests.harness import RunningGateway, pg_connection, running_gateway
from tests.support.oidc_issuer import OidcIssuer

__all__ = [
    "ADMIN",
    "Psql",
    "Target",
    "client_credentials",
    "connect_error",
    "create_account",
    "exchange",
    "identity_gateway",
    "psql",
    "target_database",
    "wait_until",
]

ADMIN = ("root@example.com", ["airlock-admins"])


class Target:
    """A fresh upstream database with a table ``t`` (three rows)."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.name = str(parsed.database)
        self.dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)

    def connection(self, name: str = "pg-test", **overrides: Any) -> dict[str, Any]:
        """A connection to this database where ``pg_sleep`` runs (the defaults hold it)."""
        sleeps = {"name": "sleeps", "action": "allow", "kind": "review", "function": "pg_sleep"}
        return pg_connection(self.name, name, **{"rules": [sleeps], **overrides})

    async def running(self, needle: str) -> bool:
        """Whether a statement containing ``needle`` is running upstream right now."""
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch(
                "SELECT 1 FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()",
                f"%{needle}%",
            )
        finally:
            await conn.close()
        return bool(rows)


@contextlib.asynccontextmanager
async def target_database() -> AsyncIterator[Target]:
    async with fresh_pg_database() as url:
        target = Target(url)
        conn = await asyncpg.connect(target.dsn)
        try:
            await conn.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
            await conn.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        finally:
            await conn.close()
        yield target


@contextlib.asynccontextmanager
async def identity_gateway(
    tmp_path: Path,
    *,
    connections: Iterable[Mapping[str, Any]],
    issuer: OidcIssuer | None = None,
    store_url: str | None = None,
    identity: Mapping[str, str] | None = None,
    name: str = "gw",
) -> AsyncIterator[RunningGateway]:
    """A whole gateway (no chat) whose ``[identity]`` trusts ``issuer``; JWKS refetched on any
    unknown key, usage flushed every second."""
    settings = {"jwks_min_refresh": "0s", "usage_flush": "1s", **(identity or {})}
    if issuer is not None:
        settings["issuer"] = issuer.issuer
    lines = ["[identity]", *(f'{k} = "{v}"' for k, v in settings.items())]
    directory = tmp_path / name
    directory.mkdir(exist_ok=True)
    async with running_gateway(
        directory,
        connections=connections,
        store_url=store_url,
        extra_toml="\n".join(lines) + "\n",
        mode="gateway",
    ) as gw:
        yield gw


async def psql(
    gw: RunningGateway, token: str, sql: str, *, connection: str = "pg-test", within: float = 20
) -> tuple[int, str, str]:
    """``psql -c SQL`` through the gateway with ``token`` as the password."""
    session = await Psql(gw, token, sql, connection=connection).start()
    return await session.result(within)


class Psql:
    """One ``psql -c`` through the gateway, started in the background."""

    def __init__(self, gw: RunningGateway, token: str, sql: str, *, connection: str = "pg-test"):
        self.gw, self.token, self.sql, self.connection = gw, token, sql, connection
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Psql:
        env = dict(os.environ, PGPASSWORD=self.token, PGSSLMODE="disable", PGCONNECT_TIMEOUT="10")
        self.proc = await asyncio.create_subprocess_exec(
            "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose",
            "-h", "127.0.0.1", "-p", str(self.gw.pg_port), "-U", "agent",
            "-d", self.connection, "-c", self.sql,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return self

    async def result(self, within: float = 20.0) -> tuple[int, str, str]:
        assert self.proc is not None
        out, err = await asyncio.wait_for(self.proc.communicate(), within)
        return self.proc.returncode or 0, out.decode(), err.decode()


async def wait_until(check: Any, *, within: float = 10.0, what: str = "the condition") -> None:
    """Poll the (async or plain) ``check`` until it is true."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def create_account(
    gw: RunningGateway, name: str, groups: Iterable[str] = (), **fields: Any
) -> tuple[str, str]:
    """Create a service account as an admin; (client id, secret)."""
    async with gw.client(gw.token(*ADMIN)) as http:
        answer = await http.post(
            "/v1/service-accounts", json={"name": name, "groups": list(groups), **fields}
        )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["client_id"], body["client_secret"]


async def client_credentials(
    gw: RunningGateway, client_id: str, secret: str, **form: str
) -> httpx.Response:
    """``grant_type=client_credentials`` with client_secret_basic."""
    async with httpx.AsyncClient(base_url=gw.api_url, timeout=30) as http:
        return await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", **form},
            auth=(client_id, secret),
        )


async def exchange(
    gw: RunningGateway, subject_token: str, actor_token: str, **form: str
) -> httpx.Response:
    """An RFC 8693 token exchange at ``/oauth/token``."""
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "actor_token": actor_token,
        "actor_token_type": ACCESS_TOKEN_TYPE,
        **form,
    }
    async with httpx.AsyncClient(base_url=gw.api_url, timeout=30) as http:
        return await http.post("/oauth/token", data=data)


async def connect_error(
    gw: RunningGateway, token: str, connection: str = "pg-test"
) -> tuple[str, str]:
    """(SQLSTATE, message) of the connection attempt's refusal (asyncpg shows the SQLSTATE
    that psql does not print for a failed start-up)."""
    try:
        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=gw.pg_port,
            user="agent",
            database=connection,
            password=token,
            ssl=False,
            timeout=10,
        )
    except asyncpg.PostgresError as exc:
        return str(exc.sqlstate), str(exc)
    await conn.close()
    raise AssertionError("the connection was accepted")
