"""``classify(text, state)``: every statement of a MySQL text, with its kinds.

Steps, each failing closed:

1. A NUL byte: ``ambiguous`` (blocked). MariaDB's ``ORACLE`` sql_mode: ``unknown`` (held).
2. The lexer (``lexer``) reads the text as the server does under the session's sql_mode. A
   text with executable comments is read under every ``Reading`` (content executed with a
   5- or 6-digit version, or a plain comment) and a statement any reading finds is judged:
   the strictest wins. With an unknown sql_mode, a text with ``"`` or ``\\`` is read under
   every combination of ANSI_QUOTES and NO_BACKSLASH_ESCAPES, and every statement any of
   them finds is judged too. Text no reading can lex is ``unknown``; a nested comment in
   an executable one ``ambiguous``.
3. The server parses a multi-statement text one statement at a time, each after the one
   before has run: after a statement that changes sql_mode, the rest is lexed again under
   the new mode (``SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; DROP TABLE t; -- '``
   is three statements).
4. Each statement's tokens are scanned (``scan``) and dispatched on its first word
   (``statements``), sqlglot reading the queries.

A text longer than ``MAX_TEXT``, or with more than ``MAX_STATEMENTS`` statements, ``MAX_RELEX``
sql_mode changes or ``MAX_RELEXED`` characters lexed again after them, is held (what is past
the limit, unread): one session's text must not stall every session's guardrails.
"""

from __future__ import annotations

from gateway.guardrails import Classification, Finding, Kind, Statement
from gateway.mysql.dialect.context import Acc, Ctx, Shared
from gateway.mysql.dialect.errors import LexError
from gateway.mysql.dialect.lexer import Reading, Token, lex, render, split
from gateway.mysql.dialect.scan import PRIVATE_SCHEMAS, PRIVATE_VIEWS, scan_tokens
from gateway.mysql.dialect.state import MySQLState
from gateway.mysql.dialect.statements import dispatch

__all__ = ["classify"]

_READINGS = (Reading(True, 5), Reading(True, 6), Reading(False))
_Split = list[tuple[list[Token], int]]


def classify(text: str, state: MySQLState) -> Classification:
    """Classify every statement of ``text``; never raises (anything unreadable is ``unknown``)."""
    try:
        return _body(text, state, Shared())
    except Exception as exc:  # fail closed on anything, RecursionError included
        return _single(text, Kind.UNKNOWN, f"could not classify ({type(exc).__name__})")


def _single(
    text: str, kind: Kind, detail: str, depends: frozenset[str] = frozenset()
) -> Classification:
    statement = Statement(text=text.strip(), command="?", findings=(Finding(kind, detail),))
    return Classification((statement,), depends, literal_sensitive=True)


def _body(text: str, state: MySQLState, shared: Shared) -> Classification:
    """Classify a text (a whole command, or a prepared statement's body one level deeper)."""
    if "\x00" in text:
        return _single(text, Kind.AMBIGUOUS, "NUL byte in statement text")
    shared.depends.add("sql_mode")  # lexing, and MariaDB's ORACLE mode for any text
    shared.depth += 1
    try:
        statements = _statements(text, state, shared)
    finally:
        shared.depth -= 1
    return Classification(tuple(statements), frozenset(shared.depends), shared.literal_sensitive)


MAX_RELEX = 32  # sql_mode changes in one text: each re-lexes the rest (a DoS if unbounded)
MAX_RELEXED = 1 << 18  # characters lexed again after sql_mode changes, in one text
MAX_STATEMENTS = 1000  # statements classified in one text; the rest is held unread
MAX_TEXT = 1 << 20  # characters read of one text; a longer one is held unread


def _statements(text: str, state: MySQLState, shared: Shared) -> list[Statement]:
    result: list[Statement] = []
    base = 0
    relexes = relexed_chars = 0
    if len(text) > MAX_TEXT:
        return [_unreadable(text[:200], Kind.UNKNOWN, f"a text over {MAX_TEXT} characters")]
    while base < len(text):
        if state.oracle:
            result.append(_unreadable(text[base:], Kind.UNKNOWN, "sql_mode ORACLE: not read here"))
            return result
        if relexes > MAX_RELEX or len(result) >= MAX_STATEMENTS or relexed_chars > MAX_RELEXED:
            detail = "too many statements or sql_mode changes in one text: the rest is not read"
            result.append(_unreadable(text[base:], Kind.UNKNOWN, detail))
            return result
        relexes += 1
        rest = text[base:]
        relexed_chars += len(rest) if base else 0
        try:
            primary, others = _lex(rest, state, shared)
        except LexError as exc:
            kind = Kind.AMBIGUOUS if exc.ambiguous else Kind.UNKNOWN
            result.append(_unreadable(rest, kind, f"lexer: {exc}"))
            return result
        relexed = False
        for tokens, end in primary:
            if len(result) >= MAX_STATEMENTS:
                base += tokens[0].start
                relexed = True
                break
            statement = _statement(tokens, rest, state, shared)
            result.append(statement)
            after = state.apply_statement(statement)
            changed = _lexing(after) != _lexing(state)
            state = after
            if changed and end < len(rest):
                base += end
                relexed = True
                break
        for tokens in others:
            statement = _statement(tokens, rest, state, shared)
            result.append(Statement(statement.text, statement.command, statement.findings,
                                    statement.tables, statement.functions))  # fmt: skip
        if not relexed:
            break
    return result


def _lexing(state: MySQLState) -> tuple[bool, bool, bool, bool]:
    return (state.ansi_quotes, state.no_backslash_escapes, state.sql_mode_known, state.oracle)


def _lex(text: str, state: MySQLState, shared: Shared) -> tuple[_Split, list[list[Token]]]:
    """The statements of ``text`` as the server splits them, and those only another reading
    finds (of its executable comments, or under another sql_mode when it is not known): all
    are judged, the strictest wins; only the first reading's effects are applied. The first
    reading (executed comments, the session's sql_mode) must lex, else ``LexError``; another
    reading that does not is a syntax error to a server that reads the text so."""
    modes = [(state.ansi_quotes, state.no_backslash_escapes)]
    if not state.sql_mode_known and ('"' in text or "\\" in text):
        modes += [(a, b) for a in (False, True) for b in (False, True) if (a, b) != modes[0]]
    executable = "/*!" in text or "/*M!" in text
    readings = _READINGS if executable else _READINGS[:1]
    primary: _Split | None = None
    seen: set[str] = set()
    others: list[list[Token]] = []
    for ansi, nbe in modes:
        for reading in readings:
            try:
                tokens = lex(text, ansi_quotes=ansi, no_backslash_escapes=nbe, reading=reading)
            except LexError:
                if primary is None:  # the session's own reading: held when unreadable
                    raise
                continue  # another reading: a syntax error to a server that reads it so
            statements = split(tokens, len(text))
            rendered = [render(t) for t, _ in statements]
            if primary is None:
                primary, seen = statements, set(rendered)
                continue
            for (tokens_, _), shown in zip(statements, rendered, strict=True):
                if shown not in seen:
                    seen.add(shown)
                    others.append(tokens_)
    assert primary is not None
    return primary, others


def _unreadable(text: str, kind: Kind, detail: str) -> Statement:
    return Statement(text=text.strip(), command="?", findings=(Finding(kind, detail),))


def _statement(tokens: list[Token], text: str, state: MySQLState, shared: Shared) -> Statement:
    acc = Acc(tokens)
    ctx = Ctx(state, shared, scan_tokens, _body, dispatch)
    scan_tokens(acc)
    command = dispatch(acc, ctx)
    if acc.tables:
        shared.depends.add("database")
        _private_tables(acc, state)
    source = text[tokens[0].start : tokens[-1].end]
    return acc.statement(source, command)


def _private_tables(acc: Acc, state: MySQLState) -> None:
    """Unqualified tables of a statement run while the current database is a private schema
    (or information_schema, for its views of grants and statements)."""
    database = (state.database or "").casefold()
    bare = [table for table in acc.tables if "." not in table]
    if database in PRIVATE_SCHEMAS and bare:
        acc.add(Kind.PRIVILEGE, f"reads the {database} schema (credentials, privileges)")
    elif database == "information_schema" and set(bare) & PRIVATE_VIEWS:
        acc.add(Kind.PRIVILEGE, "reads information_schema's views of grants or statements")
