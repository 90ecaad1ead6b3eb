"""Masking through the wire: masked values never leave the gateway in clear, with any client,
text or binary, simple or extended, described once and executed many times."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import asyncpg
import psycopg
import pytest
import pytest_asyncio

from gateway.postgres import wire as pg
from tests.gateway.postgres.support import MASKING, ROWS, Env, RawClient, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Every sensitive value of the table, and a bare-digit SSN added below (no detector finds
# 9 bare digits without column context: only the column rule can).
CLEAR = [v for row in ROWS for v in (row[2], row[3], row[4]) if v]
BARE_SSN = "078051120"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path_factory.mktemp("masking"), masking=MASKING) as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: Env) -> None:
    await env.reset()
    await env.upstream("INSERT INTO t (id, name, ssn) VALUES (4, 'dan', $1)", BARE_SSN)


def _no_clear(values: Iterable[object], *, bare: bool = True) -> None:
    text = " ".join(str(v) for v in values)
    for clear in [*CLEAR, BARE_SSN] if bare else CLEAR:
        assert clear not in text, f"{clear} left the gateway in clear"


async def test_psql(env: Env) -> None:
    """psql sees masked values in every sensitive column."""
    code, out, err = await env.psql("SELECT * FROM t ORDER BY id")
    assert code == 0, err
    _no_clear([out])
    assert "1|alice|***-**-1121|************1111|a***@example.com|10" in out


async def test_psycopg_text_simple(env: Env) -> None:
    """psycopg, simple protocol, text format."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        cur = psycopg.AsyncClientCursor(conn)
        await cur.execute("SELECT * FROM t; SELECT email, ssn FROM t")
        rows = await cur.fetchall()
        assert cur.nextset()
        rows += await cur.fetchall()
    _no_clear(rows)
    assert rows[0][2:5] == ("***-**-1121", "************1111", "a***@example.com")


@pytest.mark.parametrize("binary", [False, True])
async def test_psycopg_extended(env: Env, binary: bool) -> None:
    """psycopg, extended protocol, text and binary results."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        cur = conn.cursor(binary=binary)
        await cur.execute("SELECT id, ssn, card_number, email FROM t WHERE id > %s", (0,))
        rows = await cur.fetchall()
    _no_clear(rows)
    assert (1, "***-**-1121", "************1111", "a***@example.com") in rows


async def test_psycopg_prepared_many_times(env: Env) -> None:
    """psycopg prepare=True: one Describe, many Executes, every one masked."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        rows = []
        for i in (1, 2, 1, 2, 4):
            cur = await conn.execute(
                "SELECT ssn, card_number FROM t WHERE id = %s", (i,), prepare=True
            )
            rows += await cur.fetchall()
    _no_clear(rows)
    assert rows[0] == ("***-**-1121", "************1111")


async def test_asyncpg_prepared_many_times(env: Env) -> None:
    """asyncpg (binary): a prepared statement fetched several times stays masked."""
    conn: Any = await env.asyncpg()
    try:
        stmt = await conn.prepare("SELECT id, ssn, card_number, email FROM t ORDER BY id")
        rows = [tuple(r) for _ in range(3) for r in await stmt.fetch()]
        rows += [tuple(await conn.fetchrow("SELECT ssn, email FROM t WHERE id = $1", 2))]
    finally:
        await conn.close()
    _no_clear(rows)
    assert rows[0] == (1, "***-**-1121", "************1111", "a***@example.com")


async def test_filter_on_masked_column(env: Env) -> None:
    """WHERE ssn = '<clear value>' still finds the row upstream; the value comes back masked."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        cur = await conn.execute("SELECT id, ssn FROM t WHERE ssn = %s", ("078-05-1121",))
        assert await cur.fetchall() == [(1, "***-**-1121")]


async def _fetch(env: Env, sql: str) -> list[tuple[object, ...]]:
    conn: Any = await env.asyncpg()
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ssn AS x, card_number AS y FROM t",
        "SELECT x FROM (SELECT ssn AS x FROM t) s",
        "WITH c AS (SELECT card_number AS n, ssn AS m FROM t) SELECT n, m FROM c",
        "SELECT t.* FROM t",
    ],
)
async def test_aliases(env: Env, sql: str) -> None:
    """Aliases, subqueries and CTEs keep the real column (table OID, attribute number): the
    column rule masks even a bare value no detector would find."""
    _no_clear(await _fetch(env, sql))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ssn || '' AS x, upper(email) AS y, card_number::text AS z FROM t",
        "SELECT string_agg(ssn, ',') AS s, 'card ' || max(card_number) AS c FROM t",
        "SELECT ssn || '' FROM t WHERE id = 4",
        "SELECT lower(ssn), substr(ssn, 1, 9) FROM t",
        "SELECT (SELECT ssn FROM t WHERE id = 4) AS x",
        "SELECT x FROM (SELECT ssn || '' AS x FROM t) s",
        "WITH c AS (SELECT concat(ssn, '') AS m FROM t) SELECT m FROM c",
        "SELECT concat(ssn, '') FROM t UNION ALL SELECT 'x'",
    ],
)
async def test_expressions(env: Env, sql: str) -> None:
    """Expressions report no column; those computed from a masked column are masked whole
    (even a bare value no detector finds), the rest go through the detectors."""
    _no_clear(await _fetch(env, sql))


async def test_expressions_extended_and_binary(env: Env) -> None:
    """The same in the extended protocol, binary results, one Describe and many Executes."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        rows = []
        for i in (4, 1, 4):
            cur = conn.cursor(binary=True)
            await cur.execute("SELECT id, ssn || '' AS x FROM t WHERE id = %s", (i,), prepare=True)
            rows += await cur.fetchall()
    _no_clear(rows)
    assert [r[0] for r in rows] == [4, 1, 4]


async def test_prepared_cursor_and_returning(env: Env) -> None:
    """Rows from EXECUTE and FETCH (texts seen earlier) and RETURNING are masked too."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        cur = psycopg.AsyncClientCursor(conn)
        await cur.execute("PREPARE p AS SELECT ssn || '' FROM t")
        await cur.execute("EXECUTE p")
        rows = await cur.fetchall()
        async with conn.transaction():
            await cur.execute("DECLARE k CURSOR FOR SELECT upper(ssn) FROM t")
            await cur.execute("FETCH ALL FROM k")
            rows += await cur.fetchall()
        await cur.execute("UPDATE t SET name = name WHERE id = 4 RETURNING ssn || ''")
        rows += await cur.fetchall()
    assert len(rows) == 4 + 4 + 1
    _no_clear(rows)


async def test_filtering_and_unrelated_expressions_are_not_masked(env: Env) -> None:
    """Filtering on a masked column derives nothing; expressions over other columns of the
    same statement are left alone when the masked column is a plain output."""
    rows = await _fetch(env, "SELECT count(*) FROM t WHERE ssn = '078-05-1121'")
    assert rows == [(1,)]
    rows = await _fetch(env, "SELECT id, ssn, upper(name) FROM t WHERE id = 1")
    assert rows == [(1, "***-**-1121", "ALICE")]


async def test_bare_value_under_alias(env: Env) -> None:
    """A bare 9-digit SSN under an alias is masked by the column rule, bound to the column."""
    code, out, err = await env.psql("SELECT ssn AS x FROM t WHERE id = 4")
    assert code == 0, err
    assert out.strip() == "*****1120"


async def test_copy_out_refused(env: Env) -> None:
    """COPY ... TO STDOUT is refused with a clear message (simple and extended protocol)."""
    code, _, err = await env.psql("\\copy t to stdout")
    assert code == 1
    assert "COPY TO STDOUT is refused on pg-test" in err
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="COPY output cannot"):
            async with conn.cursor().copy("COPY (SELECT ssn FROM t) TO STDOUT") as copy:
                async for _ in copy:
                    pass
    client = await RawClient.connect(env.port)
    await client.login(env.token)
    client.send(pg.Parse("", "COPY t TO STDOUT"), pg.Bind("", ""), pg.Execute(""), pg.Sync())
    messages = await client.until_ready()
    client.close()
    assert not any(isinstance(m, pg.CopyOutResponse | pg.CopyData) for m in messages)
    errors = [m for m in messages if isinstance(m, pg.ErrorResponse)]
    assert [e.sqlstate for e in errors] == ["42501"]


async def test_copy_in_allowed(env: Env) -> None:
    """COPY FROM STDIN (nothing comes back) still works on a masked connection."""
    conn = await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True)
    async with conn, conn.cursor().copy("COPY t (id, name) FROM STDIN") as copy:
        await copy.write_row((30, "z"))
    assert await env.count() == 5


async def test_error_text_is_masked(env: Env) -> None:
    """A value quoted in an error message is redacted; a DETAIL quoting rows is withheld."""
    conn: Any = await env.asyncpg()
    try:
        with pytest.raises(asyncpg.InvalidTextRepresentationError) as bad_cast:
            await conn.fetch("SELECT ssn::int FROM t WHERE id = 1")
        with pytest.raises(asyncpg.UniqueViolationError) as duplicate:
            await conn.execute("CREATE UNIQUE INDEX ON t (ssn)")
            await conn.execute("INSERT INTO t (id, ssn) VALUES (40, '078-05-1121')")
    finally:
        await conn.close()
    assert 'integer: "***"' in str(bad_cast.value) and "1121" not in str(bad_cast.value)
    assert "078-05-1121" not in str(duplicate.value.detail)
    assert "withheld" in str(duplicate.value.detail)


async def test_notify_payload_is_withheld(env: Env) -> None:
    """A notification's payload is withheld on a masked connection (its channel still comes):
    a trigger or another session may have built it from a masked column."""
    conn: Any = await env.asyncpg()
    received: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    try:
        await conn.add_listener("leak", lambda *args: received.put_nowait((args[2], args[3])))
        await env.upstream("SELECT pg_notify('leak', card_number) FROM t WHERE id = 1")
        async with asyncio.timeout(5):
            channel, payload = await received.get()
    finally:
        await conn.close()
    assert (channel, payload) == ("leak", "")


async def test_session_records_masked_counts(env: Env) -> None:
    """The session row counts what was masked, per column rule and detector."""
    conn: Any = await env.asyncpg()
    await conn.fetch("SELECT ssn, card_number, email FROM t")
    await conn.close()
    repository = env.gw.runtime.repository
    async with asyncio.timeout(5):
        while True:
            [session] = await repository.list_sessions(connection="pg-test", limit=1)
            if session.ended_at is not None:
                break
            await asyncio.sleep(0.02)
    masked = session.stats["masked"]
    assert masked.get("ssn", 0) >= 3 and masked.get("card_number", 0) >= 2, masked
    assert masked.get("email", 0) >= 3, masked


async def test_sql_prepared_statement_bound_through_the_protocol(env: Env) -> None:
    """A statement made with SQL PREPARE and bound with the protocol's Bind: its rows are
    masked like the PREPAREd query's outputs."""
    client = await RawClient.connect(env.port)
    try:
        await client.login(env.token)
        client.send(pg.Query("PREPARE p AS SELECT ssn || '' AS x FROM t WHERE id = 4"))
        await client.until_ready()
        client.send(pg.Bind("", "p"), pg.Execute(""), pg.Sync())
        answer = await client.until_ready()
        rows = [m.values for m in answer if isinstance(m, pg.DataRow)]
        assert len(rows) == 1, answer
        _no_clear([value for row in rows for value in row])
    finally:
        client.close()
