"""Masking against result metadata from the real MariaDB: for each query, the column
definitions MariaDB sends, the dialect's plan (with ``derived`` from the text) and the rows;
no raw SSN may come out of a query the masking check lets run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from gateway.masking import MaskingRules, MaskTally
from gateway.mysql.dialect import MYSQL, ColumnOrigin, MySQLMasking, MySQLState
from tests.conftest import MARIA_ADMIN

SSN = "123-45-6789"
QUERIES = [
    "SELECT ssn FROM customers",
    "SELECT ssn AS x FROM customers c",
    "SELECT c.ssn FROM customers c",
    "SELECT * FROM customers",
    "SELECT x FROM (SELECT ssn AS x FROM customers) d",
    "SELECT x FROM (SELECT ssn AS x FROM customers LIMIT 5) d",
    "SELECT x FROM (SELECT DISTINCT ssn AS x FROM customers) d",
    "SELECT d.* FROM (SELECT ssn AS x FROM customers) d",
    "WITH w AS (SELECT ssn AS x FROM customers) SELECT x FROM w",
    "WITH w AS (SELECT ssn AS x FROM customers) SELECT * FROM w",
    "SELECT name FROM customers UNION SELECT ssn FROM customers",
    "SELECT ssn FROM customers UNION ALL SELECT name FROM customers",
    "SELECT CONCAT(ssn, '') FROM customers",
    "SELECT CONCAT(ssn, '') AS z FROM customers",
    "SELECT UPPER(ssn) AS z, id FROM customers",
    "SELECT JSON_OBJECT('s', ssn) AS j FROM customers",
    "SELECT GROUP_CONCAT(ssn) AS g FROM customers",
    "SELECT (SELECT ssn FROM customers LIMIT 1) AS z",
    "SELECT IFNULL(ssn, 'none') AS z FROM customers",
    "SELECT CASE WHEN id > 0 THEN ssn END AS z FROM customers",
    "SELECT REPLACE(ssn, '-', '') AS z FROM customers",
    "SELECT ssn FROM (SELECT * FROM customers) d",
    "SELECT * FROM (SELECT * FROM customers) d",
    "SELECT * FROM (SELECT id, ssn FROM customers LIMIT 9) d",
    "SELECT 1, 2, 3 UNION SELECT * FROM customers",
    "WITH w AS (SELECT * FROM customers) SELECT w.ssn FROM w",
    "WITH w AS (SELECT ssn FROM customers) SELECT w.* FROM w",
    "SELECT * FROM customers c JOIN (SELECT id AS i2 FROM customers) d ON c.id = d.i2",
    "SELECT id FROM customers WHERE ssn = '123-45-6789'",
]


@pytest.fixture
def mariadb(maria_database: str) -> Iterator[pymysql.connections.Connection]:
    """A connection to a fresh database with one customer."""
    user, _, address = MARIA_ADMIN.rpartition("@")
    host, _, port = address.partition(":")
    conn = pymysql.connect(
        host=host, port=int(port or 3306), user=user or "root", database=maria_database
    )
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE customers (id INT PRIMARY KEY, name TEXT, ssn VARCHAR(11))")
        cursor.execute("INSERT INTO customers VALUES (1, 'bob', %s)", (SSN,))
    try:
        yield conn
    finally:
        conn.close()


def _masked_rows(
    conn: pymysql.connections.Connection, masking: MySQLMasking, sql: str
) -> list[list[bytes | None]]:
    state = MySQLState(database=conn.db.decode() if isinstance(conn.db, bytes) else conn.db)
    with conn.cursor() as cursor:
        cursor.execute(sql)
        result: Any = getattr(cursor, "_result")  # noqa: B009 (PyMySQL's ColumnDefinition41s)
        fields = result.fields
        rows = cursor.fetchall()
    columns = [
        ColumnOrigin(f.db.decode() if isinstance(f.db, bytes) else f.db, f.table_name, f.org_table,
                     f.name, f.org_name, f.type_code, f.charsetnr)
        for f in fields
    ]  # fmt: skip
    mask = masking.plan(columns, state.database, derived=masking.derived(sql, state))
    texts = [[None if v is None else str(v).encode() for v in row] for row in rows]
    return texts if mask is None else [mask.row(row, MaskTally()) for row in texts]


@pytest.mark.parametrize("sql", QUERIES)
def test_no_raw_ssn_leaves_a_query_that_runs(
    mariadb: pymysql.connections.Connection, sql: str
) -> None:
    """Whatever MariaDB reports as the origin, the SSN leaves masked or the query is refused."""
    masking = MYSQL.masking(MaskingRules(["customers.ssn"], []))
    assert masking is not None
    assert masking.check(sql, MySQLState(database="x")) is None
    rows = _masked_rows(mariadb, masking, sql)
    assert rows, sql
    shown = b" ".join(v for row in rows for v in row if v is not None)
    assert SSN.encode() not in shown and b"123456789" not in shown, (sql, rows)


def test_the_filter_column_is_not_masked_when_not_selected(
    mariadb: pymysql.connections.Connection,
) -> None:
    """A masked column only in WHERE does not mask the id selected."""
    masking = MYSQL.masking(MaskingRules(["customers.ssn"], []))
    assert masking is not None
    assert _masked_rows(mariadb, masking, QUERIES[-1]) == [[b"1"]]
