"""Custom rules on PostgreSQL statements: tightening, waivers that cannot reach escapes, worst-of
verdicts."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from gateway.guardrails import Action, RuleError, StatementBlocked
from gateway.postgres.dialect import Guardrails, SessionState

STATE = SessionState()


def _verdict(rules: list[Mapping[str, object]], sql: str) -> tuple[Action, str]:
    verdict = Guardrails.from_config("default", rules).evaluate(sql, STATE)
    return verdict.action, verdict.rule


def test_unknown_guardrails_set_is_rejected() -> None:
    """Only the built-in 'default' set exists."""
    with pytest.raises(RuleError, match="unknown guardrails set"):
        Guardrails.from_config("strict")


def test_block_rule_tightens_writes_on_a_table() -> None:
    """A block rule on writes to a table blocks them, names itself, and leaves reads alone."""
    rules: list[Mapping[str, object]] = [
        {"name": "ledger-is-append-only", "action": "block", "kind": ["write"], "table": "ledger"}
    ]
    assert _verdict(rules, "DELETE FROM ledger WHERE id = 1") == (
        Action.BLOCK,
        "ledger-is-append-only",
    )
    assert _verdict(rules, "SELECT * FROM ledger")[0] is Action.ALLOW
    assert _verdict(rules, "DELETE FROM other WHERE id = 1")[0] is Action.ALLOW


def test_hold_rule_by_function_and_by_regex() -> None:
    """Hold rules can match a called function or, as a last resort, the statement text."""
    rules: list[Mapping[str, object]] = [
        {"name": "no-md5", "action": "hold", "function": "md5"},
        {"name": "pii", "action": "hold", "regex": r"\bssn\b", "reason": "touches SSNs"},
    ]
    assert _verdict(rules, "SELECT md5('x')") == (Action.HOLD, "no-md5")
    verdict = Guardrails.from_config("default", rules).evaluate("SELECT ssn FROM people", STATE)
    assert (verdict.action, verdict.rule, verdict.reason) == (Action.HOLD, "pii", "touches SSNs")


def test_rule_with_dotted_table_pattern() -> None:
    """A schema.table pattern matches qualified names, and unqualified ones when tightening."""
    rules: list[Mapping[str, object]] = [{"name": "fin", "action": "hold", "table": "finance.*"}]
    assert _verdict(rules, "SELECT * FROM finance.accounts")[0] is Action.HOLD
    assert _verdict(rules, "SELECT * FROM public.accounts")[0] is Action.ALLOW
    assert _verdict(rules, "SELECT * FROM accounts")[0] is Action.HOLD


def test_allow_rule_waives_destroy_on_matching_tables_only() -> None:
    """An allow rule lets TRUNCATE of scratch tables run, but not when another table is in it."""
    rules: list[Mapping[str, object]] = [
        {"name": "scratch", "action": "allow", "kind": ["destroy"], "table": "scratch_*"}
    ]
    assert _verdict(rules, "TRUNCATE scratch_1") == (Action.ALLOW, "scratch")
    assert _verdict(rules, "TRUNCATE scratch_1, orders") == (Action.HOLD, "default/destroy")
    assert _verdict(rules, "DROP TABLE orders") == (Action.HOLD, "default/destroy")
    assert _verdict(rules, "DROP TABLE public.scratch_2")[0] is Action.ALLOW


def test_allow_rule_with_schema_needs_the_schema_written() -> None:
    """A dotted allow pattern waives only names written with that schema (search_path aside)."""
    rules: list[Mapping[str, object]] = [
        {"name": "tmp", "action": "allow", "kind": "destroy", "table": "tmp.*"}
    ]
    assert _verdict(rules, "DROP TABLE tmp.x") == (Action.ALLOW, "tmp")
    assert _verdict(rules, "DROP TABLE x")[0] is Action.HOLD
    assert _verdict(rules, "DROP TABLE public.x")[0] is Action.HOLD


def test_allow_rule_waives_only_the_kinds_it_names() -> None:
    """Allowing destroy on scratch does not allow a grant on it."""
    rules: list[Mapping[str, object]] = [
        {"name": "scratch", "action": "allow", "kind": "destroy", "table": "scratch*"}
    ]
    assert _verdict(rules, "GRANT ALL ON scratch TO PUBLIC") == (Action.HOLD, "default/privilege")


def test_allow_rule_for_a_user_function() -> None:
    """A named user function may run; a second, unnamed one in the statement is still held."""
    rules: list[Mapping[str, object]] = [
        {"name": "reports", "action": "allow", "kind": "procedural", "function": "report_*"}
    ]
    assert _verdict(rules, "SELECT report_daily(1)") == (Action.ALLOW, "reports")
    assert _verdict(rules, "SELECT report_daily(1), wipe()")[0] is Action.HOLD


def test_allow_rule_cannot_reach_escapes() -> None:
    """Even an allow rule naming the function cannot loosen a server-side escape."""
    rules: list[Mapping[str, object]] = [
        {"name": "files", "action": "allow", "kind": ["procedural", "read"], "function": "pg_*"}
    ]
    assert _verdict(rules, "SELECT pg_read_file('/etc/passwd')") == (
        Action.BLOCK,
        "default/server_escape",
    )


def test_tightening_wins_over_allow_whatever_the_order() -> None:
    """A block rule listed after an allow rule still blocks: order never loosens."""
    rules: list[Mapping[str, object]] = [
        {"name": "scratch", "action": "allow", "kind": "destroy", "table": "scratch_*"},
        {"name": "keep-9", "action": "block", "table": "scratch_9"},
    ]
    assert _verdict(rules, "TRUNCATE scratch_9") == (Action.BLOCK, "keep-9")
    assert _verdict(rules, "TRUNCATE scratch_1") == (Action.ALLOW, "scratch")


def test_rule_without_matches_applies_to_everything() -> None:
    """A hold rule with no criteria holds every statement (a fully reviewed connection)."""
    assert _verdict([{"name": "all", "action": "hold"}], "SELECT 1") == (Action.HOLD, "all")


def test_custom_hold_does_not_lower_a_block() -> None:
    """A hold rule matching an escape leaves the block in place."""
    rules: list[Mapping[str, object]] = [{"name": "copy", "action": "hold", "regex": "COPY"}]
    assert _verdict(rules, "COPY t TO PROGRAM 'x'") == (Action.BLOCK, "default/server_escape")


def test_multi_statement_verdict_is_the_worst() -> None:
    """block > hold > allow across statements; the reason names the statement."""
    verdict = Guardrails().evaluate("SELECT 1; TRUNCATE t; COPY t TO PROGRAM 'x'", STATE)
    assert (verdict.action, verdict.rule) == (Action.BLOCK, "default/server_escape")
    assert verdict.reason.startswith("statement 3 of 3:")


def test_risk_levels() -> None:
    """Risk is the highest over all kinds: none, low, medium, high, critical."""
    guardrails = Guardrails()
    assert guardrails.evaluate("", STATE).risk == "none"
    assert guardrails.evaluate("SELECT 1", STATE).risk == "low"
    assert guardrails.evaluate("INSERT INTO t VALUES (1)", STATE).risk == "medium"
    assert guardrails.evaluate("DROP TABLE t", STATE).risk == "high"
    assert guardrails.evaluate("SELECT 1; LOAD 'x'", STATE).risk == "critical"


def test_check_raises_statement_blocked_with_sqlstate() -> None:
    """check() turns a block into StatementBlocked (42501) naming the rule; others return."""
    guardrails = Guardrails()
    with pytest.raises(StatementBlocked, match="default/server_escape") as info:
        guardrails.check("COPY t TO PROGRAM 'x'", STATE)
    assert info.value.sqlstate == "42501"
    assert info.value.verdict.action is Action.BLOCK
    assert guardrails.check("DROP TABLE t", STATE).action is Action.HOLD
