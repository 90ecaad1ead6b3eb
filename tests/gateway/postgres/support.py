"""Support for the PostgreSQL gateway's end-to-end tests: a fresh database per module or test,
a gateway in front of it, psql as a subprocess, decisions through the HTTP API, and a raw
protocol client for the tests that must send bytes no driver would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from approvals import Review
from gateway.postgres import wire as pg
from gateway.sessions.statement_log import expand
from tests.conftest import fresh_pg_database
from tests.harness import RawStream, RunningGateway, finish, pg_connection, running_gateway

__all__ = [
    "ROWS",
    "Env",
    "RawClient",
    "gateway_env",
    "psql",
]

SCHEMA = """
CREATE TABLE t (
    id int PRIMARY KEY,
    name text,
    ssn text,
    card_number text,
    email text,
    balance numeric
);
"""
# Values the masking tests look for in clear: valid SSNs, Luhn-valid cards with brand prefixes.
ROWS: tuple[tuple[int, str, str | None, str | None, str, int], ...] = (
    (1, "alice", "078-05-1121", "4111111111111111", "alice@example.com", 10),
    (2, "bob", "219-09-9998", "5500005555555559", "bob@example.com", 20),
    (3, "carol", None, None, "carol@example.com", 30),
)
MASKING = {"columns": ["ssn", "card_number"], "detectors": ["credit_card", "ssn", "email"]}


async def reset_table(dsn: str) -> None:
    """Recreate table t with ROWS, directly upstream."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP TABLE IF EXISTS t")
        await conn.execute(SCHEMA)
        await conn.executemany("INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6)", ROWS)
    finally:
        await conn.close()


@dataclass
class Env:
    """One gateway in front of one fresh database, with tokens and helpers."""

    gw: RunningGateway
    database: str
    dsn: str  # direct to the upstream database (bypassing the gateway)

    @property
    def port(self) -> int:
        return self.gw.pg_port

    @property
    def token(self) -> str:
        return self.gw.token("alice@example.com", ["eng"])

    @property
    def approver(self) -> str:
        return self.gw.token("bob@example.com", ["dba"])

    def dsn_via(self, connection: str = "pg-test", **params: str) -> str:
        """A libpq conninfo string for the gateway (psycopg)."""
        parts = {
            "host": "127.0.0.1",
            "port": str(self.port),
            "user": "alice",
            "dbname": connection,
            "password": self.token,
            "sslmode": "disable",
            **params,
        }
        return " ".join(f"{k}='{v}'" for k, v in parts.items())

    async def asyncpg(self, connection: str = "pg-test", **kwargs: Any) -> asyncpg.Connection:
        """An asyncpg connection through the gateway."""
        return await asyncpg.connect(
            host="127.0.0.1",
            port=self.port,
            user="alice",
            database=connection,
            password=self.token,
            ssl=False,
            **kwargs,
        )

    async def upstream(self, sql: str, *args: Any) -> list[Any]:
        """Run a query directly on the upstream database (not through the gateway)."""
        conn = await asyncpg.connect(self.dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def count(self) -> int:
        """Rows in t, read directly upstream."""
        rows = await self.upstream("SELECT count(*) AS n FROM t")
        return int(rows[0]["n"])

    async def reset(self) -> None:
        await reset_table(self.dsn)

    async def psql(self, sql: str | None = None, **kwargs: Any) -> tuple[int, str, str]:
        return await psql(self.port, self.token, sql, **kwargs)

    async def pending_review(self, connection: str = "pg-test", within: float = 10) -> Review:
        """Wait for the newest pending review on the connection."""
        return await self.gw.pending_review(connection, within)

    async def review(self, review_id: str) -> Review:
        return await self.gw.review(review_id)

    async def final_review(self, review_id: str, within: float = 10) -> Review:
        """Wait until the review is final."""
        async with asyncio.timeout(within):
            review = await self.review(review_id)
            while not review.is_final:
                await asyncio.sleep(0.02)
                review = await self.review(review_id)
        return review

    async def decide(self, review_id: str, outcome: str, reason: str | None = None) -> None:
        """Approve or deny through the HTTP API, as an approver in group dba."""
        async with self.gw.client(self.approver) as http:
            answer = await http.post(
                f"/v1/reviews/{review_id}/decisions",
                json={"outcome": outcome, "reason": reason},
            )
        assert answer.status_code == 200, answer.text

    async def audit(self, session_id: str | None = None) -> list[StatementEvent]:
        """Every statement of the batched ``statements`` audit events (optionally of one
        session), in the order they finished, once the writer caught up."""
        await asyncio.sleep(0.1)
        records = await self.gw.runtime.repository.list_audit(connection=None, limit=10_000)
        found = [
            StatementEvent(item, r.actor_subject, r.connection, r.target, r.seq)
            for r in records
            if r.action == "statements" and (session_id is None or r.target == session_id)
            for item in expand(r.details, r.at)
        ]
        return sorted(found, key=lambda e: (e.details["at"], e.seq))


@dataclass(frozen=True)
class StatementEvent:
    """One statement out of a batched audit event, shaped like an audit record."""

    details: dict[str, Any]
    actor_subject: str | None
    connection: str | None
    target: str
    seq: int

    @property
    def outcome(self) -> str:
        return str(self.details["outcome"])


@contextlib.asynccontextmanager
async def gateway_env(
    tmp_path: Path,
    *,
    connections: Sequence[Mapping[str, Any]] = (),
    listener_options: Mapping[str, Any] | None = None,
    gateway_options: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[Env]:
    """A fresh database with table t, and a gateway whose connection pg-test points at it
    (``overrides`` go to that connection; ``connections`` are added beside it;
    ``gateway_options`` to ``[gateway]``)."""
    async with fresh_pg_database() as url:
        database = make_url(url).database
        assert database is not None
        dsn = f"postgresql://postgres@127.0.0.1:5432/{database}"
        await reset_table(dsn)
        conns = [pg_connection(database, **overrides)]
        conns += [{**pg_connection(database), **c} for c in connections]
        async with running_gateway(
            tmp_path,
            connections=conns,
            listener_options=listener_options,
            gateway_options=gateway_options,
        ) as gw:
            yield Env(gw, database, dsn)


async def psql(
    port: int,
    token: str,
    sql: str | None = None,
    *,
    script: str | None = None,
    database: str = "pg-test",
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    within: float = 30,
) -> tuple[int, str, str]:
    """Run psql against the gateway: ``-c sql`` or ``script`` on stdin; (code, stdout, stderr)."""
    environ = dict(os.environ, PGPASSWORD=token, PGSSLMODE="disable", PGCONNECT_TIMEOUT="10")
    environ.update(env or {})
    command = ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"]
    command += ["-p", str(port), "-U", "alice", "-d", database, *args]
    command += ["-c", sql] if sql is not None else ["-f", "-"]
    proc = await asyncio.create_subprocess_exec(
        *command,
        env=environ,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return await finish(proc, (script or "").encode(), within)


class RawClient(RawStream):
    """A protocol client over a plain socket that can send anything, valid or not."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.parser = pg.ServerParser()
        self.key: pg.BackendKeyData | None = None

    async def login(self, token: str, database: str = "pg-test") -> list[pg.BackendMessage]:
        """StartupMessage and the token; the messages up to ReadyForQuery (or an error)."""
        self.send(pg.StartupMessage({"user": "alice", "database": database}))
        first = await self.read()
        if isinstance(first, pg.ErrorResponse):
            return [first]
        assert isinstance(first, pg.AuthenticationCleartextPassword), first
        self.send(pg.PasswordMessage(token))
        messages = await self.until_ready()
        self.key = next((m for m in messages if isinstance(m, pg.BackendKeyData)), None)
        return messages

    def send(self, *messages: pg.FrontendMessage) -> None:
        self.writer.write(b"".join(pg.encode(m) for m in messages))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def read(self, within: float = 10) -> pg.BackendMessage:
        """The next message; ConnectionError when the gateway closed the connection."""
        async with asyncio.timeout(within):
            while (event := self.parser.next_event()) is pg.NEED_DATA:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("the gateway closed the connection")
                self.parser.receive_data(data)
        assert not isinstance(event, pg.NeedData)
        return event

    async def until_ready(self, within: float = 10) -> list[pg.BackendMessage]:
        """Messages up to and including ReadyForQuery (or up to a FATAL error)."""
        out = [await self.read(within)]
        while not isinstance(out[-1], pg.ReadyForQuery):
            if isinstance(out[-1], pg.ErrorResponse) and out[-1].severity == "FATAL":
                return out
            out.append(await self.read(within))
        return out


def startup_packet(params: Mapping[str, str], code: int = pg.PROTOCOL_3_0) -> bytes:
    """A startup packet built by hand (to send what encode() would refuse)."""
    body = struct.pack("!i", code)
    for key, value in params.items():
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body
