"""The prepared-statement codec against the real MariaDB over a raw socket: executes encoded
here bind every parameter type the way the server reads them, remembered types, long data,
MariaDB's bulk execute, cursors with COM_STMT_FETCH and rewritten statement ids."""

from __future__ import annotations

import pytest

from gateway.mysql.wire import Reader
from gateway.mysql.wire.binary import decode_row, from_text, to_text
from gateway.mysql.wire.prepared import (
    LAST_STATEMENT_ID,
    BoundParam,
    BulkFlag,
    BulkIndicator,
    ExecuteFlag,
    StmtBulkExecute,
    StmtExecute,
    StmtFetch,
    StmtPrepare,
    StmtReset,
    StmtSendLongData,
    decode_execute,
    decode_prepare_ok,
    encode,
    rewrite_statement_id,
)
from gateway.mysql.wire.types import PARAM_UNSIGNED, ColumnFlag, ColumnType
from tests.gateway.mysql.rawmysql import RawMySQL, ServerError

T = ColumnType
STMT_BULK_OPERATIONS = 1 << 2  # MARIADB_CLIENT_STMT_BULK_OPERATIONS (1 << 34) >> 32

TYPED = """CREATE TABLE typed (ti TINYINT, bu BIGINT UNSIGNED, si SMALLINT, i INT, f FLOAT,
  d DOUBLE, de DECIMAL(10,3), dd DATE, dt DATETIME(6), tm TIME(6), vc VARCHAR(50), bl BLOB)"""

# (column type as bound, flag, text): bound with from_text, read back as text.
PARAMS: list[tuple[int, int, bytes]] = [
    (T.TINY, 0, b"-7"),
    (T.LONGLONG, PARAM_UNSIGNED, b"18446744073709551615"),
    (T.SHORT, 0, b"-32768"),
    (T.LONG, 0, b"2147483647"),
    (T.FLOAT, 0, b"1.1"),
    (T.DOUBLE, 0, b"0.30000000000000004"),
    (T.NEWDECIMAL, 0, b"12.345"),
    (T.DATE, 0, b"2024-02-29"),
    (T.DATETIME, 0, b"2024-01-02 03:04:05.123456"),
    (T.TIME, 0, b"-12:34:56.123456"),
    (T.VAR_STRING, 0, b"x'); DROP TABLE typed; --"),
    (T.BLOB, 0, b"\x00\xff\xfe"),
]


def _bind(params: list[tuple[int, int, bytes | None]]) -> tuple[BoundParam, ...]:
    """Parameters from their text forms (None for NULL)."""
    bound = []
    for type_code, flag, text in params:
        flags = ColumnFlag.UNSIGNED if flag & PARAM_UNSIGNED else 0
        raw = None if text is None else from_text(type_code, flags, text)
        bound.append(BoundParam(type_code, flag, raw))
    return tuple(bound)


async def _prepare(conn: RawMySQL, sql: str) -> int:
    ok, _columns = await conn.prepare(sql)
    assert encode(decode_prepare_ok(ok)) == ok
    return decode_prepare_ok(ok).statement_id


async def test_every_parameter_type_binds_as_its_text(maria_database: str) -> None:
    """Parameters encoded here are stored as their text forms say (what approvals bind)."""
    conn = await RawMySQL.connect("root", b"", maria_database)
    try:
        await conn.query(TYPED)
        statement = await _prepare(conn, "INSERT INTO typed VALUES (" + ", ".join("?" * 12) + ")")
        execute = StmtExecute(statement, 0, _bind([(t, f, v) for t, f, v in PARAMS]))
        payload = encode(execute)
        assert decode_execute(payload, num_params=12) == execute
        await conn.command(payload)
        assert await conn.result() == ([], [])
        again = StmtExecute(statement, 0, _bind([(t, f, None) for t, f, _ in PARAMS]), False)
        payload = encode(again)
        previous = [(t, f) for t, f, _ in PARAMS]
        assert decode_execute(payload, num_params=12, previous_types=previous) == again
        await conn.command(payload)
        assert await conn.result() == ([], [])
        _columns, rows = await conn.query("SELECT * FROM typed")
    finally:
        await conn.close()
    assert rows == [list(execute.param_texts()), [None] * 12]


async def test_null_typed_parameters(maria_database: str) -> None:
    """A NULL-typed parameter is NULL in the bitmap; outside it MariaDB refuses it (1210)."""
    conn = await RawMySQL.connect("root", b"", maria_database)
    try:
        statement = await _prepare(conn, "SELECT ? IS NULL, ?")
        five = BoundParam(T.TINY, 0, b"\x05")
        marked = encode(StmtExecute(statement, 0, (BoundParam(T.NULL, 0, None), five)))
        assert marked.endswith(b"\x01\x01\x06\x00\x01\x00\x05")  # bitmap bit 0 set
        await conn.command(marked)
        columns, rows = await conn.result()
        unmarked = encode(StmtExecute(statement, 0, (BoundParam(T.NULL, 0, b""), five)))
        assert unmarked.endswith(b"\x00\x01\x06\x00\x01\x00\x05")  # bit clear, no bytes
        assert decode_execute(unmarked, num_params=2).param_texts() == (None, b"5")
        await conn.command(unmarked)
        with pytest.raises(ServerError) as refused:
            await conn.result()
    finally:
        await conn.close()
    assert refused.value.code == 1210
    texts = [
        to_text(c.type_code, c.flags, raw) if raw is not None else None
        for c, raw in zip(
            columns, decode_row(rows[0], [(c.type_code, c.flags) for c in columns]), strict=True
        )
    ]
    assert texts == [b"1", b"5"]


async def test_long_data_is_not_in_the_execute_packet(maria_database: str) -> None:
    """Long data makes the value and is absent from the execute packet, which still decodes."""
    conn = await RawMySQL.connect("root", b"", maria_database)
    try:
        await conn.query("CREATE TABLE docs (body BLOB, n INT)")
        statement = await _prepare(conn, "INSERT INTO docs VALUES (?, ?)")
        for chunk in (b"first ", b"second"):
            await conn.command(encode(StmtSendLongData(statement, 0, chunk)))  # no reply
        execute = StmtExecute(
            statement,
            0,
            (
                BoundParam(T.BLOB, 0, None, long_data=True),
                BoundParam(T.LONG, 0, b"\x2a\x00\x00\x00"),
            ),
        )
        payload = encode(execute)
        assert decode_execute(payload, num_params=2, long_data={0}) == execute
        assert execute.param_texts({0: b"first second"}) == (b"first second", b"42")
        await conn.command(payload)
        assert await conn.result() == ([], [])
        _columns, rows = await conn.query("SELECT * FROM docs")
    finally:
        await conn.close()
    assert rows == [[b"first second", b"42"]]


async def test_bulk_execute_with_indicators(maria_database: str) -> None:
    """MariaDB's COM_STMT_BULK_EXECUTE as encoded here inserts values, NULLs and defaults."""
    conn = await RawMySQL.connect("root", b"", maria_database, mariadb_caps=STMT_BULK_OPERATIONS)
    try:
        await conn.query("CREATE TABLE bulk (id INT, v VARCHAR(10) DEFAULT 'dflt')")
        statement = await _prepare(conn, "INSERT INTO bulk VALUES (?, ?)")
        bulk = StmtBulkExecute(
            statement,
            BulkFlag.SEND_TYPES_TO_SERVER,
            ((T.LONG, 0), (T.VAR_STRING, 0)),
            (
                (b"\x01\x00\x00\x00", b"a"),
                (b"\x02\x00\x00\x00", BulkIndicator.NULL),
                (b"\x03\x00\x00\x00", BulkIndicator.DEFAULT),
            ),
        )
        await conn.command(encode(bulk))
        assert await conn.result() == ([], [])
        _columns, rows = await conn.query("SELECT * FROM bulk ORDER BY id")
    finally:
        await conn.close()
    assert rows == [[b"1", b"a"], [b"2", None], [b"3", b"dflt"]]


async def test_cursor_rows_come_by_fetch(maria_database: str) -> None:
    """A read-only cursor's execute returns columns only; COM_STMT_FETCH brings the rows."""
    conn = await RawMySQL.connect("root", b"", maria_database)
    try:
        await conn.query("CREATE TABLE five (n INT, s VARCHAR(5))")
        await conn.query("INSERT INTO five VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e')")
        statement = await _prepare(conn, "SELECT n, s FROM five ORDER BY n")
        await conn.command(encode(StmtExecute(statement, ExecuteFlag.READ_ONLY, ())))
        count = Reader(await conn.read()).lenenc_int()
        assert count == 2
        columns = await conn.columns(count)
        specs = [(c.type_code, c.flags) for c in columns]
        fetched = []
        for size in (2, 10):
            await conn.command(encode(StmtFetch(statement, size)))
            while (payload := await conn.read())[:1] != b"\xfe":
                fetched.append(decode_row(payload, specs))
    finally:
        await conn.close()
    assert [(int.from_bytes(n or b"", "little"), s) for n, s in fetched] == [
        (1, b"a"),
        (2, b"b"),
        (3, b"c"),
        (4, b"d"),
        (5, b"e"),
    ]


async def test_rewritten_ids_reach_the_mapped_statement(maria_database: str) -> None:
    """A rewritten id runs the statement it names; MariaDB's id -1 runs the last prepared."""
    conn = await RawMySQL.connect("root", b"", maria_database)
    try:
        first = await _prepare(conn, "SELECT 'first'")
        second = await _prepare(conn, "SELECT 'second'")
        assert first != second
        await conn.command(rewrite_statement_id(encode(StmtExecute(first, 0, ())), second))
        columns, rows = await conn.result()
        await conn.command(encode(StmtPrepare(b"SELECT 'third'")))
        await conn.command(encode(StmtExecute(LAST_STATEMENT_ID, 0, ())))
        ok = decode_prepare_ok(await conn.read())
        await conn.columns(ok.num_columns)
        last_columns, last_rows = await conn.result()
    finally:
        await conn.close()
    assert [decode_row(r, [(c.type_code, c.flags) for c in columns]) for r in rows] == [
        (b"second",)
    ]
    specs = [(c.type_code, c.flags) for c in last_columns]
    assert [decode_row(r, specs) for r in last_rows] == [(b"third",)]


async def test_reset_drops_long_data(maria_database: str) -> None:
    """After COM_STMT_RESET gathered long data is gone: the listener must forget it likewise."""
    conn = await RawMySQL.connect("root", b"", maria_database)
    try:
        await conn.query("CREATE TABLE notes (body BLOB)")
        statement = await _prepare(conn, "INSERT INTO notes VALUES (?)")
        await conn.command(encode(StmtSendLongData(statement, 0, b"dropped")))
        await conn.command(encode(StmtReset(statement)))
        assert await conn.result() == ([], [])
        await conn.command(encode(StmtExecute(statement, 0, (BoundParam(T.BLOB, 0, b"kept"),))))
        assert await conn.result() == ([], [])
        _columns, rows = await conn.query("SELECT body FROM notes")
    finally:
        await conn.close()
    assert rows == [[b"kept"]]


async def test_long_data_lasts_one_execute(maria_database: str) -> None:
    """Long data serves one execute; the next one carries its value in the packet again."""
    conn = await RawMySQL.connect("root", b"", maria_database)
    try:
        await conn.query("CREATE TABLE notes (body BLOB)")
        statement = await _prepare(conn, "INSERT INTO notes VALUES (?)")
        await conn.command(encode(StmtSendLongData(statement, 0, b"long")))
        long = BoundParam(T.BLOB, 0, None, long_data=True)
        await conn.command(encode(StmtExecute(statement, 0, (long,))))
        assert await conn.result() == ([], [])
        second = StmtExecute(statement, 0, (BoundParam(T.BLOB, 0, b"second"),), False)
        payload = encode(second)
        assert decode_execute(payload, num_params=1, previous_types=[(T.BLOB, 0)]) == second
        await conn.command(payload)
        assert await conn.result() == ([], [])
        _columns, rows = await conn.query("SELECT body FROM notes")
    finally:
        await conn.close()
    assert rows == [[b"long"], [b"second"]]
