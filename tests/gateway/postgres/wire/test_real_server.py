"""The codec against real peers: PostgreSQL 15 at 127.0.0.1:5432, psql and psycopg 3."""

from __future__ import annotations

import subprocess
import time
from collections import Counter

import psycopg

import gateway.postgres.wire as pg
from gateway.postgres.wire import NEED_DATA, ClientParser, ServerParser, encode

from .realpeer import PgConnection, recording_relay


def test_login_and_simple_query() -> None:
    """Trust login, ParameterStatus/BackendKeyData, and a simple query with NULL and text."""
    conn = PgConnection()
    try:
        startup = conn.login()
        status = {m.name: m.value for m in startup if isinstance(m, pg.ParameterStatus)}
        assert status["client_encoding"] == "UTF8"
        assert startup[-1] == pg.ReadyForQuery("I")
        conn.send(pg.Query("SELECT 1 AS one, NULL::text AS n, 'é'::text AS t"))
        row_description, row, complete, ready = conn.read_until_ready()
        assert isinstance(row_description, pg.RowDescription)
        assert [f.name for f in row_description.fields] == ["one", "n", "t"]
        assert [f.type_oid for f in row_description.fields] == [23, 25, 25]
        assert row == pg.DataRow((b"1", None, "é".encode()))
        assert (complete, ready) == (pg.CommandComplete("SELECT 1"), pg.ReadyForQuery("I"))
    finally:
        conn.close()


def test_ssl_request_is_answered_with_one_byte() -> None:
    """The server answers SSLRequest with 'N' (ssl = off here); plaintext startup follows."""
    conn = PgConnection()
    try:
        conn.parser.expect_ssl_response()
        conn.send(pg.SSLRequest())
        assert conn.read() == pg.SSLResponse(False)
        conn.parser.encryption_refused()
        assert conn.login()[-1] == pg.ReadyForQuery("I")
    finally:
        conn.close()


def test_extended_query_binary_results() -> None:
    """Parse/Bind/Describe/Execute/Sync with a binary result and a row limit."""
    conn = PgConnection()
    try:
        conn.login()
        conn.send(
            pg.Parse("s1", "SELECT g, g::text FROM generate_series(1, $1::int) g", (23,)),
            pg.Describe("S", "s1"),
            pg.Bind("p1", "s1", (0,), (b"3",), (1, 0)),
            pg.Execute("p1", 2),
            pg.Execute("p1", 0),
            pg.Close("S", "s1"),
            pg.Sync(),
        )
        replies = conn.read_until_ready()
        rows = [m for m in replies if isinstance(m, pg.DataRow)]
        assert rows == [pg.DataRow(((n).to_bytes(4, "big"), b"%d" % n)) for n in (1, 2, 3)]
        kinds = [type(m) for m in replies if not isinstance(m, pg.DataRow)]
        assert kinds == [
            pg.ParseComplete,
            pg.ParameterDescription,
            pg.RowDescription,
            pg.BindComplete,
            pg.PortalSuspended,
            pg.CommandComplete,
            pg.CloseComplete,
            pg.ReadyForQuery,
        ]
        assert replies[1] == pg.ParameterDescription((23,))
    finally:
        conn.close()


def test_error_response_fields() -> None:
    """A server error decodes with SQLSTATE, message and the rest of its fields."""
    conn = PgConnection()
    try:
        conn.login()
        conn.send(pg.Query("SELECT 1/0"))
        error, ready = conn.read_until_ready()
        assert isinstance(error, pg.ErrorResponse)
        assert (error.sqlstate, error.message, error.severity) == (
            "22012",
            "division by zero",
            "ERROR",
        )
        assert ready == pg.ReadyForQuery("I")
    finally:
        conn.close()


def wait_until_sleeping(pid: int) -> None:
    """Poll pg_stat_activity until backend `pid` is inside pg_sleep."""
    sql = "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event = 'PgSleep'"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as watcher:
        deadline = time.monotonic() + 10
        while not watcher.execute(sql, (pid,)).fetchall():
            assert time.monotonic() < deadline, "the query never started"
            time.sleep(0.01)


def test_cancel_request() -> None:
    """A CancelRequest with the BackendKeyData on a fresh connection cancels pg_sleep."""
    conn = PgConnection()
    try:
        conn.login()
        conn.send(pg.Query("SELECT pg_sleep(30)"))
        assert conn.key is not None
        wait_until_sleeping(conn.key.process_id)
        canceller = PgConnection()
        canceller.send(pg.CancelRequest(conn.key.process_id, conn.key.secret_key))
        assert canceller.sock.recv(1) == b""  # the server closes the cancel connection
        canceller.close()
        replies = conn.read_until_ready()
        errors = [m for m in replies if isinstance(m, pg.ErrorResponse)]
        assert [e.sqlstate for e in errors] == ["57014"]
    finally:
        conn.close()


PSQL_SCRIPT = r"""
CREATE TEMP TABLE t (a int, b text);
\copy t from stdin
1	x
2	\N
\.
SELECT * FROM t; SELECT 2;
\copy (SELECT a FROM t) to stdout
SELECT 1/0;
DO $$BEGIN RAISE NOTICE 'hello'; END$$;
LISTEN c; NOTIFY c, 'payload';
;
"""


def run_clients(port: int) -> None:
    """psql (simple protocol, COPY) and psycopg (extended, binary, pipeline, COPY)."""
    dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    dsn += " sslmode=disable gssencmode=disable"
    subprocess.run(
        ["psql", dsn, "-X", "-q", "-f", "-"],
        input=PSQL_SCRIPT,
        text=True,
        check=True,
        capture_output=True,
        timeout=30,
    )
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT %s::int, %s::text, %s::bytea", (1, "x", None)).fetchall()
        conn.execute("SELECT %s::int8", (2,), binary=True).fetchall()
        conn.execute("SELECT %s::int", (3,), prepare=True).fetchall()
        with conn.pipeline():
            conn.execute("SELECT 1")
            conn.execute("SELECT 2")
        cur = conn.cursor()
        with cur.copy("COPY (SELECT generate_series(1, 3)) TO STDOUT (FORMAT binary)") as copy:
            list(copy)
        conn.execute("CREATE TEMP TABLE u (a int)")
        with cur.copy("COPY u FROM STDIN") as copy:
            copy.write_row((1,))


def reencode(parser: ClientParser | ServerParser, stream: bytes) -> Counter[str]:
    """Frame the whole stream, check decode-then-encode is byte exact, count message types."""
    parser.receive_data(stream)
    seen: Counter[str] = Counter()
    while (frame := parser.next_frame()) is not NEED_DATA:
        message = parser.decode(frame)
        assert encode(message) == bytes(frame.raw), message
        seen[type(message).__name__] += 1
    assert parser.pending_bytes() == 0
    return seen


def test_real_client_and_server_streams_reencode_byte_for_byte() -> None:
    """Every message psql, psycopg and PostgreSQL exchange decodes and re-encodes exactly."""
    with recording_relay() as (port, streams):
        run_clients(port)
    assert len(streams) == 4
    client_seen: Counter[str] = Counter()
    server_seen: Counter[str] = Counter()
    for to_server, to_client in zip(streams[::2], streams[1::2], strict=True):
        client_seen += reencode(ClientParser(), bytes(to_server))
        server_seen += reencode(ServerParser(), bytes(to_client))
    assert {"StartupMessage", "Query", "Parse", "Bind", "Describe", "Execute", "Sync"} <= set(
        client_seen
    )
    assert {"CopyData", "CopyDone", "Terminate"} <= set(client_seen)
    assert {"AuthenticationOk", "ParameterStatus", "BackendKeyData", "RowDescription"} <= set(
        server_seen
    )
    assert {"DataRow", "CopyInResponse", "CopyOutResponse", "ErrorResponse"} <= set(server_seen)
    assert {"NoticeResponse", "NotificationResponse", "EmptyQueryResponse"} <= set(server_seen)
    assert {"ParseComplete", "BindComplete", "CommandComplete", "ReadyForQuery"} <= set(server_seen)
