"""``Guardrails``: the neutral ``RuleSet`` over ``classify``, with a literal-shape level.

The first level (``gateway.guardrails.ruleset``) is keyed by the exact text and checks the
state inputs the verdict depended on (``MySQLState.value_of``: the sql_mode flags always, the
database when a table was named, each prepared statement EXECUTEd).

A second level is keyed by the text's literal shape: its tokens (as the lexer reads them under
the session's sql_mode) with every string and number replaced, so ``... WHERE id = 1`` and
``... WHERE id = 2`` share one classification (sqlglot's parse is the cold path's cost: about
150 µs for a point select; the lexer's shape costs a tenth). It is used only for a single
SELECT, WITH or INSERT / REPLACE statement, with no executable comment or backslash, in a
known sql_mode, where no literal
influenced the verdict (``Classification.literal_sensitive``; UPDATE and DELETE are always
literal-sensitive, since a pin to zero is no pin), and when no custom rule has a regex (a
regex sees literals).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable

from gateway.guardrails import Classification, Entry, Rule, RuleSet
from gateway.mysql.dialect.classify import classify
from gateway.mysql.dialect.errors import LexError
from gateway.mysql.dialect.lexer import TokenType, lex
from gateway.mysql.dialect.state import MySQLState

try:
    from gateway.mysql import _shape
except ImportError:  # pragma: no cover - built by `pip install`; the regex scan runs then
    _shape = None  # type: ignore[assignment]

__all__ = [
    "COMPILED",
    "Guardrails",
    "general_shape",
    "lexed_shape",
    "literal_shape",
    "plain_shape",
    "regex_plain_shape",
]

COMPILED = _shape is not None  # plain_shape runs the compiled scan (gateway/mysql/_shape.c)

_SHAPED = frozenset(["SELECT", "WITH", "INSERT", "REPLACE", "("])
_STARTS = ("SELECT", "WITH", "INSERT", "REPLACE", "(")
_LITERALS = (TokenType.STRING, TokenType.NUMBER)


# The shape of a plain text in one regex pass (no quote but '...', no backslash, comment,
# variable or inner semicolon): the same key the lexer's tokens give, about 4x cheaper.
_PLAIN_BAIL = re.compile(r"[\"`\\#@\x00]|--|/\*|\*/")
_PLAIN_TOKEN = re.compile(
    r"[ \t\n\r\f\v]+"
    r"|(?P<lit>'(?:[^']|'')*')"
    r"|(?P<number>[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<word>[A-Za-z_$\u0080-\uffff][0-9A-Za-z_$\u0080-\uffff]*)"
    r"|(?P<param>\?)"
    r"|(?P<op><=>|->>|<=|>=|<>|!=|:=|\|\||&&|<<|>>|->|[()\[\]{},.=<>+\-*/%&|^~!:])"
)


_IDENT_CHAR = re.compile(r"[0-9A-Za-z_$\u0080-\uffff]")


def plain_shape(text: str) -> str | None:
    """``literal_shape`` of a plain text; None when the text is not plain (ask the lexer).

    The compiled scan (``gateway.mysql._shape``, about 0.3 µs for a point select against 6 µs)
    on the text's UTF-8 where it is built; it returns exactly what ``regex_plain_shape``, the
    reference, returns (tests/gateway/mysql/test_shape_compiled.py)."""
    if _shape is None:
        return regex_plain_shape(text)
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate: never a decoded COM_QUERY, but a str
        return regex_plain_shape(text)
    shape = _shape.plain_shape_utf8(data)
    return None if shape is None else shape.decode()


def regex_plain_shape(text: str) -> str | None:
    """``plain_shape`` in one regex pass: the reference the compiled scan is held to."""
    body = text.rstrip(" \t\n\r\f\v;")
    if ";" in body or _PLAIN_BAIL.search(body) is not None:
        return None
    out: list[str] = []
    literals = 0
    pos = 0
    for match in _PLAIN_TOKEN.finditer(body):
        if match.start() != pos:
            return None
        pos = match.end()
        kind = match.lastgroup
        if kind == "number" and "." not in match.group() and _IDENT_CHAR.match(body, pos):
            return None  # an identifier that starts with digits (1abc, 0x1F): the lexer's
        if kind in ("lit", "number"):
            out.append("?")
            literals += 1
        elif kind == "word":
            out.append("w" + match.group())
        elif kind == "param":
            out.append("p?")
        elif kind == "op":
            if match.group() == "." and body[pos : pos + 1].isdigit():
                return None  # the lexer reads ".5" as a number
            out.append("o" + match.group())
    if pos != len(body) or not literals:
        return None
    return "\x1f".join(out)


def literal_shape(text: str, state: MySQLState) -> str | None:
    """The text's tokens with literals replaced by ``?``; None when it has none, is not one
    statement, or cannot be lexed."""
    plain = plain_shape(text)
    return plain if plain is not None else lexed_shape(text, state)


def general_shape(text: str, state: MySQLState, max_text: int = 8192) -> str | None:
    """The literal shape of a text that every server reads the same and whose reading no
    literal's value can change: at most ``max_text`` characters, one SELECT, WITH or INSERT /
    REPLACE, no executable comment, NUL or backslash, in a known sql_mode. None otherwise.
    Texts with one general shape name the same columns in the same places: what masking
    reads of one (its leaks, its derived outputs) holds for all of them."""
    return literal_shape(text, state) if _generalisable(text, state, max_text) else None


def _generalisable(text: str, state: MySQLState, max_text: int) -> bool:
    """A short text that may be one shaped statement, read the same by every server (no
    executable comment, NUL or backslash), in a known sql_mode."""
    if len(text) > max_text or not state.sql_mode_known:
        return False
    if "/*!" in text or "/*M!" in text or "\x00" in text or "\\" in text:
        return False
    return text.lstrip(" \t\r\n")[:7].upper().startswith(_STARTS)


def lexed_shape(text: str, state: MySQLState) -> str | None:
    """``literal_shape`` from the lexer's tokens (any text)."""
    try:
        tokens = lex(
            text, ansi_quotes=state.ansi_quotes, no_backslash_escapes=state.no_backslash_escapes
        )
    except LexError:
        return None
    while tokens and tokens[-1].type is TokenType.SEMI:
        tokens.pop()
    if not tokens or any(t.type is TokenType.SEMI for t in tokens):
        return None
    if not any(t.type in _LITERALS for t in tokens):
        return None
    return "\x1f".join(
        "?" if t.type in _LITERALS else f"{t.type.value[0]}{t.value}" for t in tokens
    )


class Guardrails(RuleSet[MySQLState]):
    """The ``default`` rule set plus a connection's custom rules, with a verdict cache."""

    def __init__(
        self, rules: Iterable[Rule] = (), *, cache_size: int = 4096, max_cached_text: int = 8192
    ) -> None:
        super().__init__(classify, rules, cache_size=cache_size, max_cached_text=max_cached_text)
        self._by_shape: OrderedDict[str, list[Entry]] = OrderedDict()
        self._shapes = not any(rule.regex is not None for rule in self.rules)

    def clear(self) -> None:
        super().clear()
        self._by_shape.clear()

    def _cold(self, text: str, state: MySQLState) -> Entry:
        """Not cached by text: by literal shape (not with a regex rule: a regex sees
        literals), else classified."""
        if not self._shapes or not _generalisable(text, state, self.max_cached_text):
            return self._classified(text, state, keep=False)[0]
        shape = literal_shape(text, state)
        if shape is not None:
            for entry in self._by_shape.get(shape, ()):
                if entry.valid(state):
                    return entry  # not kept by text: texts with other literals rarely repeat
        return self._shaped(text, state, shape, keep=False)[0]

    def _shaped(
        self, text: str, state: MySQLState, shape: str | None, *, keep: bool
    ) -> tuple[Entry, Classification]:
        classification = self.classify(text, state)
        general = shape is not None and _shape_safe(classification)
        entry = self._entry(classification, state, keep=keep, general=general)
        if len(text) <= self.max_cached_text:
            self._store(self._by_text, text, entry)
            if general:
                assert shape is not None
                self._store(self._by_shape, shape, entry)
        return entry, classification


def _shape_safe(classification: Classification) -> bool:
    statements = classification.statements
    return (
        len(statements) == 1
        and not classification.literal_sensitive
        and statements[0].command in _SHAPED
    )
