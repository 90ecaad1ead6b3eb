"""Hypothesis properties: disguises never loosen a verdict; any text gets a verdict."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pglast import parser

from gateway.guardrails import Action
from gateway.postgres.dialect import Guardrails, SessionState
from tests.gateway.postgres.dialect.corpus import CASES, Case
from tests.gateway.postgres.dialect.helpers import SEVERITY, gaps, insert_at

FILLERS = [
    " ",
    "\t",
    "\n",
    "\r\n",
    "\f",
    " /**/ ",
    " /* x */ ",
    " /* /* nested */ still */ ",
    " -- c\n",
    " --\n",
    " /* ; DROP TABLE t */ ",
    " -- '; DROP TABLE t\n",
    " /* $$ ' \" */ ",
]
DISGUISABLE = [case for case in CASES if gaps(case.sql)]
GUARDRAILS = Guardrails()


@st.composite
def disguised(draw: st.DrawFn) -> tuple[Case, str]:
    case = draw(st.sampled_from(DISGUISABLE))
    offsets = gaps(case.sql) or [0]
    chosen = draw(st.lists(st.sampled_from(offsets), min_size=1, max_size=6))
    inserts = {
        offset: "".join(draw(st.lists(st.sampled_from(FILLERS), min_size=1, max_size=3)))
        for offset in chosen
    }
    return case, insert_at(case.sql, inserts)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(disguised())
def test_comments_and_whitespace_never_loosen(pair: tuple[Case, str]) -> None:
    """Random comments or whitespace between tokens never make a verdict less strict."""
    case, text = pair
    before = GUARDRAILS.evaluate(case.sql, case.state())
    after = Guardrails().evaluate(text, case.state())
    assert SEVERITY[after.action] >= SEVERITY[before.action], text


def _parses(text: str) -> bool:
    try:
        parser.parse_sql_json(text)
    except Exception:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.text(), st.booleans())
def test_random_text_gets_a_verdict(text: str, scs: bool) -> None:
    """Any text returns a verdict without raising; unparseable text is never allowed."""
    verdict = Guardrails().evaluate(text, SessionState(standard_conforming_strings=scs))
    assert verdict.action in (Action.ALLOW, Action.HOLD, Action.BLOCK)
    if "\x00" not in text and not _parses(text):
        assert verdict.action is not Action.ALLOW
        if scs:
            assert verdict.action is Action.HOLD


SQLISH = st.lists(
    st.sampled_from(
        [
            "SELECT",
            "DELETE",
            "UPDATE t SET a = 1",
            "FROM",
            "t",
            "u",
            "WHERE",
            "id",
            "=",
            "1",
            "true",
            "false",
            "'t'",
            "OR",
            "AND",
            "NOT",
            "1=1",
            "id = 1",
            ";",
            "DROP",
            "TABLE",
            "'x'",
            "$$",
            "/*",
            "*/",
            "--",
            "\n",
            "(",
            ")",
            "pg_read_file('x')",
            "lower(id)",
            "COPY",
            "TO",
            "PROGRAM",
            "STDOUT",
            "E'\\''",
            "\\",
            "WITH d AS",
            "RETURNING *",
            "*",
            ",",
            "EXPLAIN",
            "ANALYZE",
            "LIKE '%'",
            "IS NULL",
            "EXISTS (SELECT 1)",
        ]
    ),
    max_size=14,
).map(" ".join)
SHARED = Guardrails()


@settings(max_examples=600, deadline=None)
@given(SQLISH, st.booleans())
def test_cached_verdicts_match_fresh_ones(text: str, scs: bool) -> None:
    """A long-lived cache (exact text and fingerprint) always gives the fresh verdict."""
    state = SessionState(standard_conforming_strings=scs)
    assert SHARED.evaluate(text, state) == Guardrails().evaluate(text, state), text


CONDITIONS = st.sampled_from(
    [
        "",
        " WHERE id = {n}",
        " WHERE {n} = {n}",
        " WHERE {n} = {m}",
        " WHERE true",
        " WHERE false",
        " WHERE 't'",
        " WHERE id = id",
        " WHERE id = {n} OR true",
        " WHERE id = {n} OR false",
        " WHERE id = {n} AND true",
        " WHERE name LIKE '%'",
        " WHERE name LIKE 'a%'",
        " WHERE name ~ ''",
        " WHERE EXISTS (SELECT {n})",
        " WHERE id IN ({n}, {m})",
        " WHERE id = {n} OR {n} = {m}",
    ]
)
DML = st.builds(
    lambda verb, cond, tail, n, m: verb + cond.format(n=n, m=m) + tail,
    st.sampled_from(["DELETE FROM t", "UPDATE t SET a = 1", "SELECT * FROM t", "SELECT 1"]),
    CONDITIONS,
    st.sampled_from(["", " RETURNING *", f" RETURNING pg_sleep({1})"]),
    st.integers(0, 3),
    st.integers(0, 3),
)


@settings(max_examples=600, deadline=None)
@given(DML)
def test_fingerprint_cache_never_mixes_up_literals(text: str) -> None:
    """Statements differing only in literals get their own verdicts through a shared cache."""
    state = SessionState()
    assert SHARED.evaluate(text, state) == Guardrails().evaluate(text, state), text
