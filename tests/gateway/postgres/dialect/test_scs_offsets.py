"""With standard_conforming_strings off, a backslash in a plain literal is ambiguous however
many non-ASCII characters come before it (pglast's scanner counts characters, not bytes)."""

from __future__ import annotations

import pytest

from gateway.guardrails import Kind
from gateway.postgres.dialect import SessionState, classify

OFF = SessionState(standard_conforming_strings=False)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 'x\\' -- ' ; DELETE FROM t; --'",
        "SELECT 'é', 'x\\' -- ' ; DELETE FROM t; --'",
        "SELECT 'éééééééééé', 'x\\' -- ' ; DELETE FROM t; --'",
        "SELECT '☕☕☕' AS \"ü\", 'x\\' -- ' ; DELETE FROM t; --'",
        "SELECT /* ünïcödé */ 'x\\' -- ' ; DELETE FROM t; --'",
    ],
)
def test_backslash_after_non_ascii_is_ambiguous(sql: str) -> None:
    """The server (scs off) reads two statements, a DELETE among them: never one read."""
    [statement] = classify(sql, OFF).statements
    assert [finding.kind for finding in statement.findings] == [Kind.AMBIGUOUS]
