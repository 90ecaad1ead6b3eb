"""``redact(text, params)``: a PostgreSQL command as it may be shown and stored, its secrets
replaced by ``'<redacted>'`` (the dialect's ``redact``; docs/security.md, "Secrets in held
statements").

The session holds and runs the exact bytes; reviews, cards, the audit trail and logs get this
text. Secrets are found in the parse tree (libpg_query, the server's own grammar), where the
grammar says a value is a secret, and the literal's bytes are replaced in the source (located
by the tree's byte offsets and the server's own scanner), so the rest reads as written:

- a role's password: ``CREATE/ALTER ROLE|USER|GROUP ... [ENCRYPTED] PASSWORD '...'`` (clear
  text, SCRAM verifier or md5 hash alike), and any option named like a secret (``password``,
  ``secret``, ``token``, ``api_key``, ...: ``SECRET_NAME``) anywhere: servers, foreign tables,
  subscriptions' ``WITH (...)``;
- a user mapping's options, every one but ``PUBLIC_MAPPING_OPTIONS`` (``user``, ...): a
  mapping is a credential, whatever its wrapper calls the parts;
- settings named like a secret: ``SET``, ``ALTER SYSTEM|ROLE|DATABASE ... SET``, ``set_config``
  (and ``set_config`` of a name that is not a constant);
- arguments of pgcrypto's keyed functions (``WHOLE_ARGS``: ``pgp_sym_encrypt(data, key)``,
  ``crypt(password, salt)``, ``hmac(data, key, type)``, ...), every constant in them, any
  schema; dblink's connection arguments when built by an expression;
- values assigned to or compared with a column named like a secret (``UPDATE ... SET
  password_hash = '...'``, ``INSERT (..., api_key) VALUES (..., '...')``, ``WHERE token = ...``);
- everywhere, a literal whose value holds a recognisable secret (``redact_text.redact_value``:
  a conninfo's or URI's password, a JSON secret member, a private key, a password verifier):
  a subscription's ``CONNECTION``, ``dblink_connect('host=... password=...')``,
  ``primary_conninfo``; only the secret part goes, the host and user stay readable;
- a DO block's or a function's body (opaque to the parser, any language): its literals that
  are SQL are redacted as SQL; when the body mentions a secret (a PASSWORD keyword, a keyed
  function, a secret-named identifier, a recognisable secret), its other literals go whole;
  recognisable secrets in the rest of the body go too;
- the same inside PREPARE, EXPLAIN, CREATE FUNCTION ... BEGIN ATOMIC, multi-statement texts;
- a bound value (``$n``) in a secret position is shown as ``<redacted>``; any bound value is
  passed through ``redact_value``;
- a text that does not parse but may hold a secret: every string literal goes; a text the
  scanner cannot read is cut at its first quote.

A text in which none of ``redact_text.WORDS`` occurs cannot hold a secret found here: it is
returned as is, without parsing (the statement log asks for every distinct text it writes);
one where only escapes could hide a word (a backslash, ``U&``) is parsed, and looked into only
when its decoded values hold one.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from pglast import parser

from gateway.guardrails import REDACTED, Redacted
from gateway.postgres.dialect.classify import loads
from gateway.postgres.dialect.redact_text import (
    ESCAPED,
    NOTHING,
    PLACEHOLDER,
    TRIGGER,
    is_secret_name,
    literal_value,
    needs,
    quote,
    redact_value,
    tree_needs_look,
    triggered,
)
from gateway.postgres.dialect.redact_tree import CONNINFO_ARGS, WHOLE_ARGS, Find

__all__ = ["redact", "redact_opaque", "redact_text"]

_LITERALS = frozenset({"SCONST", "USCONST", "BCONST", "XCONST"})
_SIGNS = frozenset({"ASCII_43", "ASCII_45"})
_MAX_DEPTH = 3  # SQL in a literal in a body in a literal ...
_ALL = frozenset({0})  # "every bound value": for a text that does not parse


def redact(text: str, params: Sequence[bytes | None] = ()) -> Redacted:
    """``text`` and its bound ``params`` as they may be shown; never raises.

    Most texts need no look (``triggered``: a memo of their skeletons). One that does is parsed
    once: the answer is remembered (``LOOKED`` texts up to ``LOOKED_MAX`` characters, shared by
    every session: the journal asks when a statement is forwarded and the statement log again
    when its batch is written)."""
    if not triggered(text):
        if not params:
            return Redacted(text)
        shown, hidden = text, frozenset[int]()
    else:
        shown, hidden = _looked(text)
    if not params:
        return Redacted(shown)
    return Redacted(shown, tuple(_param(i + 1, v, hidden) for i, v in enumerate(params)))


LOOKED = 512  # texts that needed a look, remembered with their answer (then it starts over)
LOOKED_MAX = 16_384  # characters: a longer text is looked at each time it is asked for
_LOOKED: dict[str, tuple[str, frozenset[int]]] = {}


def _looked(text: str) -> tuple[str, frozenset[int]]:
    found = _LOOKED.get(text)
    if found is not None:
        return found
    try:
        found = redact_text(text)
    except Exception:  # fail closed: whatever went wrong, nothing of a possible secret shows
        found = _cut(text), _ALL
    if len(text) <= LOOKED_MAX:
        if len(_LOOKED) >= LOOKED:
            _LOOKED.clear()
        _LOOKED[text] = found
    return found


def _param(number: int, value: bytes | None, hidden: frozenset[int]) -> bytes | None:
    if value is None:
        return None
    if number in hidden or hidden is _ALL:
        return REDACTED.encode()
    decoded = value.decode("utf-8", "replace")
    cleaned = redact_value(decoded)
    return value if cleaned == decoded else cleaned.encode()


def redact_text(text: str, depth: int = 0) -> tuple[str, frozenset[int]]:
    """(the text shown, the numbers of the ``$n`` parameters in secret positions)."""
    need = needs(text.lower())
    if need == NOTHING:
        return text, frozenset()
    try:
        encoded = parser.parse_sql_json(text)
    except parser.ParseError:
        return _unparseable(text), _ALL
    if need == ESCAPED and not tree_needs_look(encoded):  # escapes hid no secret
        return text, frozenset()
    tree = loads(encoded)
    find = Find(depth, redact_opaque)
    find.visit(tree.get("stmts", []))
    if find.blind:  # a secret the tree does not locate: every literal goes
        return _unparseable(text), frozenset(find.params)
    if not find.marks:
        return text, frozenset(find.params)
    return _apply(text, find.marks), frozenset(find.params)


# -- replacing literals in the source -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    """A token of the server's scanner, with its bytes' span (``end`` exclusive)."""

    start: int
    end: int
    name: str


def _scan(text: str) -> list[_Token]:
    """The scanner's tokens, at byte offsets: pglast's ``scan`` counts characters, the parse
    tree's locations count bytes (a non-ASCII character before a literal would shift it)."""
    tokens = parser.scan(text)
    if text.isascii():
        return [_Token(t.start, t.end + 1, t.name) for t in tokens]
    offsets = [0]
    for char in text:
        offsets.append(offsets[-1] + len(char.encode("utf-8", "surrogatepass")))
    return [_Token(offsets[t.start], offsets[t.end + 1], t.name) for t in tokens]


def _apply(text: str, marks: dict[int, str]) -> str:
    """``text`` with the token at each marked byte offset (a sign and its number, a U&''
    literal and its UESCAPE clause) replaced."""
    data = text.encode()
    tokens = _scan(text)
    starts = [token.start for token in tokens]
    edits: list[tuple[int, int, str]] = []
    for location, replacement in marks.items():
        i = bisect_left(starts, location)
        if i >= len(tokens):
            continue
        last = i
        if tokens[i].name in _SIGNS and i + 1 < len(tokens):
            last = i + 1
        uescape = last + 2 < len(tokens) and tokens[last + 1].name == "UESCAPE"
        if tokens[last].name == "USCONST" and uescape:
            last += 2
        edits.append((tokens[i].start, tokens[last].end, replacement))
    return _edit(data, edits)


def _edit(data: bytes, edits: list[tuple[int, int, str]]) -> str:
    out, at = [], len(data)
    for start, end, replacement in sorted(edits, reverse=True):
        if end > at:  # overlaps an edit already made
            continue
        out.append(data[end:at])
        out.append(replacement.encode())
        at = start
    out.append(data[:at])
    return b"".join(reversed(out)).decode("utf-8", "replace")


def _unparseable(text: str) -> str:
    """A text the parser refuses that may hold a secret: every string literal goes."""
    try:
        tokens = _scan(text)
    except Exception:
        return _cut(text)
    edits = [(t.start, t.end, PLACEHOLDER) for t in tokens if t.name in _LITERALS]
    return redact_value(_edit(text.encode(), edits))


def _cut(text: str) -> str:
    """A text not even the scanner reads: cut at its first quote (or possible secret)."""
    found = [i for i in (text.find("'"), text.find("$"), text.find('"')) if i >= 0]
    match = TRIGGER.search(text.lower())
    if match is not None:
        found.append(match.start())
    if not found:
        return text
    return f"{text[: min(found)]}<redacted: the rest of a text that could not be read>"


def redact_opaque(body: str, depth: int) -> str:
    """A DO block's or a function's body, in any language (the parser does not look inside).

    Its literals that are SQL (they parse, with more than one word) are redacted as SQL; when
    the body mentions a secret, its other literals go whole; otherwise each literal is passed
    through ``redact_value``. Then so is the whole body (strings of other languages).
    """
    if not triggered(body):
        return body
    if _is_sql(body):  # LANGUAGE sql, or a body that reads as SQL: redacted as such
        return redact_text(body, depth)[0]
    try:
        tokens = _scan(body)
    except Exception:
        return _cut(body)
    data = body.encode()
    words = [data[t.start : t.end].decode("utf-8", "replace") for t in tokens]
    mentions = redact_value(body) != body or any(
        t.name == "PASSWORD" or _secret_word(word)
        for t, word in zip(tokens, words, strict=True)
        if t.name not in _LITERALS
    )
    edits = []
    for token, raw in zip(tokens, words, strict=True):
        if token.name not in _LITERALS:
            continue
        replacement = _opaque_literal(raw, depth, mentions)
        if replacement is not None:
            edits.append((token.start, token.end, replacement))
    return redact_value(_edit(data, edits))


def _is_sql(value: str) -> bool:
    """Whether ``value`` reads as SQL: it parses, into statements, and has more than a word
    (a one-word password such as ``commit`` parses too)."""
    if len(value.split()) < 2:
        return False
    try:
        return bool(loads(parser.parse_sql_json(value)).get("stmts"))
    except parser.ParseError:
        return False


def _secret_word(word: str) -> bool:
    name = word.strip('"').lower()
    return (
        name in WHOLE_ARGS
        or name in CONNINFO_ARGS
        or name == "set_config"
        or (is_secret_name(name))
    )


def _opaque_literal(raw: str, depth: int, mentions: bool) -> str | None:
    """What replaces one literal of a body (None: it stays)."""
    value = literal_value(raw)
    if value is None:
        return PLACEHOLDER if mentions or triggered(raw) else None
    if depth <= _MAX_DEPTH and _is_sql(value):
        shown, _ = redact_text(value, depth + 1)
        return None if shown == value else quote(shown)
    if mentions:
        return PLACEHOLDER
    cleaned = redact_value(value)
    return None if cleaned == value else quote(cleaned)
