"""MYSQL as the session core sees it: a Dialect that builds a rule set and a masking policy,
and the listener's helpers (state upkeep, KILL recognition)."""

from __future__ import annotations

import pytest

from gateway.guardrails import Action, Dialect, Kind, RuleSet, rules_from_config
from gateway.masking import MaskingRules
from gateway.mysql.dialect import MYSQL, KillTarget, MySQLMasking, MySQLState, kill_target


def test_mysql_is_a_dialect_for_mysql_connections() -> None:
    """It serves the type mysql, and a fresh session's state is MySQLState()."""
    dialect: Dialect[MySQLState, MySQLMasking] = MYSQL  # mypy checks the Protocol
    assert dialect.name == "mysql"
    assert dialect.state_type() == MySQLState()


def test_its_guardrails_apply_the_default_and_custom_rules() -> None:
    """A DROP is held, a custom rule blocks a table, a read runs."""
    rules = rules_from_config("default", [{"name": "pii", "action": "block", "table": "people"}])
    guardrails = MYSQL.guardrails(rules)
    assert isinstance(guardrails, RuleSet)
    assert guardrails.evaluate("DROP TABLE t", MySQLState()).action is Action.HOLD
    assert guardrails.evaluate("SELECT * FROM people", MySQLState()).action is Action.BLOCK
    assert guardrails.evaluate("SELECT * FROM app.people", MySQLState()).action is Action.BLOCK
    assert MYSQL.classify("SELECT 1", MySQLState()).kinds == {Kind.READ}


def test_an_allow_rule_waives_a_kind_but_never_an_escape() -> None:
    """``allow`` waives destroy on a table it names; LOAD_FILE stays blocked whatever it says."""
    rules = rules_from_config(
        "default", [{"name": "scratch", "action": "allow", "kind": "destroy", "table": "tmp_*"}]
    )
    guardrails = MYSQL.guardrails(rules)
    assert guardrails.evaluate("DROP TABLE tmp_x", MySQLState()).action is Action.ALLOW
    assert guardrails.evaluate("DROP TABLE users", MySQLState()).action is Action.HOLD
    blocked = guardrails.evaluate("SELECT LOAD_FILE('/x') FROM tmp_x", MySQLState())
    assert blocked.action is Action.BLOCK


def test_its_masking_policy_is_none_when_nothing_is_masked() -> None:
    """Empty masking rules give no policy; column rules or detectors give a MySQLMasking."""
    assert MYSQL.masking(MaskingRules()) is None
    assert isinstance(MYSQL.masking(MaskingRules(["people.ssn"], ["email"])), MySQLMasking)


def test_state_after_folds_in_sql_mode_use_and_prepare() -> None:
    """``after`` applies SET sql_mode, USE and PREPARE / DEALLOCATE as the server would."""
    state = MySQLState().after("SET sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES'; USE shop")
    assert (state.ansi_quotes, state.no_backslash_escapes, state.database) == (True, True, "shop")
    state = state.after("PREPARE p FROM 'DELETE FROM t'")
    assert state.prepared["p"].kinds == {Kind.WRITE_UNBOUNDED}
    assert "p" not in state.after("DEALLOCATE PREPARE P").prepared
    assert not state.after("SET sql_mode = CONCAT(@@sql_mode, ',ANSI')").sql_mode_known
    assert not state.after("SET sql_mode = 4").sql_mode_known  # a bit mask: ANSI_QUOTES
    assert not MySQLState().with_sql_mode("ANSI_QUOTES,SOMETHING_NEW").sql_mode_known


def test_state_with_helpers_and_value_of() -> None:
    """``with_database`` / ``with_sql_mode`` replace one field; ``value_of`` names the inputs."""
    state = MySQLState().with_database("app").with_sql_mode("ANSI")
    assert state.database == "app" and state.ansi_quotes and not state.no_backslash_escapes
    assert state.value_of("database") == "app"
    assert state.value_of("sql_mode") == (True, False, True, False)
    assert state.value_of("prepared:nosuch") is None
    assert not MySQLState().with_sql_mode(None).sql_mode_known


def test_cache_is_not_served_across_a_sql_mode_change() -> None:
    """The same text under another sql_mode is classified again, not taken from the cache."""
    guardrails = MYSQL.guardrails([])
    text = "SELECT 'a\\'; DROP TABLE t; -- '"
    assert guardrails.evaluate(text, MySQLState()).action is Action.ALLOW
    nbe = MySQLState().with_sql_mode("NO_BACKSLASH_ESCAPES")
    assert guardrails.evaluate(text, nbe).action is Action.HOLD


def test_execute_is_judged_by_the_statement_prepared_now() -> None:
    """EXECUTE s takes the kinds of what s is now, even when cached for another body."""
    guardrails = MYSQL.guardrails([])
    safe = MySQLState().after("PREPARE s FROM 'SELECT 1'")
    assert guardrails.evaluate("EXECUTE s", safe).action is Action.ALLOW
    unsafe = safe.after("PREPARE s FROM 'DROP TABLE t'")
    assert guardrails.evaluate("EXECUTE s", unsafe).action is Action.HOLD


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("KILL QUERY 12", KillTarget(12, True)),
        ("kill query 12;", KillTarget(12, True)),
        ("KILL 5", KillTarget(5, False)),
        ("KILL CONNECTION 7", KillTarget(7, False)),
        ("KILL HARD QUERY ID 9", KillTarget(9, True)),
        ("KILL /* ctrl-c */ QUERY 3", KillTarget(3, True)),
        ("KILL USER bob", None),
        ("KILL QUERY @x", None),
        ("KILL QUERY 1; DROP TABLE t", None),
        ("SELECT 1", None),
        ("KILL 'x", None),
    ],
)
def test_kill_target(text: str, target: KillTarget | None) -> None:
    """Only a single KILL [QUERY | CONNECTION] with a literal id is recognised."""
    assert kill_target(text, MySQLState()) == target


def test_many_statements_or_sql_mode_changes_hold_the_rest_unread() -> None:
    """Past the caps the rest of a text is one unknown statement (held), in bounded time."""
    flips = "SET sql_mode = 'ANSI_QUOTES'; SET sql_mode = ''; " * 40 + "SELECT 1"
    verdict = MYSQL.guardrails([]).evaluate(flips, MySQLState())
    assert verdict.action is Action.HOLD and "not read" in verdict.reason
    many = "SELECT 1; " * 1200
    classification = MYSQL.classify(many, MySQLState())
    assert len(classification.statements) == 1001
    assert classification.statements[-1].kinds == {Kind.UNKNOWN}


def test_long_texts_are_read_in_bounded_time() -> None:
    """A bulk INSERT is a write read from its tokens; a huge expression is held unparsed."""
    bulk = "INSERT INTO app.t VALUES " + ",".join(["(1, 'a', NOW())"] * 3000)
    classification = MYSQL.classify(bulk, MySQLState())
    assert classification.kinds == {Kind.WRITE} and classification.tables == ("app.t",)
    escape = bulk + ", (LOAD_FILE('/etc/passwd'), 1, 1)"
    assert Kind.SERVER_ESCAPE in MYSQL.classify(escape, MySQLState()).kinds
    huge = "SELECT " + "1+" * 30_000 + "1"
    assert MYSQL.classify(huge, MySQLState()).kinds == {Kind.UNKNOWN}
