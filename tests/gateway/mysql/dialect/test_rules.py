"""Custom rules on MySQL statements: tables and functions as the classifier names them."""

from __future__ import annotations

import pytest

from gateway.guardrails import Action, Kind, rules_from_config
from gateway.mysql.dialect import MYSQL, Guardrails, MySQLState

STATE = MySQLState(database="app")


def _guardrails(*rules: dict[str, object]) -> Guardrails:
    return MYSQL.guardrails(rules_from_config("default", list(rules)))


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("SELECT * FROM t", ("t",)),
        ("SELECT * FROM App.T JOIN u ON 1", ("app.t", "u")),
        ("SELECT * FROM `my db`.`My T`", ("my db.my t",)),
        ("WITH c AS (SELECT 1) SELECT * FROM c JOIN t", ("t",)),
        ("DELETE FROM t WHERE id = 1", ("t",)),
        ("INSERT INTO a.t SELECT * FROM b.u", ("a.t", "b.u")),
        ("DROP TABLE x, y.z", ("x", "y.z")),
        ("RENAME TABLE a TO b", ("a", "b")),
        ("TRUNCATE TABLE logs", ("logs",)),
        ("CREATE TABLE n (id INT)", ("n",)),
        ("ALTER TABLE t DROP COLUMN c", ("t",)),
        ("HANDLER t READ FIRST", ("t",)),
        ("DESCRIBE t", ("t",)),
        ("SELECT 1 FROM DUAL", ()),
    ],
)
def test_tables_are_named_as_written_and_folded(sql: str, tables: tuple[str, ...]) -> None:
    """Every table a statement touches, ``db.table`` when qualified, case-folded."""
    assert MYSQL.classify(sql, STATE).tables == tables


def test_functions_are_named() -> None:
    """Called functions are listed (folded), built-ins and others alike."""
    functions = MYSQL.classify("SELECT UPPER(a), my_fn(b), app.f(c) FROM t", STATE).functions
    assert functions == ("upper", "my_fn", "f")


def test_an_allow_rule_waives_unbounded_writes_on_its_tables_only() -> None:
    """``allow write_unbounded on staging_*``: a full DELETE there runs, elsewhere it is held."""
    guardrails = _guardrails(
        {"name": "staging", "action": "allow", "kind": "write_unbounded", "table": "staging_*"}
    )
    assert guardrails.evaluate("DELETE FROM staging_orders", STATE).action is Action.ALLOW
    assert guardrails.evaluate("DELETE FROM orders", STATE).action is Action.HOLD
    joined = "DELETE s FROM staging_a s JOIN orders o ON s.id = o.id"
    assert guardrails.evaluate(joined, STATE).action is Action.HOLD


def test_a_function_rule_blocks_a_call_in_any_spelling() -> None:
    """``block function sha1``: upper case, backticks and nested calls are all caught."""
    guardrails = _guardrails({"name": "no-sha1", "action": "block", "function": "sha1"})
    for sql in ("SELECT SHA1('x')", "SELECT `sha1`('x')", "SELECT UPPER(sha1(a)) FROM t"):
        assert guardrails.evaluate(sql, STATE).action is Action.BLOCK, sql
    assert guardrails.evaluate("SELECT MD5('x')", STATE).action is Action.ALLOW


def test_a_schema_qualified_table_rule() -> None:
    """``hold table billing.*`` holds reads of that schema's tables, not of others."""
    guardrails = _guardrails({"name": "billing", "action": "hold", "table": "billing.*"})
    assert guardrails.evaluate("SELECT * FROM billing.invoices", STATE).action is Action.HOLD
    assert guardrails.evaluate("SELECT * FROM app.invoices", STATE).action is Action.ALLOW


def test_escapes_and_unknowns_cannot_be_waived() -> None:
    """No allow rule loosens escapes or unread text, however wide it is."""
    with pytest.raises(ValueError, match="cannot be allowed"):
        rules_from_config("default", [{"name": "x", "action": "allow", "kind": "server_escape"}])
    guardrails = _guardrails(
        {"name": "wide", "action": "allow", "kind": ["destroy", "privilege", "config"]}
    )
    assert guardrails.evaluate("DROP TABLE t", STATE).action is Action.ALLOW
    load = guardrails.evaluate("LOAD DATA INFILE 'x' INTO TABLE t", STATE)
    assert load.action is Action.BLOCK
    assert guardrails.evaluate("FROBNICATE", STATE).action is Action.HOLD


def test_a_regex_rule_sees_the_statement_text() -> None:
    """``hold regex`` matches the statement's own text (comments inside it included)."""
    guardrails = _guardrails({"name": "tagged", "action": "hold", "regex": "/\\* ?urgent"})
    assert guardrails.evaluate("SELECT /* urgent */ 1", STATE).action is Action.HOLD
    assert guardrails.evaluate("SELECT 1", STATE).action is Action.ALLOW


def test_row_locks_can_be_held_by_a_rule() -> None:
    """SELECT ... FOR UPDATE runs by default; a row_lock rule holds it."""
    assert MYSQL.classify("SELECT * FROM t FOR UPDATE", STATE).kinds == {Kind.READ, Kind.ROW_LOCK}
    guardrails = _guardrails({"name": "locks", "action": "hold", "kind": "row_lock"})
    assert guardrails.evaluate("SELECT * FROM t FOR UPDATE", STATE).action is Action.HOLD
