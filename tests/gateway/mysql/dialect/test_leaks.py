"""Masked values around the result set: the texts a masking MySQL connection refuses, and the
outputs it masks whole because they are computed from a masked column."""

from __future__ import annotations

import pytest

from gateway.masking import MaskingRules
from gateway.mysql.dialect import MYSQL, MySQLMasking, MySQLState
from gateway.mysql.dialect.leaks import ALL_OUTPUTS

STATE = MySQLState(database="app")


def _masking(columns: list[str], detectors: list[str] | None = None) -> MySQLMasking:
    masking = MYSQL.masking(MaskingRules(columns, detectors or []))
    assert masking is not None
    return masking


REFUSED = [
    ("SHOW WARNINGS", "masking/diagnostics"),
    ("show errors", "masking/diagnostics"),
    ("SHOW COUNT(*) WARNINGS", "masking/diagnostics"),
    ("GET DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT", "masking/diagnostics"),
    ("SELECT * FROM information_schema.COLUMN_STATISTICS", "masking/statistics"),
    ("SELECT * FROM mysql.column_stats", "masking/statistics"),
    ("SELECT * FROM information_schema.INNODB_FT_INDEX_TABLE", "masking/statistics"),
    ("INSERT INTO x SELECT ssn FROM customers", "masking/copy"),
    ("INSERT INTO x (a) SELECT UPPER(ssn) FROM customers", "masking/copy"),
    ("REPLACE INTO x SELECT ssn FROM customers", "masking/copy"),
    ("INSERT INTO x SELECT * FROM customers", "masking/copy"),
    ("INSERT INTO x SELECT c.* FROM customers c", "masking/copy"),
    ("CREATE TABLE x AS SELECT ssn FROM customers", "masking/copy"),
    ("CREATE TABLE x SELECT email FROM users", "masking/copy"),
    ("CREATE VIEW v AS SELECT ssn AS s FROM customers", "masking/copy"),
    ("CREATE OR REPLACE VIEW v AS SELECT * FROM customers", "masking/copy"),
    ("ALTER VIEW v AS SELECT ssn FROM customers", "masking/copy"),
    ("UPDATE t SET a = ssn WHERE id = 1", "masking/copy"),
    ("UPDATE t SET a = CONCAT('x', email) WHERE id = 1", "masking/copy"),
    ("SET @v = (SELECT ssn FROM customers LIMIT 1)", "masking/copy"),
    ("SELECT ssn INTO @v FROM customers LIMIT 1", "masking/copy"),
    ("SELECT @v := ssn FROM customers", "masking/copy"),
    ("SELECT 1; INSERT INTO x SELECT ssn FROM customers", "masking/copy"),
    ("CREATE PROCEDURE p() SELECT ssn FROM customers", "masking/code"),
    ("CREATE TRIGGER tr AFTER INSERT ON customers FOR EACH ROW SET @x = 1", "masking/code"),
    ("CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO INSERT INTO x SELECT email FROM u", "masking/code"),
    ("ALTER TABLE customers RENAME COLUMN ssn TO x", "masking/rename"),
    ("ALTER TABLE t CHANGE ssn x VARCHAR(11)", "masking/rename"),
    ("RENAME TABLE customers TO c2", "masking/rename"),
    ("ALTER TABLE customers RENAME TO c2", "masking/rename"),
    ("PREPARE s FROM @q", "masking/unreadable"),
    ("PREPARE s FROM 'INSERT INTO x SELECT ssn FROM customers'", "masking/copy"),
    ("EXECUTE IMMEDIATE 'INSERT INTO x SELECT ssn FROM customers'", "masking/copy"),
    ("EXECUTE IMMEDIATE 'SHOW WARNINGS'", "masking/diagnostics"),
    ("EXECUTE IMMEDIATE @q", "masking/unreadable"),
    ("EXPLAIN ANALYZE INSERT INTO x SELECT ssn FROM customers", "masking/copy"),
    ("SELECT id FROM customers WHERE (@v := ssn) IS NOT NULL", "masking/copy"),
    ("ANALYZE FORMAT=JSON INSERT INTO x SELECT ssn FROM customers", "masking/copy"),
    (
        "SET STATEMENT max_statement_time = 1 FOR INSERT INTO x SELECT ssn FROM customers",
        "masking/copy",
    ),
    ("INSERT INTO x SELECT ssn FROM customers 'unterminated", "masking/unreadable"),
    ("SELECT * FROM customers PROCEDURE ANALYSE()", "masking/unreadable"),
    ("SELECT ssn FROM customers WHERE", "masking/unreadable"),
    ("INSERT INTO log VALUES ((SELECT ssn FROM customers LIMIT 1))", "masking/copy"),
    ("UPDATE t SET a = (SELECT ssn FROM customers LIMIT 1) WHERE id = 1", "masking/copy"),
    ("SELECT ssn FROM customers LIMIT 1 INTO @v", "masking/copy"),
]

ALLOWED = [
    "SELECT ssn FROM customers",
    "SELECT * FROM customers",
    "SELECT id FROM customers WHERE ssn LIKE '0%'",
    "INSERT INTO x SELECT id FROM customers WHERE ssn = '1'",
    "UPDATE t SET a = 1 WHERE ssn = 5",
    "INSERT INTO t VALUES (1)",
    "SET @x = 1",
    "CREATE TABLE t (id INT)",
    "ALTER TABLE t RENAME COLUMN a TO b",
    "CREATE PROCEDURE p() SELECT 1",
    "PREPARE s FROM 'SELECT ssn FROM customers'",
    "EXECUTE IMMEDIATE 'SELECT ssn FROM customers'",
    "EXPLAIN SELECT ssn FROM customers",
    "ANALYZE TABLE customers",
    "SET STATEMENT max_statement_time = 1 FOR SELECT ssn FROM customers",
    "SHOW TABLES",
]


@pytest.mark.parametrize(("text", "rule"), REFUSED)
def test_routes_around_the_result_set_are_refused(text: str, rule: str) -> None:
    """Each route out for a masked value is refused under its masking/<route> rule."""
    leak = _masking(["customers.ssn", "email"]).check(text, STATE)
    assert leak is not None and leak.rule == rule, leak


@pytest.mark.parametrize("text", ALLOWED)
def test_reads_and_filters_are_not_leaks(text: str) -> None:
    """Masked output columns, filters on masked columns and unrelated writes run."""
    assert _masking(["customers.ssn", "email"]).check(text, STATE) is None


def test_a_table_qualified_rule_makes_star_a_copy_only_over_its_table() -> None:
    """``customers.ssn``: ``*`` over customers is a copy, over orders it is not."""
    masking = _masking(["customers.ssn"])
    assert masking.check("INSERT INTO x SELECT * FROM customers", STATE) is not None
    assert masking.check("INSERT INTO x SELECT * FROM orders", STATE) is None


def test_detectors_only_refuse_diagnostics_but_not_copies() -> None:
    """With detectors only there is no masked column: copies run, warnings do not."""
    masking = _masking([], ["email"])
    assert masking.check("INSERT INTO x SELECT * FROM customers", STATE) is None
    leak = masking.check("SHOW WARNINGS", STATE)
    assert leak is not None and leak.rule == "masking/diagnostics"


@pytest.mark.parametrize(
    ("text", "outputs"),
    [
        ("SELECT CONCAT(ssn, '') AS x, id FROM customers", {0}),
        ("SELECT id, JSON_OBJECT('e', email) AS j FROM u", {1}),
        ("SELECT GROUP_CONCAT(ssn) FROM customers", {0}),
        ("SELECT name FROM u UNION SELECT ssn FROM customers", {0}),
        ("SELECT x FROM (SELECT ssn AS x FROM customers) d", {0}),
        ("WITH d AS (SELECT ssn AS x FROM c) SELECT x, 1 FROM d", {0}),
        ("SELECT (SELECT ssn FROM customers LIMIT 1) AS z", {0}),
        ("SELECT id, name FROM customers", None),
        ("SELECT ssn FROM customers", None),
        ("SELECT 1; SELECT CONCAT(ssn, '')", None),
        ("SELECT d.* FROM (SELECT ssn AS x FROM customers) d", "all"),
        ("SELECT ssn FROM (SELECT * FROM customers) d", "all"),
        ("SELECT 1, 2 UNION SELECT * FROM customers", "all"),
        ("SELECT * FROM customers c JOIN (SELECT id AS i FROM customers) d ON c.id = d.i", None),
    ],
)
def test_outputs_computed_from_a_masked_column(text: str, outputs: set[int] | str | None) -> None:
    """``derived`` names computed outputs built from a masked column, never bare ones."""
    found = _masking(["customers.ssn", "email"]).derived(text, STATE)
    if outputs == "all":
        assert found is ALL_OUTPUTS and 123 in found
    else:
        assert found == (frozenset(outputs) if isinstance(outputs, set) else None)


def test_with_sql_mode_unknown_every_reading_is_checked() -> None:
    """A copy only NO_BACKSLASH_ESCAPES reveals is refused when the mode is not known."""
    text = "SELECT 'a\\' ; INSERT INTO x SELECT ssn FROM customers -- '"
    masking = _masking(["customers.ssn"])
    assert masking.check(text, STATE) is None
    leak = masking.check(text, STATE.with_sql_mode(None))
    assert leak is not None and leak.rule == "masking/copy"
