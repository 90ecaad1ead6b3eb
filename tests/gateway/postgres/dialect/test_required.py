"""The statements the brief names: never allowed without review, or always allowed."""

from __future__ import annotations

import pytest

from gateway.guardrails import Action
from gateway.postgres.dialect import Guardrails, SessionState

NEVER_WITHOUT_REVIEW = [
    "DROP/**/TABLE t",
    "SELECT 1; DROP TABLE t",
    "WITH d AS (DELETE FROM t RETURNING *) SELECT 1",
    "DELETE FROM t WHERE 1=1",
    "COPY t TO PROGRAM 'x'",
    "EXPLAIN ANALYZE DELETE FROM t",
]
RUN_WITHOUT_REVIEW = [
    "SELECT 'DROP TABLE t'",
    "SELECT 1 /* ; DROP TABLE t */",
    "DELETE FROM t WHERE id = 1",
]


@pytest.mark.parametrize("sql", NEVER_WITHOUT_REVIEW)
def test_never_allowed_without_review(sql: str) -> None:
    """Destroying, unbounded and escaping statements are held or blocked, never allowed."""
    assert Guardrails().evaluate(sql, SessionState()).action is not Action.ALLOW


def test_copy_to_program_is_blocked() -> None:
    """COPY ... TO PROGRAM is a server-side escape: blocked, naming the rule."""
    verdict = Guardrails().evaluate("COPY t TO PROGRAM 'x'", SessionState())
    assert verdict.action is Action.BLOCK
    assert verdict.rule == "default/server_escape"
    assert verdict.risk == "critical"


@pytest.mark.parametrize("sql", RUN_WITHOUT_REVIEW)
def test_runs_without_review(sql: str) -> None:
    """Text inside literals and comments is not a statement; a bounded delete runs."""
    assert Guardrails().evaluate(sql, SessionState()).action is Action.ALLOW


def test_drop_is_held_not_blocked() -> None:
    """DROP is destroying DDL: held for approval with the destroy rule."""
    verdict = Guardrails().evaluate("DROP/**/TABLE t", SessionState())
    assert (verdict.action, verdict.rule) == (Action.HOLD, "default/destroy")
