"""POSTGRES as the session core sees it: a Dialect that builds Guardrails and a masking policy."""

from __future__ import annotations

from gateway.guardrails import Action, Dialect, rules_from_config
from gateway.masking import MaskingRules
from gateway.postgres.dialect import POSTGRES, Guardrails, MaskingPolicy, SessionState


def test_postgres_is_a_dialect_for_postgres_connections() -> None:
    """It serves the type postgres, and a fresh session's state is SessionState()."""
    dialect: Dialect[SessionState, MaskingPolicy] = POSTGRES  # mypy checks the Protocol
    assert dialect.name == "postgres"
    assert dialect.state_type() == SessionState()


def test_its_guardrails_classify_with_pglast_and_apply_the_rules() -> None:
    """The rule set it builds is Guardrails: a DROP is held, a custom rule blocks a table."""
    rules = rules_from_config("default", [{"name": "pii", "action": "block", "table": "people"}])
    guardrails = POSTGRES.guardrails(rules)
    assert isinstance(guardrails, Guardrails)
    assert guardrails.evaluate("DROP TABLE t", SessionState()).action is Action.HOLD
    assert guardrails.evaluate("SELECT * FROM people", SessionState()).action is Action.BLOCK
    kinds = POSTGRES.classify("SELECT 1", SessionState()).kinds
    assert {kind.value for kind in kinds} == {"read"}


def test_its_masking_policy_is_none_when_nothing_is_masked() -> None:
    """Empty masking rules give no policy; column rules and detectors give a MaskingPolicy."""
    assert POSTGRES.masking(MaskingRules()) is None
    policy = POSTGRES.masking(MaskingRules(["people.ssn"], ["email"]))
    assert policy == MaskingPolicy(["people.ssn"], ["email"])
