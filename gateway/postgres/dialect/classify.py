"""``classify(sql, state)``: every statement of a PostgreSQL text, with its kinds.

Steps, each failing closed:

1. A NUL byte ends the server's copy of the text early: ``ambiguous`` (blocked).
2. With ``standard_conforming_strings`` off, the server reads ``\\'`` inside a plain '...'
   literal as an escaped quote while libpg_query reads it as a backslash and the end of the
   string, so ``SELECT 'x\\' -- ' ; SELECT 'SMUGGLED'; --'`` is one statement here and two
   there. Both lexers agree up to the first plain literal with a backslash, so libpg_query's
   scanner finds it: the whole text is then ``ambiguous`` (blocked; the client can use E'...'
   strings, which both read alike, or turn standard_conforming_strings on).
3. libpg_query parses the text (the server's own grammar); a parse error is ``unknown``.
4. Each statement's tree is walked (``context.Walk``); effects of a statement (SET search_path,
   PREPARE, ...) are applied to the state used for the statements after it, as the server does.
   The whole text is lexed once with the incoming state, as the server lexes it.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

from pglast import parser

from gateway.guardrails import Classification, Finding, Kind, Statement
from gateway.postgres.dialect import expressions, statements, utility
from gateway.postgres.dialect.context import Handler, Shared, Walk, neutral_handlers
from gateway.postgres.dialect.state import SessionState

__all__ = ["HANDLERS", "classify", "loads"]


def _json_loader() -> Callable[[str], Any]:
    """orjson when installed (2-3x faster on parse trees), else the standard library."""
    try:
        loads: Callable[[str], Any] = importlib.import_module("orjson").loads
    except ImportError:
        return json.loads
    return loads


loads = _json_loader()

HANDLERS: dict[str, Handler] = {
    **neutral_handlers(),
    **expressions.HANDLERS,
    **statements.HANDLERS,
    **utility.HANDLERS,
}


def classify(sql: str, state: SessionState) -> Classification:
    """Classify every statement of ``sql``; never raises (anything unreadable is ``unknown``)."""
    try:
        return _classify(sql, state)
    except Exception as exc:  # fail closed on anything, including RecursionError
        return _single(sql, Kind.UNKNOWN, f"could not classify ({type(exc).__name__})")


def _single(
    sql: str, kind: Kind, detail: str, depends: frozenset[str] = frozenset()
) -> Classification:
    statement = Statement(text=sql.strip(), command="?", findings=(Finding(kind, detail),))
    return Classification((statement,), depends, literal_sensitive=True)


def _classify(sql: str, state: SessionState) -> Classification:
    if "\x00" in sql:
        return _single(sql, Kind.AMBIGUOUS, "NUL byte in statement text")
    depends: set[str] = set()
    if "\\" in sql:
        depends.add("standard_conforming_strings")
        if not state.standard_conforming_strings and _backslash_in_literal(sql):
            detail = (
                "backslash in a string literal while standard_conforming_strings is off; "
                "use E'...' strings"
            )
            return _single(sql, Kind.AMBIGUOUS, detail, frozenset(depends))
    try:
        tree = loads(parser.parse_sql_json(sql))
    except parser.ParseError as exc:
        return _single(sql, Kind.UNKNOWN, f"parse error: {exc}", frozenset(depends))
    raws: list[dict[str, Any]] = tree.get("stmts", [])
    shared = Shared(depends)
    encoded = sql.encode() if len(raws) > 1 else b""
    result = []
    for raw in raws:
        walk = Walk(state, HANDLERS, shared)
        node = raw.get("stmt", {})
        walk.visit_node(node)
        statement = walk.statement(_text(sql, encoded, raw), _command(node))
        result.append(statement)
        state = state.apply_statement(statement)
    return Classification(tuple(result), frozenset(depends), shared.literal_sensitive)


def _text(sql: str, encoded: bytes, raw: dict[str, Any]) -> str:
    """The source of one statement (locations are byte offsets into the UTF-8 text)."""
    if not encoded:
        return sql.strip()
    start = raw.get("stmt_location", 0)
    length = raw.get("stmt_len", 0) or len(encoded) - start
    return encoded[start : start + length].decode(errors="replace").strip()


def _command(node: dict[str, Any]) -> str:
    for typ in node:
        return str(typ).removesuffix("Stmt")
    return "?"


def _backslash_in_literal(sql: str) -> bool:
    """Whether a plain or U& string literal (as libpg_query lexes it) holds a backslash."""
    try:
        tokens = parser.scan(sql)
    except Exception:  # unscannable text: assume the worst
        return True
    for token in tokens:
        if token.name not in ("SCONST", "USCONST"):
            continue
        literal = sql[token.start : token.end + 1]  # pglast's scan counts characters, not bytes
        if "\\" in literal and literal[:1] not in ("E", "e", "$"):
            return True
    return False
