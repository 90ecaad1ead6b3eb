"""Hypothesis properties: any text gets a verdict; random text is never allowed unless it
reads as harmless statements; disguises never loosen a verdict."""

from __future__ import annotations

from itertools import pairwise

import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.guardrails import Action, Kind
from gateway.mysql.dialect import MYSQL, LexError, MySQLState, classify
from gateway.mysql.dialect.lexer import Reading, TokenType, lex, render, split
from tests.gateway.mysql.dialect.corpus import BASE

SEVERITY = {Action.ALLOW: 0, Action.HOLD: 1, Action.BLOCK: 2}
DANGER = frozenset(
    ["DROP", "DELETE", "TRUNCATE", "GRANT", "LOAD_FILE", "OUTFILE", "DUMPFILE", "SHUTDOWN",
     "KILL", "ALTER", "RENAME", "UPDATE", "PREPARE", "EXECUTE", "CALL", "LOAD", "INSTALL"]
)  # fmt: skip
PIECES = [
    "SELECT", "1", "DROP", "TABLE", "t", "DELETE", "FROM", "WHERE", "id", "=", ";", "'", '"',
    "`", "\\", "#", "--", "-- ", "/*", "*/", "/*!", "/*!50000", "/*M!", "\n", " ", "(", ")",
    "LOAD_FILE", "INTO", "OUTFILE", "UPDATE", "SET", "a", "@x", ":=", "sql_mode", "PREPARE",
    "s", "EXECUTE", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "'NO_BACKSLASH_ESCAPES'", ",",
    "GRANT", "ALL", "ON", "*.*", "TO", "u", "SHUTDOWN", "KILL", "2", "OR", "AND", "LIMIT",
]  # fmt: skip
GUARDRAILS = MYSQL.guardrails([])
ALLOWED_KINDS = frozenset(
    [Kind.READ, Kind.WRITE, Kind.ROW_LOCK, Kind.DDL, Kind.TRANSACTION, Kind.SESSION]
)


def _danger_in_any_reading(text: str) -> bool:
    """Whether a dangerous keyword is a token (not in a string or comment) under some reading
    of the executable comments and sql_mode; True when some reading cannot be lexed."""
    for ansi in (False, True):
        for nbe in (False, True):
            for reading in (Reading(True, 5), Reading(True, 6), Reading(False)):
                try:
                    tokens = lex(text, ansi_quotes=ansi, no_backslash_escapes=nbe, reading=reading)
                except LexError:
                    continue
                if any(t.type is TokenType.WORD and t.upper in DANGER for t in tokens):
                    return True
    return False


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_classify_never_raises_on_any_text(text: str) -> None:
    """Any text gets a classification with at least one statement or none (empty text)."""
    classification = classify(text, MySQLState())
    assert isinstance(classification.statements, tuple)
    GUARDRAILS.evaluate(text, MySQLState().with_sql_mode(None))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=14).map(" ".join))
def test_random_sql_soup_is_allowed_only_when_it_reads_as_harmless(text: str) -> None:
    """Random SQL soup is allowed only when it parses and holds no dangerous statement."""
    state = MySQLState()
    verdict = MYSQL.guardrails([]).evaluate(text, state)
    if verdict.action is not Action.ALLOW:
        return
    assert verdict.kinds <= ALLOWED_KINDS, (text, verdict)
    tokens = lex(text)
    for statement, _ in split(tokens, len(text)):
        if statement[0].upper in ("SELECT", "WITH", "VALUES", "TABLE", "("):
            assert sqlglot.parse(render(statement), read="mysql"), text
        assert statement[0].upper not in DANGER, (text, verdict)
        words = [t.upper for t in statement]
        calls = {words[i] for i in range(len(words) - 1) if words[i + 1] == "("}
        assert "LOAD_FILE" not in calls, (text, verdict)
        pairs = set(pairwise(words))
        assert not pairs & {("INTO", "OUTFILE"), ("INTO", "DUMPFILE")}, (text, verdict)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=12).map(" ".join))
def test_unknown_sql_mode_is_never_looser(text: str) -> None:
    """With sql_mode unknown the verdict is at least as strict as under every known mode."""
    unknown = MYSQL.guardrails([]).evaluate(text, MySQLState().with_sql_mode(None))
    for mode in ("", "ANSI_QUOTES", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES,NO_BACKSLASH_ESCAPES"):
        known = MYSQL.guardrails([]).evaluate(text, MySQLState().with_sql_mode(mode))
        assert SEVERITY[unknown.action] >= SEVERITY[known.action], (text, mode)


FILLERS = [" ", "\t", "\n", " /**/ ", " /* x */ ", " -- c\n", " # c\n", " /* ; DROP TABLE t */ "]
# Spaces between words are gaps between tokens unless a quote or comment is open there.
DISGUISABLE = [
    c
    for c in BASE
    if " " in c.sql and not any(m in c.sql for m in ("'", '"', "`", "/*", "#", "--"))
]


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str, MySQLState]:
    case = draw(st.sampled_from(DISGUISABLE))
    words = case.sql.split(" ")
    out = words[0]
    for word in words[1:]:
        out += draw(st.sampled_from(FILLERS)) + word
    return case.sql, out, case.state()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(disguised())
def test_comments_and_whitespace_never_loosen(triple: tuple[str, str, MySQLState]) -> None:
    """Random comments or whitespace between words never make a verdict less strict."""
    plain, text, state = triple
    before = GUARDRAILS.evaluate(plain, state)
    after = MYSQL.guardrails([]).evaluate(text, state)
    assert SEVERITY[after.action] >= SEVERITY[before.action], text


def test_danger_helper_sees_executable_comments() -> None:
    """The property's own check finds a DROP inside /*!...*/ and not inside a string."""
    assert _danger_in_any_reading("/*!50000 DROP TABLE t */")
    assert not _danger_in_any_reading("SELECT 'DROP TABLE t'")
