"""The compiled literal-shape scan (gateway/mysql/_shape.c) against its reference, the regex
scan (``gateway.mysql.dialect.guardrails.regex_plain_shape``): the same shape, or None, on
every text; and ``plain_shape``, which the fast lane runs, answers with it."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.mysql import _shape
from gateway.mysql.dialect import guardrails
from gateway.mysql.dialect.guardrails import plain_shape, regex_plain_shape


def _key(*tokens: str) -> str:
    return "\x1f".join(tokens)


def _same(text: str) -> str | None:
    """The reference's answer, after checking the compiled scan's is the same."""
    expected = regex_plain_shape(text)
    found = _shape.plain_shape_utf8(text.encode())
    assert found == (None if expected is None else expected.encode()), text
    assert plain_shape(text) == expected, text
    return expected


def test_the_shape_scan_is_built() -> None:
    """`pip install -e .` builds the extension and plain_shape runs it (a broken build must
    fail here, not fall back to the regex scan quietly)."""
    assert guardrails.COMPILED
    assert vars(guardrails)["_shape"] is _shape


def test_plain_shape_runs_the_compiled_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """plain_shape hands the text's UTF-8 to the compiled scan and decodes its answer."""
    seen: list[bytes] = []

    def scan(data: bytes) -> bytes | None:
        seen.append(data)
        return b"w\xc3\xa9\x1f?"

    monkeypatch.setattr(guardrails, "_shape", type("Scan", (), {"plain_shape_utf8": scan}))
    assert plain_shape("SELECT 'é'") == "wé\x1f?"
    assert seen == ["SELECT 'é'".encode()]


def test_a_text_that_is_not_utf8_takes_the_regex_scan() -> None:
    """A str with a lone surrogate has no UTF-8: plain_shape answers as the regex scan does."""
    assert plain_shape("SELECT 1, '\ud800'") == regex_plain_shape("SELECT 1, '\ud800'")
    assert plain_shape("SELECT 1, '\ud800'") == _key("wSELECT", "?", "o,", "?")
    assert plain_shape("SELECT 1, \ud800") == _key("wSELECT", "?", "o,", "w\ud800")


def test_the_scan_takes_bytes_only() -> None:
    """A str is a caller's mistake, reported as one."""
    with pytest.raises(TypeError):
        _shape.plain_shape_utf8("SELECT 1")  # type: ignore[arg-type]


SBTEST = _key("wSELECT", "wc", "wFROM", "wsbtest1", "wWHERE", "wid", "o=", "?")


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("SELECT c FROM sbtest1 WHERE id=5023", SBTEST),
        ("SELECT c FROM sbtest1 WHERE id=5023;;  \n", SBTEST),  # trailing ; and whitespace
        ("SELECT c FROM sbtest1 WHERE id = 1 ; ;", SBTEST),
        ("SELECT 1 \x0b\x0c\r", _key("wSELECT", "?")),
        ("SELECT 'it''s', 1", _key("wSELECT", "?", "o,", "?")),
        ("SELECT 'a\nb'", _key("wSELECT", "?")),
        # the text ends inside a string: the regex backtracks to the last doubled quote
        ("SELECT 'ab''", None),
        ("SELECT 'ab''cd", None),
        ("SELECT 'a' 'b''", None),
        ("SELECT 'ab", None),
        # numbers: touching an identifier character, after a dot, exponents
        ("SELECT 1abc", None),
        ("SELECT 0x1F", None),
        ("SELECT 1é", None),
        ("SELECT 1.5abc", _key("wSELECT", "?", "wabc")),
        ("SELECT 1.5é", _key("wSELECT", "?", "wé")),
        ("SELECT 1 FROM t WHERE a = .5", None),
        ("SELECT a.5, 1", None),
        ("SELECT 1..2", None),
        ("SELECT 1.5.3", None),
        ("SELECT 1.e5", _key("wSELECT", "?")),
        ("SELECT 1.5e", _key("wSELECT", "?", "we")),
        ("SELECT 1e+5e", None),
        ("SELECT 1-1, - 2", _key("wSELECT", "?", "o-", "?", "o,", "o-", "?")),
        # a '.' before a digit of Unicode (str.isdigit), or before any other character
        ("SELECT a.\u00b2, 1", None),
        ("SELECT a.\u0663, 1", None),
        ("SELECT a.\U0001d7cf, 1", None),
        ("SELECT a.€, 1", _key("wSELECT", "wa", "o.", "w€", "o,", "?")),
        ("SELECT t.c, 1", _key("wSELECT", "wt", "o.", "wc", "o,", "?")),
        # non-ASCII: two and three bytes are word characters, four bytes only in a string
        ("SELECT é1, 'x'", _key("wSELECT", "wé1", "o,", "?")),
        ("SELECT '\U0001f600'", _key("wSELECT", "?")),
        ("SELECT \U0001f600, 1", None),
        ("SELECT 1\U0001f600", None),
        ("SELECT a\U0001f600, 1", None),
        ("SELECT\u00a01", None),  # one word, no literal
        # inner semicolons, bail characters anywhere (in strings too), no literal, nothing
        ("SELECT 1; SELECT 2", None),
        ("SELECT ';'", None),
        ("SELECT 1 -- x", None),
        ("SELECT '--', 1", None),
        ("SELECT 1 /* x */", None),
        ("SELECT 1 */", None),
        ("SELECT `a`, 1", None),
        ('SELECT "a", 1', None),
        ("SELECT @a, 1", None),
        ("SELECT 1 # x", None),
        ("SELECT '\\'', 1", None),
        ("SELECT '\x00', 1", None),
        ("SELECT 1\x1f", None),
        ("SELECT a FROM t", None),
        (" \t\n", None),
        (";;", None),
        ("", None),
        # operators: the longest first; parameters
        (
            "SELECT a<=>1, b->>'$.x', c<>2, d->'y', e||f, g:=3",
            _key(
                "wSELECT",
                "wa",
                "o<=>",
                "?",
                "o,",
                "wb",
                "o->>",
                "?",
                "o,",
                "wc",
                "o<>",
                "?",
                "o,",
                "wd",
                "o->",
                "?",
                "o,",
                "we",
                "o||",
                "wf",
                "o,",
                "wg",
                "o:=",
                "?",
            ),
        ),
        ("SELECT ?, 1", _key("wSELECT", "p?", "o,", "?")),
        (
            "INSERT INTO t VALUES (1,'x')",
            _key("wINSERT", "wINTO", "wt", "wVALUES", "o(", "?", "o,", "?", "o)"),
        ),
    ],
)
def test_edge_cases(text: str, shape: str | None) -> None:
    """The scan's edge cases give the reference's answer, and that answer is this one."""
    assert _same(text) == shape


_PIECES = st.sampled_from(
    [
        "SELECT", "c", "id", "e", "E", "x", "_", "$", "0x1F",
        " ", "\n", "\t", "\r", "\x0b", "\x0c", ";", "\x00", "\x01", "\x1f",
        "'", "''", "'a'", "\"", "`", "\\", "#", "@", "--", "-", "/*", "*/", "/", "*",
        "0", "1", "5023", "1.5", ".", ".5", "e5", "E+", "e-",
        "?", "=", "<", ">", "<=>", "->>", "->", "!", ":", "|", "&", "(", ")", ",", "+", "~",
        "é", "€", "\u00a0", "\u00b2", "\u0663", "\U0001f600", "\U0001d7cf",
        ".\u00b2", ".\u0663", ".é", ".\U0001d7cf", "a.", "1.", "'\U0001f600'",
    ]
)  # fmt: skip
_CHARS = st.sampled_from(
    list("ab1e0.5 '\"`\\#@;-/*?=<>(),$_\n\t\x00\x0bé€\u00b2\U0001f600\U0001d7cf")
)


@settings(max_examples=4000, deadline=None)
@given(
    st.one_of(
        st.lists(_PIECES, max_size=16).map("".join),
        st.text(_CHARS, max_size=24),
        st.text(max_size=16),
    )
)
@example("SELECT c FROM sbtest1 WHERE id=5023")
@example("SELECT 'ab''")
def test_compiled_scan_is_the_regex_scan(text: str) -> None:
    """On any text (surrogates aside: see above), the C scan on the UTF-8 bytes gives exactly
    regex_plain_shape's answer, encoded: the literal shape the fast lane keys by is today's."""
    _same(text)
