"""Routes around the masked result set, through the real gateway: whole rows, error texts,
settings, notifications, new objects, renames and statistics never carry a masked value out.

Each test asserts what the client got (a refusal naming its rule, or redacted text) and what
ran upstream (objects not created, rows and settings unchanged), with psql, psycopg and asyncpg.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import psycopg
import pytest
import pytest_asyncio

from gateway.postgres import fastlane
from gateway.postgres import wire as pg
from gateway.postgres.textmask import FROM_CODE
from tests.gateway.postgres.support import MASKING, ROWS, Env, RawClient, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLEAR = [v for row in ROWS for v in (row[2], row[3], row[4]) if v]
# Fragments of the clear values a transformed leak would still show.
FRAGMENTS = ["1121", "9998", "078", "219", "4111", "5559", "alice@", "bob@", "ahi", "bbcb"]
DETECT_ONLY = {"detectors": ["credit_card", "ssn", "email"]}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(
        tmp_path_factory.mktemp("masking-routes"),
        masking=MASKING,
        connections=[{"name": "pg-detect", "masking": DETECT_ONLY}],
    ) as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: Env) -> None:
    await env.reset()
    await env.upstream("DROP TABLE IF EXISTS log, x1, x2 CASCADE")
    await env.upstream("DROP VIEW IF EXISTS v1")
    await env.upstream("DROP MATERIALIZED VIEW IF EXISTS m1")
    await env.upstream("CREATE TABLE log (id serial PRIMARY KEY, v text)")


@pytest.fixture(params=[True, False], ids=["compiled-lane", "python-lane"])
def lane(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    """Both fast lanes: the compiled one (the default) and the Python reference."""
    compiled = bool(request.param)
    assert fastlane.AVAILABLE
    monkeypatch.setattr(fastlane, "AVAILABLE", compiled)
    yield compiled


def _no_clear(text: object, *, fragments: bool = False) -> None:
    for clear in CLEAR + (FRAGMENTS if fragments else []):
        assert clear not in str(text), f"{clear} left the gateway in {text!r}"


async def _refused(env: Env, sql: str, rule: str, *, binary: bool = False) -> None:
    """psycopg (extended protocol, text or binary) gets 42501 naming ``rule``."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            await conn.cursor(binary=binary).execute(sql)
        assert rule in str(refused.value)
        _no_clear(refused.value)
        cur = await conn.execute("SELECT 1")  # the session goes on
        assert await cur.fetchall() == [(1,)]


async def _exists(env: Env, name: str) -> bool:
    rows = await env.upstream("SELECT to_regclass($1) IS NOT NULL AS found", name)
    return bool(rows[0]["found"])


# -- whole rows --------------------------------------------------------------------------------

WHOLE_ROWS = [
    "SELECT c FROM t c",
    "SELECT t FROM t",
    "SELECT row_to_json(c) FROM t c",
    "SELECT to_jsonb(c.*) FROM t c",
    "SELECT ROW(c.*) FROM t c",
    "SELECT c::text FROM t c",
    "SELECT c.to_json FROM t c",
    "SELECT concat(c) FROM t c",
    "SELECT array_agg(c) FROM t c",
    "SELECT x FROM (SELECT c AS x FROM t c) s",
]


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("sql", WHOLE_ROWS)
async def test_whole_row_refused(env: Env, sql: str, binary: bool) -> None:
    """A whole-row reference of a table with masked columns is refused, text or binary."""
    await _refused(env, sql, "masking/whole-row", binary=binary)


async def test_whole_row_refused_simple_protocol_and_asyncpg(env: Env, lane: bool) -> None:
    """psql (simple protocol, both fast lanes) and asyncpg (Parse, binary) get the refusal."""
    code, out, err = await env.psql("SELECT c FROM t c")
    assert code == 1 and "masking/whole-row" in err
    _no_clear(out + err)
    conn: Any = await env.asyncpg()
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="masking/whole-row"):
            await conn.fetch("SELECT t FROM t")
        assert await conn.fetchval("SELECT count(*) FROM t") == 3
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "command",
    [
        "\\d t",
        "\\d+ t",
        "\\d+ log",
        "\\dt",
        "\\di",
        "\\df upper",
        "\\dT",
        "\\dn",
        "\\l",
        "\\du",
        "\\dp t",
        "\\dx",
    ],
)
async def test_psql_describes_still_work(env: Env, command: str) -> None:
    """psql's catalog queries (function aliases used as scalars, subqueries) take no route:
    its describe commands work on a masking connection."""
    code, _, err = await env.psql(command)
    assert code == 0, err
    assert "masking/" not in err


async def test_expansions_and_field_selection_still_mask(env: Env) -> None:
    """``c.*``, ``(c).*`` and ``(c).ssn`` are columns: they run, masked."""
    conn: Any = await env.asyncpg()
    try:
        rows = [tuple(r) for r in await conn.fetch("SELECT (c).* FROM t c ORDER BY id")]
        rows += [tuple(r) for r in await conn.fetch("SELECT c.*, (c).ssn FROM t c ORDER BY id")]
    finally:
        await conn.close()
    _no_clear(rows)
    assert rows[0][:4] == (1, "alice", "***-**-1121", "************1111")


async def test_detector_only_connection_refuses_whole_rows_of_any_table(env: Env) -> None:
    """With detectors only, a whole row of any relation is refused (detectors cannot read a
    composite), while a copy is read back through the detectors."""
    async with await psycopg.AsyncConnection.connect(
        env.dsn_via("pg-detect"), autocommit=True
    ) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="masking/whole-row"):
            await conn.execute("SELECT log FROM log")
        await conn.execute("CREATE TEMP TABLE c1 AS SELECT id, email FROM t")
        cur = await conn.execute("SELECT email FROM c1 ORDER BY id")
        emails = [r[0] for r in await cur.fetchall()]
    assert emails == ["a***@example.com", "b***@example.com", "c***@example.com"]


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ROW(id, email) FROM t",
        "SELECT (id, card_number) AS r FROM t",
        "SELECT email::tsvector FROM t",
        "SELECT convert_to(email, 'UTF8') FROM t",
    ],
)
async def test_detector_only_connection_reads_types_that_may_hold_text(
    env: Env, sql: str, binary: bool
) -> None:
    """With detectors only, a record, tsvector or bytea value in which a detector finds
    something is nulled whole, text or binary: no value leaves inside a type masking does not
    know how to rewrite."""
    async with await psycopg.AsyncConnection.connect(
        env.dsn_via("pg-detect"), autocommit=True
    ) as conn:
        cur = conn.cursor(binary=binary)
        await cur.execute(sql)
        rows = await cur.fetchall()
    assert len(rows) == 3
    _no_clear(rows)
    assert "example.com" not in str(rows) and "4111" not in str(rows)


# -- error and notice texts ------------------------------------------------------------------


async def test_error_of_a_cast_is_redacted(env: Env, lane: bool) -> None:
    """The issue's example: a transformed masked value in an error message is redacted (no
    detector would know it), in both fast lanes, every time; the SQLSTATE is kept."""
    sql = "SELECT 1 FROM t WHERE translate(ssn, '0123456789', 'abcdefghij')::int = 1"
    for _ in range(3):
        code, _, err = await env.psql(sql)
        assert code == 1
        assert 'invalid input syntax for type integer: "***"' in err
        assert "ahi-af-bbcb" not in err
    conn: Any = await env.asyncpg()
    try:
        with pytest.raises(asyncpg.InvalidTextRepresentationError) as failed:
            await conn.fetch(sql)
    finally:
        await conn.close()
    assert failed.value.sqlstate == "22P02"
    assert "ahi-af-bbcb" not in str(failed.value)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ('{\"a\": ' || ssn || '}')::json FROM t WHERE id = 1",
        "SELECT make_date(substr(ssn, 1, 3)::int, 50, 50) FROM t WHERE id = 1",
        "SELECT ('x' || ssn)::regclass FROM t WHERE id = 1",
        "SELECT to_date(card_number, 'YYYY-MM-DD') FROM t WHERE id = 1",
        "SELECT ('{' || email || '}')::int[] FROM t WHERE id = 1",
        "SELECT repeat(substr(ssn, 8, 4), -1)::int FROM t WHERE id = 1",
        "SELECT translate(ssn, '0123456789-', 'abcdefghij\"')::int FROM t WHERE id = 1",
        "SELECT translate(ssn, '0123456789-', 'abcdefghij''')::int FROM t WHERE id = 1",
        "SELECT translate(ssn, '0123456789-', 'abcdefghij ')::uuid FROM t WHERE id = 1",
    ],
)
async def test_errors_carry_no_value(env: Env, sql: str) -> None:
    """Errors built from masked values (message, detail, context) carry none of them."""
    conn: Any = await env.asyncpg()
    try:
        with pytest.raises(asyncpg.PostgresError) as failed:
            await conn.fetch(sql)
    finally:
        await conn.close()
    error = failed.value
    shown = [str(error), error.detail, error.hint, error.context, error.internal_query]
    _no_clear(shown, fragments=True)


@pytest.mark.parametrize("quote", ['"', "''", "x"])
async def test_a_value_with_quotes_cannot_break_out_of_its_redaction(env: Env, quote: str) -> None:
    """A value made to hold quotes (``ahi"af"bbcb``) is redacted whole, not only its first
    quoted piece: nothing of it is left between the pieces."""
    sql = f"SELECT translate(ssn, '0123456789-', 'abcdefghij{quote}')::int FROM t WHERE id = 1"
    conn: Any = await env.asyncpg()
    try:
        with pytest.raises(asyncpg.InvalidTextRepresentationError) as failed:
            await conn.fetch(sql)
    finally:
        await conn.close()
    assert str(failed.value) == 'invalid input syntax for type integer: "***"'


async def test_errors_keep_what_the_client_sent(env: Env) -> None:
    """Names and values the client sent itself stay in the message, so errors stay useful."""
    conn: Any = await env.asyncpg()
    try:
        with pytest.raises(asyncpg.UndefinedTableError, match='"no_such_table"'):
            await conn.fetch("SELECT * FROM no_such_table")
        with pytest.raises(asyncpg.UndefinedColumnError, match='"no_such_column"'):
            await conn.fetch("SELECT no_such_column FROM t")
    finally:
        await conn.close()
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InvalidTextRepresentation, match='"abc"'):
            await conn.execute("SELECT %s::int", ("abc",))


async def test_messages_raised_by_database_code_are_withheld(env: Env) -> None:
    """A notice or error RAISEd by a trigger made upstream, with a masked value transformed
    past every detector and digit rule, is withheld whole; the SQLSTATE and the write's
    outcome are kept."""
    await env.upstream(
        "CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE NOTICE 'value %', (SELECT translate(ssn, '0123456789-', 'abcdefghijx') FROM t "
        "WHERE id = 1); IF NEW.v = 'fail' THEN RAISE EXCEPTION 'bad %', (SELECT "
        "translate(ssn, '0123456789-', 'abcdefghijx') FROM t WHERE id = 2); END IF; "
        "RETURN NEW; END $$"
    )
    await env.upstream(
        "CREATE TRIGGER shout BEFORE INSERT ON log FOR EACH ROW EXECUTE FUNCTION shout()"
    )
    client = await RawClient.connect(env.port)
    try:
        await client.login(env.token)
        client.send(pg.Query("INSERT INTO log (v) VALUES ('hello')"))
        inserted = await client.until_ready()
        client.send(pg.Query("INSERT INTO log (v) VALUES ('fail')"))
        failed = await client.until_ready()
    finally:
        client.close()
        await env.upstream("DROP FUNCTION shout() CASCADE")
    for message in inserted + failed:
        assert "ahixafxbbcb" not in str(message) and "cbjxajxjjji" not in str(message)
    notices = [m for m in inserted if isinstance(m, pg.NoticeResponse)]
    assert [n.fields.get("M") for n in notices] == [FROM_CODE]
    errors = [m for m in failed if isinstance(m, pg.ErrorResponse)]
    assert [(e.sqlstate, e.fields.get("M")) for e in errors] == [("P0001", FROM_CODE)]
    assert [r["v"] for r in await env.upstream("SELECT v FROM log")] == ["hello"]


# -- settings and notifications ----------------------------------------------------------------


async def test_set_config_from_a_masked_column_is_refused(env: Env, lane: bool) -> None:
    """set_config with a non-constant value is refused; the setting and its ParameterStatus
    never carry the value; a constant one still works."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="masking/stored-value"):
            await conn.execute(
                "SELECT set_config('application_name', replace(ssn, '-', '/'), false) "
                "FROM t WHERE id = 1"
            )
        cur = await conn.execute("SHOW application_name")
        shown = (await cur.fetchall())[0][0]
        assert "078" not in shown and "078" not in str(
            conn.info.parameter_status("application_name")
        )
        await conn.execute("SELECT set_config('application_name', 'report', false)")
        assert conn.info.parameter_status("application_name") == "report"


async def test_parameter_status_goes_through_the_detectors(env: Env, lane: bool) -> None:
    """A ParameterStatus value that holds a recognisable value arrives masked (both lanes)."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        await conn.execute("SET application_name = 'card 4111111111111111'")
        status = conn.info.parameter_status("application_name")
    assert status is not None and "4111111111111111" not in status and status.endswith("1111")


async def test_pg_notify_of_a_masked_column_is_refused(env: Env) -> None:
    """pg_notify with a masked column is refused: a listener elsewhere gets nothing; a constant
    payload is still sent (and withheld from listeners on the masked connection)."""
    direct = await asyncpg.connect(env.dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    try:
        await direct.add_listener("leak", lambda *args: heard.put_nowait(args[3]))
        await _refused(env, "SELECT pg_notify('leak', ssn) FROM t WHERE id = 1", "stored-value")
        await _refused(env, "SELECT pg_notify(ssn, 'x') FROM t WHERE id = 1", "stored-value")
        code, _, err = await env.psql("SELECT pg_notify('leak', 'constant')")
        assert code == 0, err
        async with asyncio.timeout(5):
            assert await heard.get() == "constant"
        await asyncio.sleep(0.2)
        assert heard.empty()
    finally:
        await direct.close()


# -- new objects and copies ------------------------------------------------------------------

COPIES = [
    ("CREATE TEMP TABLE x1 AS SELECT ssn FROM t", None),
    ("CREATE TABLE x1 AS SELECT * FROM t", "x1"),
    ("SELECT ssn INTO x2 FROM t", "x2"),
    ("CREATE VIEW v1 AS SELECT upper(ssn) AS u FROM t", "v1"),
    ("CREATE MATERIALIZED VIEW m1 AS SELECT card_number FROM t", "m1"),
]


@pytest.mark.parametrize(("sql", "made"), COPIES, ids=[s for s, _ in COPIES])
async def test_new_object_from_masked_column_is_refused(
    env: Env, sql: str, made: str | None
) -> None:
    """CREATE ... AS, SELECT INTO, views and materialized views of a masked column are
    refused, and the object is not there upstream."""
    await _refused(env, sql, "masking/copy")
    if made is not None:
        assert not await _exists(env, made)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO log (v) SELECT ssn FROM t",
        "INSERT INTO log (v) VALUES ((SELECT max(card_number) FROM t))",
        "UPDATE t SET name = ssn WHERE id = 1",
        "WITH w AS (INSERT INTO log (v) SELECT ssn FROM t RETURNING 1) SELECT count(*) FROM w",
        "MERGE INTO log l USING t ON l.id = t.id WHEN NOT MATCHED THEN INSERT (v) VALUES (t.ssn)",
    ],
)
async def test_copy_into_another_table_is_refused(env: Env, sql: str) -> None:
    """A masked column written into another table or column is refused; nothing was written."""
    await _refused(env, sql, "masking/copy")
    assert await env.upstream("SELECT * FROM log") == []
    names = await env.upstream("SELECT name FROM t ORDER BY id")
    assert [r["name"] for r in names] == [r[1] for r in ROWS]


@pytest.mark.parametrize(
    "sql",
    [
        "DO $$ BEGIN EXECUTE 'INSERT INTO log (v) SELECT s' || 'sn FROM t'; END $$",
        "CREATE FUNCTION leak() RETURNS text LANGUAGE sql AS 'SELECT max(ssn) FROM t'",
        "CREATE FUNCTION leak() RETURNS text RETURN (SELECT max(card_number) FROM t)",
    ],
)
async def test_opaque_code_is_refused(env: Env, sql: str) -> None:
    """A DO block or a string function body (which may build any SQL at run time), or a
    parsed body naming a masked column, is refused before any review: nothing ran upstream."""
    await _refused(env, sql, "masking/code")
    assert await env.upstream("SELECT * FROM log") == []
    assert await env.upstream("SELECT proname FROM pg_proc WHERE proname = 'leak'") == []


async def test_column_alias_lists_do_not_rename_a_masked_column_away(env: Env) -> None:
    """``FROM t AS x(a, b, c)`` renames ssn to c: an expression over c is still masked whole,
    and a copy of c is still refused."""
    sql = "SELECT translate(c, '0123456789', 'abcdefghij') FROM t AS x(a, b, c) ORDER BY a"
    conn: Any = await env.asyncpg()
    try:
        rows = [r[0] for r in await conn.fetch(sql)]
    finally:
        await conn.close()
    assert "ahi-af-bbcb" not in rows and rows[0] is not None
    await _refused(env, "INSERT INTO log (v) SELECT c FROM t AS x(a, b, c)", "masking/copy")
    assert await env.upstream("SELECT * FROM log") == []


async def test_execute_arguments_cannot_smuggle_a_masked_value(env: Env) -> None:
    """A prepared INSERT takes constants; EXECUTE with a subquery reading a masked column as
    its argument is refused, and nothing was written."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        await conn.execute("PREPARE ins(text) AS INSERT INTO log (v) VALUES ($1)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="masking/stored-value"):
            await conn.execute("EXECUTE ins((SELECT ssn FROM t WHERE id = 1))")
        await conn.execute("EXECUTE ins('constant')")
    assert [r["v"] for r in await env.upstream("SELECT v FROM log")] == ["constant"]


async def test_harmless_new_objects_still_work(env: Env) -> None:
    """New objects without a masked column, and writes of constants, still run."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        await conn.execute("CREATE TABLE x1 AS SELECT id, name FROM t WHERE ssn IS NOT NULL")
        await conn.execute("INSERT INTO log (v) SELECT name FROM t")
        await conn.execute("UPDATE t SET ssn = '000-00-0000' WHERE id = 3")
    assert [r["id"] for r in await env.upstream("SELECT id FROM x1 ORDER BY id")] == [1, 2]
    assert len(await env.upstream("SELECT * FROM log")) == 3


# -- renames and statistics --------------------------------------------------------------------


async def test_rename_of_a_masked_column_is_blocked(env: Env) -> None:
    """ALTER TABLE ... RENAME COLUMN of a masked column is blocked; the column keeps its name
    upstream; renaming another column is not this rule's business."""
    await _refused(env, "ALTER TABLE t RENAME COLUMN ssn TO s", "masking/rename")
    await _refused(env, "ALTER TABLE t RENAME card_number TO cn", "masking/rename")
    columns = await env.upstream(
        "SELECT attname FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0"
    )
    assert {"ssn", "card_number"} <= {r["attname"] for r in columns}


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT histogram_bounds::text FROM pg_stats WHERE attname = 'ssn'",
        "SELECT most_common_vals::text FROM pg_catalog.pg_stats WHERE tablename = 't'",
        "SELECT stavalues1::text FROM pg_statistic",
        "SELECT * FROM pg_stats_ext_exprs",
    ],
)
async def test_statistics_are_refused(env: Env, sql: str) -> None:
    """The planner statistics (histograms, most-common values) are refused on a masking
    connection, also after ANALYZE filled them."""
    await env.upstream("ANALYZE t")
    await _refused(env, sql, "masking/statistics")


async def test_refusals_are_audited_with_their_rule(env: Env) -> None:
    """Each refusal is in the audit trail as a block naming its masking rule."""
    await _refused(env, "SELECT row_to_json(t) FROM t", "masking/whole-row")
    events = await env.audit()
    blocks = [e for e in events if e.details.get("rule") == "masking/whole-row"]
    assert blocks and blocks[-1].outcome == "block"
