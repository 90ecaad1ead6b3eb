"""Literal shapes: what they replace, where they give up, and (Hypothesis) that two texts of one
shape are one statement to PostgreSQL's parser up to its constants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pglast import parser

from gateway.guardrails import Action
from gateway.postgres.dialect import Guardrails, SessionState
from gateway.postgres.dialect.shape import NUMBER, STRING, literal_shape

N, S = NUMBER, STRING


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("SELECT abalance FROM a WHERE aid = 12345;", f"SELECT abalance FROM a WHERE aid = {N}"),
        ("select 1.5e3, -2, 3E+7", f"select {N}, -{N}, {N}"),
        ("select 'it''s', \"col'1\" from t1", f'select {S}, "col\'1" from t1'),
        ("select t1.c2 from t1 where c3 = '7'", f"select t1.c2 from t1 where c3 = {S}"),
        ("SELECT 'a'\n 'b'", f"SELECT {S}\n {S}"),
        ("select date '2024-01-01' + 1", f"select date {S} + {N}"),
        ("select x from t where a in (1, 2)", f"select x from t where a in ({N}, {N})"),
        # left as they are: part of an identifier, after a dot, touching junk, unterminated
        ("select .5, a.1, 1x, 0x1f, 1_000", "select .5, a.1, 1x, 0x1f, 1_000"),
        ("select 1.5.3", "select 1.5.3"),
        ("SELECT 3E+7.1, 1e-5e", "SELECT 3E+7.1, 1e-5e"),  # found by the property below
        ("select 'ab", "select 'ab"),
        ("select é1", "select é1"),
    ],
)
def test_shapes(text: str, shape: str) -> None:
    assert literal_shape(text) == shape


@pytest.mark.parametrize(
    "text",
    [
        "select E'a'",
        "select e'a'",
        "select B'01'",
        "select X'ff'",
        "select N'x'",
        "select U&'d!0061t' UESCAPE '!'",
        'select U&"x"',
        "select é'1'",
        "select a'1'",
        "select 'a\\'",  # a backslash anywhere
        "select $$x$$",
        "select $1",
        "select 1 -- 'x'",
        "select 1 /* 'x' */",
        "select 1; drop table t",
        "select ';'",  # conservatively, also inside a literal
        "select 'a\x00'",
        "",
        ";",
    ],
)
def test_gives_up(text: str) -> None:
    assert literal_shape(text) is None


# Atoms near the lexer's edges: numbers in every form, prefixed strings, identifiers with
# digits, quoted identifiers with quotes inside; joined by operators, casts, commas, spaces.
ATOMS = [
    "1", "1.5", "2e3", "3E+7", "1.", ".5", "1e", "0x1f", "1_000", "1x", "007",
    "'a'", "'it''s'", "''", "E'a'", "e'1'", "B'01'", "X'ff'", "N'n'", "U&'u'", "'a'\n'b'",
    "a", "t1", "c2d", "é1", "x", "E", '"q"', '"it\'s"', '"1"', 'U&"u"', "date '2024-01-01'",
    "a.1", "t1.c2", "(1)", "'1'::int", "- 4", "$1",
]  # fmt: skip
_LITERAL_CHARS = st.sampled_from(list("ab1 '\"é.-x,;$\\/*"))
JOINS = [" + ", "+", "-", " || ", "::int ", " = ", ", ", " ", "", "*", " AND ", "."]


@st.composite
def _text(draw: st.DrawFn) -> str:
    def expr() -> str:
        atoms = draw(st.lists(st.sampled_from(ATOMS), min_size=1, max_size=4))
        joins = [draw(st.sampled_from(JOINS)) for _ in atoms[1:]]
        return atoms[0] + "".join(j + a for j, a in zip(joins, atoms[1:], strict=True))

    text = "SELECT " + expr()
    if draw(st.booleans()):
        text += " FROM t WHERE id = " + expr()
    return text


def _number() -> st.SearchStrategy[str]:
    return st.from_regex(r"\A[0-9]{1,6}(\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?\Z")


def _string() -> st.SearchStrategy[str]:
    return st.lists(_LITERAL_CHARS, max_size=6).map(
        lambda chars: "'" + "".join(chars).replace("'", "''") + "'"
    )


@st.composite
def _same_shape(draw: st.DrawFn) -> tuple[str, str, str]:
    """A random text with a shape, and another text with the same markers filled anew."""
    text = draw(_text())
    shape = literal_shape(text)
    if shape is None:
        return text, text, ""
    parts = shape.split("\x00")
    other = [parts[0]]
    for part in parts[1:]:
        marker, rest = part[0], part[1:]
        other.append(draw(_number() if marker == "n" else _string()) + rest)
    return text, "".join(other), shape


def _fingerprint(text: str) -> str | None:
    try:
        return str(parser.fingerprint(text))
    except Exception:
        return None


@settings(max_examples=3000, deadline=None)
@given(_same_shape())
def test_one_shape_is_one_statement(case: tuple[str, str, str]) -> None:
    text, other, shape = case
    if not shape:
        return
    found = literal_shape(other)
    if found is None:  # the new values brought something the scan gives up on
        assert any(c in other for c in ";$\\") or "--" in other or "/*" in other
        return
    assert found == shape
    fingerprint = _fingerprint(text)
    if fingerprint is not None:
        assert _fingerprint(other) == fingerprint, (text, other)


def test_guardrails_share_verdicts_by_shape_only_where_no_literal_counted() -> None:
    guardrails = Guardrails.from_config()
    state = SessionState()
    verdict, general = guardrails.evaluate_general("SELECT name FROM t WHERE id = 1", state)
    assert verdict.action is Action.ALLOW and general
    assert guardrails.evaluate_general("SELECT name FROM t WHERE id = 99", state) == (
        verdict,
        True,
    )
    # set_config's first argument decides: never shared, in either order
    harmless = "SELECT set_config('application_name', 'x', false)"
    role = "SELECT set_config('role', 'x', false)"
    assert literal_shape(harmless) == literal_shape(role)
    first, general = guardrails.evaluate_general(harmless, state)
    assert first.action is Action.ALLOW and not general
    assert guardrails.evaluate(role, state).action is Action.HOLD
    fresh = Guardrails.from_config()
    assert fresh.evaluate(role, state).action is Action.HOLD
    assert fresh.evaluate(harmless, state).action is Action.ALLOW
