"""The rule catalogue through the real gateway (issue #17, classes 4, 5 and 13): psql, psycopg
and asyncpg against the real PostgreSQL, asserting what ran upstream.

- SQL hidden in strings: a query inside ts_rewrite / query_to_xml / ts_stat advances a sequence
  when run directly; through the gateway it is blocked and the sequence does not move.
- Settings: a custom setting holding a secret is held, never shown; harmless ones are read.
- Renames, moves, SET UNLOGGED, ALTER SEQUENCE RESTART: held, denied, and the object is as it
  was upstream.
- False holds: nextval in INSERT VALUES, DROP NOT NULL, VACUUM (FULL false),
  pg_stat_clear_snapshot() run at once, with no review, and their effect is upstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import psycopg
import pytest
import pytest_asyncio

from approvals import ReviewState
from tests.gateway.postgres.support import Env, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROBE = "SELECT last_value, is_called FROM probe"
HIDDEN_QUERIES = [
    "SELECT ts_rewrite('a'::tsquery, 'SELECT nextval(''probe'')::text::tsquery, ''b''::tsquery')",
    "SELECT pg_catalog.ts_rewrite('a'::tsquery, $$SELECT nextval('probe')::text::tsquery, "
    "'b'::tsquery$$)",
    "SELECT query_to_xml('SELECT nextval(''probe'')', true, false, '')",
    "SELECT * FROM ts_stat('SELECT to_tsvector(nextval(''probe'')::text)')",
    "SELECT table_to_xml('t', true, false, '')",
    "SELECT \"ts_rewrite\"(to_tsquery('a'), 'SELECT nextval(''probe'')::text::tsquery, ''b''')",
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path_factory.mktemp("rules"), review_timeout="5s") as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_objects(env: Env) -> None:
    await env.reset()
    for sql in (
        "DROP SEQUENCE IF EXISTS probe",
        "CREATE SEQUENCE probe",
        "DROP SCHEMA IF EXISTS elsewhere CASCADE",
        "CREATE SCHEMA elsewhere",
        "DROP SEQUENCE IF EXISTS t_id_seq",
        "CREATE SEQUENCE t_id_seq START 100",
        "SELECT nextval('t_id_seq')",
    ):
        await env.upstream(sql)


async def _probe(env: Env) -> tuple[int, bool]:
    row = (await env.upstream(PROBE))[0]
    return int(row["last_value"]), bool(row["is_called"])


async def _refused(env: Env, run: Awaitable[Any]) -> BaseException:
    """Run what must not run: deny any review it opens; return its error."""
    task = asyncio.ensure_future(run)
    repository = env.gw.runtime.repository
    async with asyncio.timeout(15):
        while not task.done():
            for review in await repository.list_reviews(state=ReviewState.PENDING, limit=5):
                await env.decide(review.id, "deny", "rules test")
            await asyncio.sleep(0.02)
    error = task.exception()
    assert error is not None, f"ran without a review: {task.result()!r}"
    return error


async def _reviews(env: Env) -> int:
    return len(await env.gw.runtime.repository.list_reviews(limit=10_000))


async def _psycopg(env: Env, sql: str) -> Any:
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        cur = psycopg.AsyncClientCursor(conn)
        await cur.execute(sql)
        return await cur.fetchall() if cur.description else cur.statusmessage


async def _asyncpg(env: Env, sql: str, *args: Any) -> Any:
    conn = await env.asyncpg()
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_hidden_queries_run_when_direct(env: Env) -> None:
    """The vector is real: run directly, a query hidden in a string advances the sequence."""
    await env.upstream(HIDDEN_QUERIES[0])
    assert await _probe(env) == (1, True)


@pytest.mark.parametrize("sql", HIDDEN_QUERIES)
async def test_hidden_queries_blocked_simple(env: Env, sql: str) -> None:
    """psycopg, simple protocol: blocked with 42501 naming the rule; the hidden query never
    ran (the sequence did not move) and no review was opened."""
    before = await _reviews(env)
    error = await _refused(env, _psycopg(env, sql))
    assert isinstance(error, psycopg.errors.InsufficientPrivilege), error
    assert "blocked by rule default/server_escape" in str(error)
    assert await _probe(env) == (1, False)
    assert await _reviews(env) == before


@pytest.mark.parametrize("sql", HIDDEN_QUERIES)
async def test_hidden_queries_blocked_extended(env: Env, sql: str) -> None:
    """asyncpg, extended protocol: blocked at Parse; the hidden query never ran."""
    error = await _refused(env, _asyncpg(env, sql))
    assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
    assert await _probe(env) == (1, False)


async def test_hidden_query_blocked_through_psql(env: Env) -> None:
    """psql shows 42501 and the rule for ts_rewrite with a query text; nothing ran."""
    code, _, err = await env.psql(HIDDEN_QUERIES[0], args=("-v", "VERBOSITY=verbose"))
    assert code == 1
    assert "42501: blocked by rule default/server_escape" in err
    assert await _probe(env) == (1, False)


async def test_pure_ts_rewrite_runs(env: Env) -> None:
    """ts_rewrite with three tsqueries is pure and runs without a review."""
    rows = await _asyncpg(env, "SELECT ts_rewrite('a & b'::tsquery, 'a'::tsquery, 'c'::tsquery)")
    assert rows[0][0] == "'b' & 'c'"


async def test_secret_setting_is_held_and_never_shown(env: Env) -> None:
    """A custom setting carrying a secret (set for the database upstream) is held when read by
    current_setting or SHOW, denied, and its value never reaches the client."""
    await env.upstream(f"ALTER DATABASE \"{env.database}\" SET app.jwt_secret = 's3cr3t-value'")
    try:
        for sql in ("SELECT current_setting('app.jwt_secret')", "SHOW app.jwt_secret"):
            error = await _refused(env, _psycopg(env, sql))
            assert isinstance(error, psycopg.errors.InsufficientPrivilege), error
            assert "s3cr3t" not in str(error)
        error = await _refused(env, _asyncpg(env, "SELECT * FROM pg_settings"))
        assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
    finally:
        await env.upstream(f'ALTER DATABASE "{env.database}" RESET app.jwt_secret')


async def test_harmless_settings_are_read(env: Env) -> None:
    """SHOW search_path and current_setting('server_version_num') run without a review."""
    before = await _reviews(env)
    assert await _psycopg(env, "SHOW search_path") == [('"$user", public',)]
    rows = await _asyncpg(env, "SELECT current_setting('server_version_num')::int AS v")
    assert rows[0]["v"] >= 150000
    assert await _reviews(env) == before


Check = Callable[[Env], Awaitable[object]]


async def _table_named(env: Env) -> object:
    return [r["n"] for r in await env.upstream("SELECT to_regclass('public.t')::text AS n")]


async def _columns(env: Env) -> object:
    sql = "SELECT attname FROM pg_attribute WHERE attrelid = 'public.t'::regclass AND attnum > 0"
    return sorted(r["attname"] for r in await env.upstream(sql))


async def _persistence(env: Env) -> object:
    return [
        r["p"]
        for r in await env.upstream(
            "SELECT relpersistence AS p FROM pg_class WHERE oid = 'public.t'::regclass"
        )
    ]


async def _sequence(env: Env) -> object:
    return [tuple(r) for r in await env.upstream("SELECT last_value, is_called FROM t_id_seq")]


async def _filenode(env: Env) -> object:
    return [r["f"] for r in await env.upstream("SELECT pg_relation_filenode('t') AS f")]


async def _schema_of_t(env: Env) -> object:
    sql = "SELECT relnamespace::regnamespace::text AS s FROM pg_class WHERE relname = 't'"
    return [r["s"] for r in await env.upstream(sql)]


MOVES: list[tuple[str, Check]] = [
    ("ALTER TABLE t RENAME TO u", _table_named),
    ("ALTER TABLE t RENAME COLUMN ssn TO s", _columns),
    ("ALTER TABLE t RENAME ssn TO s", _columns),
    ("ALTER TABLE t RENAME CONSTRAINT t_pkey TO k", _table_named),
    ("ALTER TABLE t SET SCHEMA elsewhere", _schema_of_t),
    ("ALTER TABLE t SET UNLOGGED", _persistence),
    ("ALTER SEQUENCE t_id_seq RESTART WITH 1", _sequence),
    ("ALTER SEQUENCE t_id_seq RESTART", _sequence),
    ("SELECT setval('t_id_seq', 1)", _sequence),
    ("ALTER SCHEMA public RENAME TO gone", _schema_of_t),
    ("BEGIN READ WRITE", _table_named),
    ("SET transaction_read_only = off", _table_named),
]


@pytest.mark.parametrize(("sql", "check"), MOVES, ids=[m[0] for m in MOVES])
async def test_moves_held_and_nothing_changed(env: Env, sql: str, check: Check) -> None:
    """Renames, moves, SET UNLOGGED, sequence restarts and read-write switches are held; once
    denied (42501), the object is exactly as it was upstream."""
    before = await check(env)
    error = await _refused(env, _psycopg(env, sql))
    assert isinstance(error, psycopg.errors.InsufficientPrivilege), error
    assert "denied by bob@example.com: rules test" in str(error)
    assert await check(env) == before


@pytest.mark.parametrize(("sql", "check"), MOVES[:4], ids=[m[0] for m in MOVES[:4]])
async def test_moves_held_extended(env: Env, sql: str, check: Check) -> None:
    """The same through asyncpg's extended protocol."""
    before = await check(env)
    error = await _refused(env, _asyncpg(env, sql))
    assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
    assert await check(env) == before


async def test_approved_rename_runs(env: Env) -> None:
    """A held rename, once approved, runs upstream: a hold, not a block."""
    task = asyncio.ensure_future(_psycopg(env, "ALTER TABLE t RENAME COLUMN name TO full_name"))
    review = await env.pending_review()
    await env.decide(review.id, "approve", "ok")
    assert await task == "ALTER TABLE"
    assert "full_name" in await _columns(env)  # type: ignore[operator]


async def test_false_holds_run_at_once(env: Env) -> None:
    """The review's false holds run without a review, each with its effect upstream: nextval
    in INSERT VALUES (simple and extended), DROP NOT NULL, VACUUM (FULL false),
    pg_stat_clear_snapshot()."""
    await env.upstream("ALTER TABLE t ALTER COLUMN name SET NOT NULL")
    before = await _reviews(env)
    async with asyncio.timeout(4):  # a hold would wait for its 5s review timeout
        sql = "INSERT INTO t (id, name) VALUES (nextval('t_id_seq'), 'dave') RETURNING id"
        assert await _psycopg(env, sql) == [(101,)]
        rows = await _asyncpg(
            env,
            "INSERT INTO t (id, name) VALUES (nextval('t_id_seq'::regclass), $1) RETURNING id",
            "erin",
        )
        assert rows[0]["id"] == 102
        assert await _psycopg(env, "ALTER TABLE t ALTER COLUMN name DROP NOT NULL") == "ALTER TABLE"
        assert await _psycopg(env, "VACUUM (FULL false) t") == "VACUUM"
        assert await _psycopg(env, "SELECT pg_stat_clear_snapshot()") == [("",)]
        code, out, err = await env.psql("SELECT pg_catalog.pg_stat_clear_snapshot()")
        assert (code, out.strip()) == (0, ""), err
    assert await _reviews(env) == before
    names = await env.upstream("SELECT name FROM t WHERE id > 100 ORDER BY id")
    assert [r["name"] for r in names] == ["dave", "erin"]
    null = await env.upstream(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'name'"
    )
    assert null[0]["attnotnull"] is False


async def test_false_hold_fixes_open_nothing(env: Env) -> None:
    """The same shapes with a real effect are still held: nextval outside VALUES, VACUUM FULL;
    denied, the sequence and the table are as they were."""
    held = [
        ("SELECT nextval('t_id_seq') FROM generate_series(1, 5)", _sequence),
        ("INSERT INTO t (id) SELECT nextval('t_id_seq') FROM generate_series(1, 5)", _sequence),
        ("VACUUM (FULL true) t", _filenode),
        ("VACUUM (FULL) t", _filenode),
    ]
    for sql, check in held:
        before = await check(env)
        error = await _refused(env, _psycopg(env, sql))
        assert isinstance(error, psycopg.errors.InsufficientPrivilege), error
        assert await check(env) == before
