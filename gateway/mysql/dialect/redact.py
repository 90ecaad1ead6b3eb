"""``redact(text, params)``: a MySQL command as it may be shown and stored, its secrets replaced
by ``'<redacted>'`` (the dialect's ``redact``; docs/security.md, "Secrets in held statements").

The session runs the exact bytes; reviews, cards, the audit trail and logs get this text.
Secrets are found on the lexer's tokens (``lexer``), and the literal's characters are replaced
in the source, so the rest reads as written:

- account passwords: ``CREATE | ALTER USER ... IDENTIFIED BY '...'``, ``IDENTIFIED WITH plugin
  BY | AS '...'``, ``IDENTIFIED BY PASSWORD '...'``, MariaDB's ``IDENTIFIED VIA plugin USING
  '...'``, ``GRANT ... IDENTIFIED BY '...'``, every literal of ``SET PASSWORD``;
- an option or column named like a secret (``password``, ``secret``, ``token``, ``api_key``,
  ...: ``SECRET_NAME``) followed by a value, with or without ``=``: ``CHANGE MASTER TO
  MASTER_PASSWORD = '...'``, ``CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD = '...'``,
  ``CREATE SERVER ... OPTIONS (PASSWORD '...')``, ``UPDATE ... SET api_key = '...'``,
  ``WHERE token = ?``, and the values of such a column in ``INSERT (..., password, ...)
  VALUES (...)``;
- every literal inside a keyed or password function: ``AES_ENCRYPT``, ``AES_DECRYPT``,
  ``DES_ENCRYPT``, ``DES_DECRYPT``, ``ENCODE``, ``DECODE``, ``ENCRYPT``, ``PASSWORD``,
  ``OLD_PASSWORD``, ``KDF``, ``VALIDATE_PASSWORD_STRENGTH``;
- in any literal, a recognisable secret: a URI's ``user:password@`` (``CONNECTION =
  'mysql://u:p@host/db'``), ``password=...``; only the secret part goes;
- the text of ``PREPARE name FROM '...'``, redacted as SQL;
- a bound value (``?``) in a secret position is shown as ``<redacted>``; every bound value has
  its recognisable secrets replaced;
- a text the lexer cannot read but that may hold a secret: cut at its first quote, every bound
  value redacted.

A text in which none of ``WORDS`` occurs (lower-cased) and no backslash (an escape could hide a
word: ``'pa\\ssword=...'`` is ``password=...``) holds no secret found here and is returned as
is, unlexed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gateway.guardrails import REDACTED, Redacted
from gateway.mysql.dialect.errors import LexError
from gateway.mysql.dialect.lexer import Token, TokenType, lex

__all__ = ["SECRET_NAME", "WORDS", "redact"]

PLACEHOLDER = f"'{REDACTED}'"
SECRET_NAME = re.compile(
    r"password|passwd|passphrase|pwd|secret|token|credential|private_?key|api_?key"
    r"|access_?key|auth_?key|encryption_?key|ssl_?key|signing_?key",
    re.IGNORECASE,
)
WORDS = (
    "pass", "pwd", "secret", "token", "credential", "private", "crypt", "identified", "key",
    "://", "encode", "decode", "kdf", "prepare",
)  # fmt: skip
KEYED = frozenset(
    ["AES_ENCRYPT", "AES_DECRYPT", "DES_ENCRYPT", "DES_DECRYPT", "ENCODE", "DECODE", "ENCRYPT",
     "PASSWORD", "OLD_PASSWORD", "KDF", "VALIDATE_PASSWORD_STRENGTH"]
)  # fmt: skip
_URI = re.compile(r"(://[^:/@\s]*:)([^@\s]*)(@)")
_KEY_VALUE = re.compile(r"(?i)((?:password|passwd|pwd|secret|token)\s*[=:]\s*)([^;&\s'\"]+)")
_ALL = frozenset({0})
_MAX_DEPTH = 3


def redact(text: str, params: Sequence[bytes | None] = ()) -> Redacted:
    """``text`` and its bound ``params`` as they may be shown; never raises."""
    lowered = text.lower()
    if "\\" not in text and not any(word in lowered for word in WORDS):
        shown, hidden = text, frozenset[int]()
    else:
        try:
            shown, hidden = _redact_text(text, 0)
        except Exception:  # fail closed: whatever went wrong, nothing of a secret shows
            shown, hidden = _cut(text), _ALL
    if not params:
        return Redacted(shown)
    return Redacted(shown, tuple(_param(i + 1, v, hidden) for i, v in enumerate(params)))


def _param(number: int, value: bytes | None, hidden: frozenset[int]) -> bytes | None:
    if value is None:
        return None
    if hidden is _ALL or number in hidden:
        return REDACTED.encode()
    decoded = value.decode("utf-8", "replace")
    cleaned = _value(decoded)
    return value if cleaned == decoded else cleaned.encode()


def _cut(text: str) -> str:
    quote = min((i for i in (text.find("'"), text.find('"')) if i >= 0), default=-1)
    return text if quote < 0 else text[:quote] + PLACEHOLDER


def _value(value: str) -> str:
    """A literal's value with its recognisable secrets replaced."""
    value = _URI.sub(lambda m: m.group(1) + REDACTED + m.group(3), value)
    return _KEY_VALUE.sub(lambda m: m.group(1) + REDACTED, value)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


_MODES = ((False, False), (True, False), (False, True), (True, True))


def _redact_text(text: str, depth: int) -> tuple[str, frozenset[int]]:
    """The text redacted as the session's sql_mode reads it. The redactor does not know the
    mode, so a text with a backslash or a double quote (which the modes read differently) is
    redacted under each mode that can read it; if they disagree, it is cut at its first quote
    and every bound value hidden."""
    if "\\" not in text and '"' not in text:
        return _redact_tokens(text, lex(text), depth)
    answers = set()
    for ansi, nbe in _MODES:
        try:
            tokens = lex(text, ansi_quotes=ansi, no_backslash_escapes=nbe)
        except LexError:
            continue
        answers.add(_redact_tokens(text, tokens, depth))
    if len(answers) != 1:
        return _cut(text), _ALL
    return answers.pop()


def _redact_tokens(text: str, tokens: list[Token], depth: int) -> tuple[str, frozenset[int]]:
    secret, replaced = _secret_positions(tokens, depth)
    hidden: set[int] = set()
    number = 0
    edits: list[tuple[int, int, str]] = []
    for i, token in enumerate(tokens):
        if token.type is TokenType.PARAM:
            number += 1
            if i in secret:
                hidden.add(number)
        elif i in replaced:
            edits.append((token.start, token.end, replaced[i]))
        elif i in secret and token.type in (TokenType.STRING, TokenType.NUMBER):
            edits.append((token.start, token.end, PLACEHOLDER))
        elif token.type is TokenType.STRING:
            cleaned = _value(token.value)
            if cleaned != token.value:
                edits.append((token.start, token.end, _quote(cleaned)))
    out = []
    last = 0
    for start, end, new in edits:
        out.append(text[last:start])
        out.append(new)
        last = end
    out.append(text[last:])
    return "".join(out), frozenset(hidden)


def _secret_positions(tokens: list[Token], depth: int) -> tuple[set[int], dict[int, str]]:
    """Indexes of value tokens in secret positions, and PREPARE texts redacted as SQL."""
    secret: set[int] = set()
    replaced: dict[int, str] = {}
    calls: list[str] = []  # the function (or "") each open parenthesis belongs to
    statement_start = 0
    for i, token in enumerate(tokens):
        if token.type is TokenType.SEMI:
            statement_start = i + 1
            continue
        if token.type is TokenType.OP and token.value == "(":
            before = tokens[i - 1] if i > 0 else None
            calls.append(
                before.upper if before is not None and before.type is TokenType.WORD else ""
            )
            continue
        if token.type is TokenType.OP and token.value == ")":
            if calls:
                calls.pop()
            continue
        if token.type not in (TokenType.STRING, TokenType.NUMBER, TokenType.PARAM):
            continue
        if _is_secret(tokens, i, statement_start, calls):
            secret.add(i)
        elif token.type is TokenType.STRING and depth < _MAX_DEPTH and _prepared_text(tokens, i):
            shown, _ = _redact_text(token.value, depth + 1)
            if shown != token.value:
                replaced[i] = _quote(shown)
    secret |= _insert_values(tokens)
    return secret, replaced


def _is_secret(tokens: list[Token], i: int, start: int, calls: list[str]) -> bool:
    if any(call in KEYED for call in calls):
        return True
    first = tokens[start : start + 2]
    if len(first) == 2 and first[0].is_word("SET") and first[1].is_word("PASSWORD"):
        return True
    j = i - 1
    while j >= start and tokens[j].type is TokenType.WORD and tokens[j].upper.startswith("_"):
        j -= 1  # a character set introducer
    if j >= start and tokens[j].value in ("=", ":=") and tokens[j].type is TokenType.OP:
        j -= 1
    if j < start:
        return False
    before = tokens[j]
    if before.type in (TokenType.WORD, TokenType.IDENT, TokenType.VARIABLE) and SECRET_NAME.search(
        before.value
    ):
        return True
    if before.is_word("BY", "AS", "USING"):
        window = tokens[max(start, j - 4) : j]
        return any(t.is_word("IDENTIFIED") for t in window)
    return False


def _prepared_text(tokens: list[Token], i: int) -> bool:
    return i >= 3 and tokens[i - 1].is_word("FROM") and tokens[i - 3].is_word("PREPARE")


def _insert_values(tokens: list[Token]) -> set[int]:
    """Values of secret-named columns in ``INSERT | REPLACE ... (cols) VALUES (...), ...``."""
    secret: set[int] = set()
    for i, token in enumerate(tokens):
        if not token.is_word("VALUES", "VALUE") or i < 2 or tokens[i - 1].value != ")":
            continue
        columns = _group_before(tokens, i - 1)
        wanted = {
            k for k, item in enumerate(columns) if any(SECRET_NAME.search(t.value) for t in item)
        }
        if not wanted:
            continue
        j = i + 1
        while j < len(tokens) and tokens[j].value == "(":
            items, j = _group_at(tokens, j)
            for k in wanted:
                if k < len(items):
                    secret.update(idx for idx, t in items[k] if t.type in _VALUES)
            if j < len(tokens) and tokens[j].value == ",":
                j += 1
    return secret


_VALUES = (TokenType.STRING, TokenType.NUMBER, TokenType.PARAM)


def _group_before(tokens: list[Token], close: int) -> list[list[Token]]:
    """The comma-separated items of the parenthesised group ending at ``close``."""
    depth = 0
    for j in range(close, -1, -1):
        if tokens[j].value == ")":
            depth += 1
        elif tokens[j].value == "(":
            depth -= 1
            if depth == 0:
                items, _ = _group_at(tokens, j)
                return [[t for _, t in item] for item in items]
    return []


def _group_at(tokens: list[Token], open_at: int) -> tuple[list[list[tuple[int, Token]]], int]:
    """The items of the group opening at ``open_at`` (with token indexes), and the index
    after its close."""
    items: list[list[tuple[int, Token]]] = [[]]
    depth = 0
    for j in range(open_at, len(tokens)):
        token = tokens[j]
        if token.type is TokenType.OP and token.value == "(":
            depth += 1
            if depth == 1:
                continue
        elif token.type is TokenType.OP and token.value == ")":
            depth -= 1
            if depth == 0:
                return items, j + 1
        if depth == 1 and token.type is TokenType.OP and token.value == ",":
            items.append([])
        else:
            items[-1].append((j, token))
    return items, len(tokens)
