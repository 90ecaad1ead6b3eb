"""A small MySQL lexer: the pre-pass in front of sqlglot (MySQL 8.0 Reference Manual 9.1
"Literal Values", 9.2 "Schema Object Names", 9.7 "Comments"; MariaDB "Comment Syntax").

sqlglot alone returns ``[None]`` for ``/*!50000 DROP TABLE t */`` and knows neither the
``-- `` rule nor ``sql_mode``. This lexer reads the text as the server does and hands sqlglot
a canonical rendering of each statement, so both see the same tokens:

- ``#`` to the end of the line, ``-- `` only when ``--`` is followed by whitespace, a control
  character or the end of the text (``1--1`` is ``1 - -1``), ``/* ... */`` (not nested);
- executable comments ``/*! ... */``, ``/*!NNNNN ... */`` (version-gated), MariaDB's
  ``/*M! ... */`` and ``/*M!NNNNNN ... */``: a ``Reading`` says whether their content is code
  (the server runs it when its version is high enough) or a comment (it is not, or the server is
  MySQL and the comment MariaDB's). The classifier reads every text that has one under each
  reading and keeps the strictest;
- strings ``'...'`` and ``"..."`` with doubled quotes, and backslash escapes unless
  ``NO_BACKSLASH_ESCAPES``; under ``ANSI_QUOTES`` ``"..."`` is an identifier;
- identifiers in backticks (doubled backtick inside), user variables ``@x``, ``@'x'``,
  ``@`x```, system variables ``@@x``, ``@@global.x``;
- statements split on ``;`` outside strings and comments. ``DELIMITER`` is a command of the
  mysql client, never seen by the server: sent to it, it is just an unknown statement.

A text the lexer cannot read (an unterminated string or comment, a stray byte) raises
``LexError``; the classifier holds it. A nested ``/*`` inside an executable comment is
read differently by server versions: ``LexError`` with ``ambiguous`` set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from gateway.mysql.dialect.errors import LexError

__all__ = ["Reading", "Token", "TokenType", "lex", "render", "split"]


class TokenType(Enum):
    WORD = "word"  # keyword or unquoted identifier
    IDENT = "ident"  # `quoted` (or "quoted" under ANSI_QUOTES)
    STRING = "string"  # value decoded
    NUMBER = "number"
    VARIABLE = "variable"  # @x, @@x, @@global.x (the dot and the name follow as tokens)
    PARAM = "param"  # ?
    OP = "op"  # punctuation and operators
    SEMI = "semi"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``value`` is the decoded text (a string's value, an identifier's name);
    ``start``/``end`` its span in the source; ``glued`` when nothing separated it from the
    token before (``x'1F'``, ``_utf8mb4'a'``)."""

    type: TokenType
    value: str
    start: int
    end: int
    glued: bool = False

    @property
    def upper(self) -> str:
        """The value upper-cased (for keyword tests on WORD tokens)."""
        return self.value.upper()

    def is_word(self, *words: str) -> bool:
        """Whether this is an unquoted word equal (case-insensitively) to one of ``words``."""
        return self.type is TokenType.WORD and self.value.upper() in words


@dataclass(frozen=True, slots=True)
class Reading:
    """How executable comments are read: ``executed`` (their content is code) with a version
    of ``digits`` digits, or as plain comments."""

    executed: bool = True
    digits: int = 5


EXECUTED = Reading()
_WORD = re.compile(r"[0-9A-Za-z_$\u0080-\uffff]+")  # 9.2: U+0080 .. U+FFFF
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_OPS = ("<=>", "->>", "<=", ">=", "<>", "!=", ":=", "||", "&&", "<<", ">>", "->")
_SINGLE = set("()[]{},.=<>+-*/%&|^~!:")
_ESCAPES = {"0": "\x00", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
_SPACE = " \t\n\r\f\v"
_VARNAME = re.compile(r"[0-9A-Za-z_$.\u0080-\uffff]*")
# Tokens that need no look-around beyond the regex: ASCII whitespace; a word not starting with a
# digit; a plain integer not followed by a word character or a dot; a '...' string with no
# backslash or doubled quote; one-character operators that start no longer one or a comment.
_PLAIN = re.compile(
    r"[ \t\n\r\f\v]+"
    r"|(?P<word>[A-Za-z_$\u0080-\uffff][0-9A-Za-z_$\u0080-\uffff]*)"
    r"|(?P<number>[0-9]+)(?![0-9A-Za-z_$.\u0080-\uffff])"
    r"|'(?P<string>[^'\\]*)'(?!')"
    r"|(?P<op>[(),=+%^~\[\]{}])"
)
_PLAIN_TYPES = {
    "word": TokenType.WORD,
    "number": TokenType.NUMBER,
    "string": TokenType.STRING,
    "op": TokenType.OP,
}


def lex(
    text: str,
    *,
    ansi_quotes: bool = False,
    no_backslash_escapes: bool = False,
    reading: Reading = EXECUTED,
    fast: bool = True,
) -> list[Token]:
    """Every token of ``text``; raises ``LexError`` on what the server would not read.
    ``fast`` reads the common tokens (whitespace, words, plain integers and '...' strings with
    no backslash, one-character operators) with one regex; the tests pin that it reads every
    text as the character-by-character path does."""
    return _Lexer(text, ansi_quotes, no_backslash_escapes, reading).run(fast)


def split(tokens: list[Token], length: int) -> list[tuple[list[Token], int]]:
    """The statements: tokens between semicolons (empty statements dropped), each with the
    offset just after its semicolon (``length``, the text's, for the last)."""
    statements: list[tuple[list[Token], int]] = []
    current: list[Token] = []
    for token in tokens:
        if token.type is TokenType.SEMI:
            if current:
                statements.append((current, token.end))
            current = []
        else:
            current.append(token)
    if current:
        statements.append((current, length))
    return statements


def _quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _quote_ident(value: str) -> str:
    return "`" + value.replace("`", "``") + "`"


def _variable(value: str) -> str:
    """``@name`` as written when the name is plain, else with the name in backticks."""
    prefix = "@@" if value.startswith("@@") else "@"
    name = value[len(prefix) :]
    plain = _VARNAME if prefix == "@" else _WORD  # @@a.b is @@a, a dot, b
    if name and plain.fullmatch(name):
        return value
    return prefix + _quote_ident(name)


def _dot(token: Token) -> bool:
    return token.type is TokenType.OP and token.value == "."


def _name(token: Token) -> bool:
    """A name, or ``*`` (``t.*``): what a dot joins without a space."""
    return token.type in (TokenType.WORD, TokenType.IDENT) or (
        token.type is TokenType.OP and token.value == "*"
    )


def render(tokens: list[Token]) -> str:
    """The canonical text of ``tokens`` for sqlglot: strings in single quotes with every
    backslash and quote escaped, identifiers in backticks, one space between tokens (none
    around a ``.`` between names, none between a word and the string glued to it)."""
    parts: list[str] = []
    previous: Token | None = None
    for token in tokens:
        if token.type is TokenType.STRING:
            piece = _quote_string(token.value)
        elif token.type is TokenType.IDENT:
            piece = _quote_ident(token.value)
        elif token.type is TokenType.VARIABLE:
            piece = _variable(token.value)
        else:
            piece = token.value
        if previous is not None:
            introduced = token.glued and token.type is TokenType.STRING  # _utf8mb4'x', x'1F'
            tight = (introduced and previous.type is TokenType.WORD) or (
                (_dot(token) and _name(previous)) or (_dot(previous) and _name(token))
            )
            if not tight:
                parts.append(" ")
        parts.append(piece)
        previous = token
    return "".join(parts)


class _Lexer:
    __slots__ = ("ansi", "exec_end", "nbe", "pos", "reading", "text", "tokens")

    def __init__(self, text: str, ansi: bool, nbe: bool, reading: Reading) -> None:
        self.text = text
        self.ansi = ansi
        self.nbe = nbe
        self.reading = reading
        self.pos = 0
        self.tokens: list[Token] = []
        self.exec_end = False  # inside an executable comment

    def run(self, fast: bool = True) -> list[Token]:
        text, n = self.text, len(self.text)
        glued = False
        plain = _PLAIN.match if fast else None
        tokens = self.tokens
        while self.pos < n:
            if plain is not None:
                match = plain(text, self.pos)
                if match is not None:  # the common tokens, in one regex step
                    start, self.pos, kind = self.pos, match.end(), match.lastgroup
                    if kind is None:
                        glued = False
                        continue
                    value = match.group(kind)
                    tokens.append(Token(_PLAIN_TYPES[kind], value, start, self.pos, glued))
                    glued = True
                    continue
            ch = text[self.pos]
            if ch in _SPACE:
                self.pos += 1
                glued = False
                continue
            if self._comment():
                glued = False
                continue
            self._token(ch, glued)
            glued = True
        if self.exec_end:
            raise LexError("unterminated executable comment")
        return self.tokens

    def _comment(self) -> bool:
        """Skip a comment (or enter / leave an executable one); False when none starts here."""
        text, pos = self.text, self.pos
        if text[pos] == "#":
            end = text.find("\n", pos)
            self.pos = len(text) if end < 0 else end + 1
            return True
        if text.startswith("--", pos):
            after = text[pos + 2 : pos + 3]
            if after == "" or after in _SPACE or ord(after) < 32:
                end = text.find("\n", pos)
                self.pos = len(text) if end < 0 else end + 1
                return True
            return False
        if self.exec_end and text.startswith("*/", pos):
            self.exec_end = False
            self.pos += 2
            return True
        if not text.startswith("/*", pos):
            return False
        if self.exec_end:
            raise LexError("comment inside an executable comment", ambiguous=True)
        marker = 3 if text.startswith("/*!", pos) else 4 if text.startswith("/*M!", pos) else 0
        if marker and self.reading.executed:
            self.pos = pos + marker
            digits = 0
            while digits < self.reading.digits and text[self.pos : self.pos + 1].isdigit():
                self.pos += 1
                digits += 1
            self.exec_end = True
            return True
        end = text.find("*/", pos + 2)
        if end < 0:
            raise LexError("unterminated comment")
        self.pos = end + 2
        return True

    def _add(self, type_: TokenType, value: str, start: int, glued: bool) -> None:
        self.tokens.append(Token(type_, value, start, self.pos, glued))

    def _token(self, ch: str, glued: bool) -> None:
        start, text = self.pos, self.text
        if ch == "'" or (ch == '"' and not self.ansi):
            value = self._quoted(ch, escapes=not self.nbe)
            self._add(TokenType.STRING, value, start, glued)
        elif ch == "`" or (ch == '"' and self.ansi):
            self._add(TokenType.IDENT, self._quoted(ch, escapes=False), start, glued)
        elif ch == "@":
            self._variable(start, glued)
        elif ch == ";":
            self.pos += 1
            self._add(TokenType.SEMI, ";", start, glued)
        elif ch == "?":
            self.pos += 1
            self._add(TokenType.PARAM, "?", start, glued)
        elif ch == "\\" and text.startswith("\\N", start):
            self.pos += 2
            self._add(TokenType.WORD, "NULL", start, glued)
        elif ch.isdigit() or (ch == "." and text[start + 1 : start + 2].isdigit()):
            self._number(start, glued)
        elif _WORD.match(text, start):
            match = _WORD.match(text, start)
            assert match is not None
            self.pos = match.end()
            self._add(TokenType.WORD, match.group(), start, glued)
        else:
            self._operator(ch, start, glued)

    def _number(self, start: int, glued: bool) -> None:
        text = self.text
        word = _WORD.match(text, start)
        number = _NUMBER.match(text, start)
        assert number is not None
        # an identifier may start with a digit (``1abc``) but not be digits only
        if word is not None and word.end() > number.end() and "." not in number.group():
            self.pos = word.end()
            value = word.group()
            kind = TokenType.NUMBER if re.fullmatch(r"0x[0-9a-fA-F]+|0b[01]+", value) else None
            self._add(kind or TokenType.IDENT, value, start, glued)
            return
        self.pos = number.end()
        self._add(TokenType.NUMBER, number.group(), start, glued)

    def _operator(self, ch: str, start: int, glued: bool) -> None:
        for op in _OPS:
            if self.text.startswith(op, start):
                self.pos += len(op)
                self._add(TokenType.OP, op, start, glued)
                return
        if ch in _SINGLE:
            self.pos += 1
            self._add(TokenType.OP, ch, start, glued)
            return
        raise LexError(f"unexpected character {ch!r} at {start}")

    def _variable(self, start: int, glued: bool) -> None:
        text = self.text
        prefix = "@@" if text.startswith("@@", start) else "@"
        self.pos = start + len(prefix)
        nxt = text[self.pos : self.pos + 1]
        if prefix == "@" and nxt in ("'", '"', "`"):
            name = self._quoted(nxt, escapes=nxt != "`" and not self.nbe)
            if name.startswith("@"):  # @'@x' would read as the system variable @@x
                raise LexError("a user variable whose name starts with @")
        elif nxt == "`" and prefix == "@@":
            name = self._quoted(nxt, escapes=False)
        else:
            match = _VARNAME.match(text, self.pos)
            assert match is not None
            name = match.group().split(".")[0] if prefix == "@@" else match.group()
            self.pos += len(name)
        self._add(TokenType.VARIABLE, prefix + name, start, glued)

    def _quoted(self, quote: str, *, escapes: bool) -> str:
        """The value of a quoted token at ``pos`` (doubled quotes, backslash escapes)."""
        text, n = self.text, len(self.text)
        pos = self.pos + 1
        out: list[str] = []
        while True:
            if pos >= n:
                raise LexError(f"unterminated {quote}...{quote} at {self.pos}")
            ch = text[pos]
            if ch == "\\" and escapes:
                if pos + 1 >= n:
                    raise LexError("backslash at the end of the text")
                nxt = text[pos + 1]
                out.append(_ESCAPES.get(nxt, "\\" + nxt if nxt in "%_" else nxt))
                pos += 2
            elif ch == quote:
                if text.startswith(quote * 2, pos):
                    out.append(quote)
                    pos += 2
                else:
                    self.pos = pos + 1
                    return "".join(out)
            else:
                out.append(ch)
                pos += 1
