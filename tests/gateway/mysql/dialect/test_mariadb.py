"""The corpus's smuggling cases against the real MariaDB: whatever the guardrails allow never
drops the table, and the holds that matter are real (the server does run the hidden DROP).

Each case runs in a fresh database holding a table ``t``, under the case's sql_mode, as one
multi-statement COM_QUERY (CLIENT_MULTI_STATEMENTS, as the mysql client sends it)."""

from __future__ import annotations

import pymysql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymysql.constants import CLIENT

from gateway.guardrails import Action
from gateway.mysql.dialect import MYSQL
from tests.conftest import MARIA_ADMIN
from tests.gateway.mysql.dialect.corpus import BASE, Case

_UNSAFE = ("SHUTDOWN", "GRANT", "KILL", "LOAD", "OUTFILE", "INSTALL", "USER", "GLOBAL", "CHANGE",
           "PURGE", "RESET", "SLEEP", "BINLOG", "LOCK", "PERSIST", "RESTART")  # fmt: skip
SMUGGLING = [
    case
    for case in BASE
    if "DROP TABLE t" in case.sql
    and case.sql_mode is not None
    and case.sql_mode != "ORACLE"
    and not case.prepared
    and not any(word in case.sql.upper() for word in _UNSAFE)
]


def _run(database: str, case: Case, *, recreate: bool = False) -> bool:
    """Run the case; whether table t still exists afterwards."""
    user, _, address = MARIA_ADMIN.rpartition("@")
    host, _, port = address.partition(":")
    conn = pymysql.connect(
        host=host,
        port=int(port or 3306),
        user=user or "root",
        database=database,
        client_flag=CLIENT.MULTI_STATEMENTS,
        autocommit=True,
    )
    try:
        with conn.cursor() as cursor:
            exists = "IF NOT EXISTS " if recreate else ""
            cursor.execute(f"CREATE TABLE {exists}t (id INT)")
            cursor.execute("SET SESSION sql_mode = %s", (case.sql_mode or "",))
            try:
                cursor.execute(case.sql)
                while cursor.nextset():
                    pass
            except pymysql.MySQLError:
                pass  # a syntax error part-way: what ran before it still ran
        with conn.cursor() as cursor:
            cursor.execute("SHOW TABLES LIKE 't'")
            return bool(cursor.fetchall())
    finally:
        conn.close()


def test_there_are_smuggling_cases_of_both_verdicts() -> None:
    """The selection holds dozens of cases, some allowed and some held."""
    actions = {MYSQL.guardrails([]).evaluate(c.sql, c.state()).action for c in SMUGGLING}
    assert len(SMUGGLING) >= 40
    assert actions >= {Action.ALLOW, Action.HOLD}


@pytest.mark.parametrize("case", SMUGGLING, ids=str)
def test_allowed_texts_never_drop_the_table(maria_database: str, case: Case) -> None:
    """Run on MariaDB: an allowed text leaves t in place; a dropped t was never allowed."""
    verdict = MYSQL.guardrails([]).evaluate(case.sql, case.state())
    exists = _run(maria_database, case)
    if verdict.action is Action.ALLOW:
        assert exists, f"allowed, but MariaDB dropped t: {verdict}"


def test_the_server_really_runs_what_the_lexer_finds(maria_database: str) -> None:
    """The cases the pre-pass exists for: MariaDB drops t for each (so the hold matters)."""
    dropped = []
    for sql in (
        "/*!50000 DROP TABLE t */",
        "/*M! DROP TABLE t */",
        "SELECT 1 -- x\n; DROP TABLE t",
        "SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; DROP TABLE t; -- '",
        "PREPARE s FROM 'DROP ' 'TABLE t'; EXECUTE s",
        "SET STATEMENT max_statement_time = 1 FOR DROP TABLE t",
        "BEGIN NOT ATOMIC SELECT 1; DROP TABLE t; END",
    ):
        case = Case(sql, "review")
        assert MYSQL.guardrails([]).evaluate(sql, case.state()).action is not Action.ALLOW
        if not _run(maria_database, case):
            dropped.append(sql)
    assert len(dropped) == 7, dropped


SOUP = [
    "SELECT", "1", "'", '"', "`", "\\", ";", " ", "\n", "--", "-- ", "#", "/*", "*/", "/*!",
    "/*!50000", "/*!999999", "/*M!", "/*M!100000", "DROP TABLE t", "DROP TABLE t;", ",", "(", ")",
    "'x'", "SET sql_mode = 'NO_BACKSLASH_ESCAPES';", "SET sql_mode = '';", "PREPARE s FROM",
    "EXECUTE s;", "'DROP TABLE t'", "SET @q = 'DROP TABLE t';", "@q", "a", "=", "x'41'",
    "SET sql_mode = 'ANSI_QUOTES';", "--\t", "\t", "\\N", "'DROP ' 'TABLE t'", "DO 1;",
    "SET STATEMENT sql_mode = '' FOR SELECT 1;",
    "SET STATEMENT sql_mode = 'NO_BACKSLASH_ESCAPES' FOR",
    "BEGIN NOT ATOMIC", "END", "USE", "/*!00000", "*/;",
]  # fmt: skip


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.sampled_from(SOUP), min_size=1, max_size=10).map("".join), st.booleans())
def test_random_texts_allowed_here_never_drop_the_table_there(
    maria_database: str, text: str, nbe: bool
) -> None:
    """Differential fuzz on MariaDB: a random text the guardrails allow never drops t."""
    mode = "NO_BACKSLASH_ESCAPES" if nbe else ""
    case = Case(text, "allow", sql_mode=mode)
    verdict = MYSQL.guardrails([]).evaluate(text, case.state())
    if verdict.action is not Action.ALLOW:
        return
    assert _run(maria_database, case, recreate=True), (text, mode, verdict)
