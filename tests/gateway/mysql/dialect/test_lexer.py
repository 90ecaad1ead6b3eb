"""The lexer pre-pass: what the server reads as code, comment, string or identifier, and a
canonical rendering that reads back as the same tokens."""

from __future__ import annotations

import pytest
import sqlglot
import sqlglot.errors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from gateway.mysql.dialect import LexError
from gateway.mysql.dialect.lexer import Reading, Token, TokenType, lex, render, split

W, ID, S, N, V, P, OP = (
    TokenType.WORD,
    TokenType.IDENT,
    TokenType.STRING,
    TokenType.NUMBER,
    TokenType.VARIABLE,
    TokenType.PARAM,
    TokenType.OP,
)


def _kinds(text: str, **options: object) -> list[tuple[TokenType, str]]:
    return [(t.type, t.value) for t in lex(text, **options)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("SELECT 1--1", [(W, "SELECT"), (N, "1"), (OP, "-"), (OP, "-"), (N, "1")]),
        ("SELECT 1 -- x", [(W, "SELECT"), (N, "1")]),
        ("SELECT 1 --\tx", [(W, "SELECT"), (N, "1")]),
        ("SELECT 1 --", [(W, "SELECT"), (N, "1")]),
        ("SELECT 1 # x\n, 2", [(W, "SELECT"), (N, "1"), (OP, ","), (N, "2")]),
        ("SELECT /* a ; b */ 1", [(W, "SELECT"), (N, "1")]),
        ("SELECT 'a''b', 'c\\'d'", [(W, "SELECT"), (S, "a'b"), (OP, ","), (S, "c'd")]),
        ("SELECT '\\n\\0\\%'", [(W, "SELECT"), (S, "\n\x00\\%")]),
        ('SELECT "x"', [(W, "SELECT"), (S, "x")]),
        ("SELECT `a``b`", [(W, "SELECT"), (ID, "a`b")]),
        ("SELECT \\N", [(W, "SELECT"), (W, "NULL")]),
        ("SELECT @a, @'b c', @@global.x", [(W, "SELECT"), (V, "@a"), (OP, ","), (V, "@b c"),
                                            (OP, ","), (V, "@@global"), (OP, "."), (W, "x")]),
        ("SELECT ?", [(W, "SELECT"), (P, "?")]),
        ("SELECT 1abc, 0x1F, 1.5e3, .5", [(W, "SELECT"), (ID, "1abc"), (OP, ","), (N, "0x1F"),
                                         (OP, ","), (N, "1.5e3"), (OP, ","), (N, ".5")]),
        ("SELECT a<=>b, c:=d, e->>'$'", [(W, "SELECT"), (W, "a"), (OP, "<=>"), (W, "b"), (OP, ","),
                                        (W, "c"), (OP, ":="), (W, "d"), (OP, ","), (W, "e"),
                                        (OP, "->>"), (S, "$")]),
        ("/*!50000 DROP */ x", [(W, "DROP"), (W, "x")]),
        ("/*!DROP*/", [(W, "DROP")]),
        ("/*M! DROP*/", [(W, "DROP")]),
        ("/*m! DROP*/", []),
    ],
)  # fmt: skip
def test_tokens(text: str, tokens: list[tuple[TokenType, str]]) -> None:
    """Each text lexes to these tokens (types and decoded values)."""
    assert _kinds(text) == tokens


def test_sql_mode_changes_quotes_and_backslashes() -> None:
    """ANSI_QUOTES makes "x" an identifier; NO_BACKSLASH_ESCAPES makes \\ a plain character."""
    assert _kinds('SELECT "x"', ansi_quotes=True) == [(W, "SELECT"), (ID, "x")]
    text = "SELECT 'a\\'; DROP TABLE t; -- '"
    assert len(split(lex(text), len(text))) == 1
    assert len(split(lex(text, no_backslash_escapes=True), len(text))) == 2


def test_readings_of_executable_comments() -> None:
    """A version of 5 or 6 digits, or the whole comment skipped."""
    text = "/*!1000001 SELECT 2 */"
    assert _kinds(text, reading=Reading(True, 5)) == [(N, "01"), (W, "SELECT"), (N, "2")]
    assert _kinds(text, reading=Reading(True, 6)) == [(N, "1"), (W, "SELECT"), (N, "2")]
    assert _kinds(text, reading=Reading(False)) == []
    assert _kinds("/*M!100100 DROP*/", reading=Reading(True, 6)) == [(W, "DROP")]


@pytest.mark.parametrize(
    "text",
    ["SELECT 'x", "SELECT `x", 'SELECT "x', "SELECT /* x", "/*! SELECT 1", "SELECT 1 \\ 2",
     "SELECT \U0001f600", "SELECT 'x\\"],
)  # fmt: skip
def test_unreadable_texts_raise(text: str) -> None:
    """Unterminated strings, identifiers or comments, stray bytes: LexError."""
    with pytest.raises(LexError):
        lex(text)


def test_a_comment_inside_an_executable_comment_is_ambiguous() -> None:
    """``/*! /* x */ 1 */``: server versions differ; LexError with ambiguous set."""
    with pytest.raises(LexError) as caught:
        lex("SELECT /*! /* x */ 1 */")
    assert caught.value.ambiguous


def test_split_keeps_statement_ends() -> None:
    """Statements split on ; outside strings, each with the offset after its semicolon."""
    text = "SELECT ';'; ; SELECT 2"
    parts = split(lex(text), len(text))
    assert [len(tokens) for tokens, _ in parts] == [2, 2]
    assert [end for _, end in parts] == [11, len(text)]


def _same(tokens: list[Token]) -> list[tuple[TokenType, str]]:
    return [(t.type, t.value) for t in tokens if t.type is not TokenType.SEMI]


PIECES = [
    *"ab1e0x_$ '\"`\\;#-/*!@.?()=<>,:{}\n\tM5é", "''", '""', "``", "/*!", "*/", "-- ",
    "_utf8'", "N'", "@'", "@@", "x'", "\\N", "0x", ".5", "@`", '@"', "@@`", "@@a.b",
]  # fmt: skip


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(PIECES), max_size=24).map("".join),
    st.booleans(),
    st.booleans(),
)
def test_rendering_reads_back_as_the_same_tokens(text: str, ansi: bool, nbe: bool) -> None:
    """Any lexed text's canonical rendering lexes back to the very same tokens."""
    try:
        tokens = lex(text, ansi_quotes=ansi, no_backslash_escapes=nbe)
    except LexError:
        return
    for statement, _ in split(tokens, len(text)):
        assert _same(lex(render(statement))) == _same(statement)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")))
def test_sqlglot_reads_a_rendered_string_as_its_value(value: str) -> None:
    """A string token rendered for sqlglot comes back from sqlglot's MySQL reader unchanged."""
    token = Token(TokenType.STRING, value, 0, 0)
    tree = sqlglot.parse_one(render([Token(TokenType.WORD, "SELECT", 0, 0), token]), read="mysql")
    literal = tree.expressions[0]
    assert isinstance(literal, exp.Literal) and literal.this == value


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="ab1 '\"`\\;#-/*!@.?()=<>,\n\tSELECT", max_size=60))
def test_sqlglot_never_finds_two_statements_in_one(text: str) -> None:
    """What the lexer calls one statement is never two to sqlglot (no hidden separator)."""
    try:
        tokens = lex(text)
    except LexError:
        return
    for statement, _ in split(tokens, len(text)):
        try:
            trees = sqlglot.parse(render(statement), read="mysql")
        except sqlglot.errors.SqlglotError:
            continue
        assert len([t for t in trees if t is not None]) <= 1, render(statement)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from([*PIECES, "1.5", "1e3", "12", "'ab'", "'a''b'", "=", "+"]), max_size=30
    ).map("".join),
    st.booleans(),
    st.booleans(),
)
def test_the_fast_path_reads_as_the_character_path_does(text: str, ansi: bool, nbe: bool) -> None:
    """The one-regex path for common tokens gives the same tokens (or the same error)."""
    outcomes = []
    for fast in (True, False):
        try:
            outcomes.append(lex(text, ansi_quotes=ansi, no_backslash_escapes=nbe, fast=fast))
        except LexError as exc:
            outcomes.append([Token(TokenType.SEMI, f"error {exc.ambiguous}", 0, 0)])
    assert outcomes[0] == outcomes[1]
