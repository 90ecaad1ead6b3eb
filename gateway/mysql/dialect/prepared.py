"""SQL-level prepared statements (MySQL 8.0 Reference Manual 15.5 "Prepared Statements";
MariaDB's EXECUTE IMMEDIATE).

``PREPARE name FROM 'text'`` gets the kinds of its text, read in the state it is prepared in
(a dangerous body is held when prepared, as in PostgreSQL); adjacent string literals are
concatenated as the server does (``'DROP ' 'TABLE t'``). ``PREPARE name FROM @var`` (or
MariaDB's expression) has a text not known here: ``unknown`` (held), and what it prepares is
unknown too. ``EXECUTE name`` gets the kinds recorded for the name (``MySQLState.prepared``);
a name not prepared is ``unknown``. MariaDB's ``EXECUTE IMMEDIATE '...'`` gets its text's
kinds (from a variable or an expression: ``unknown``). ``DEALLOCATE | DROP PREPARE name`` is
``session``. Names are case-insensitive.
"""

from __future__ import annotations

from gateway.guardrails import Classification, Effect, Kind, unclassifiable
from gateway.mysql.dialect.context import MAX_DEPTH, Acc, Ctx
from gateway.mysql.dialect.lexer import Token, TokenType

__all__ = ["deallocate", "execute", "prepare"]

_NAMES = (TokenType.WORD, TokenType.IDENT)


def _text(tokens: list[Token]) -> str | None:
    """The text of a string literal (adjacent literals concatenated, an introducer skipped);
    None for anything else (a variable, an expression)."""
    if tokens and tokens[0].type is TokenType.WORD and tokens[0].value[:1] in ("_", "N", "n"):
        tokens = tokens[1:]  # a character set introducer: _utf8mb4'...', N'...'
    if not tokens or any(t.type is not TokenType.STRING for t in tokens):
        return None
    return "".join(t.value for t in tokens)


def _body(acc: Acc, ctx: Ctx, text: str, label: str) -> Classification | None:
    """The classification of a prepared text, its findings copied into ``acc``."""
    if ctx.shared.depth >= MAX_DEPTH:
        acc.add(Kind.UNKNOWN, f"{label}: nested too deep")
        return None
    ctx.shared.literal_sensitive = True
    body = ctx.body(text, ctx.state, ctx.shared)
    _copy(acc, body, label)
    return body


def _copy(acc: Acc, body: Classification, label: str) -> None:
    for statement in body.statements:
        for finding in statement.findings:
            acc.add(finding.kind, f"{label}: {finding.detail}", finding.function)
        for table in statement.tables:
            acc.table(table)
        acc.functions.extend(statement.functions)


def prepare(acc: Acc, ctx: Ctx) -> None:
    tokens = acc.tokens
    if len(tokens) < 4 or tokens[1].type not in _NAMES or not tokens[2].is_word("FROM"):
        acc.add(Kind.UNKNOWN, "PREPARE not read here")
        return
    name = tokens[1].value.casefold()
    text = _text(tokens[3:])
    if text is None:
        acc.add(Kind.UNKNOWN, f"PREPARE {name} FROM a text not known here")
        acc.effects.append(Effect("prepare", name, prepared=unclassifiable("", "unknown text")))
        return
    body = _body(acc, ctx, text, f"PREPARE {name}")
    if body is not None:
        acc.add(Kind.SESSION, f"PREPARE {name}")
        acc.effects.append(Effect("prepare", name, prepared=body))


def execute(acc: Acc, ctx: Ctx) -> None:
    tokens = acc.tokens
    if len(tokens) > 2 and tokens[1].is_word("IMMEDIATE"):
        _immediate(acc, ctx)
        return
    if len(tokens) < 2 or tokens[1].type not in _NAMES:
        acc.add(Kind.UNKNOWN, "EXECUTE not read here")
        return
    name = tokens[1].value.casefold()
    ctx.shared.depends.add(f"prepared:{name}")
    body = ctx.state.prepared.get(name)
    if body is None:
        acc.add(Kind.UNKNOWN, f"EXECUTE {name}: no statement prepared under that name")
        return
    _copy(acc, body, f"EXECUTE {name}")
    for statement in body.statements:
        acc.effects.extend(statement.effects)
    acc.add(Kind.SESSION, f"EXECUTE {name}")


def _immediate(acc: Acc, ctx: Ctx) -> None:
    """MariaDB's ``EXECUTE IMMEDIATE 'text' [USING ...]``: runs the text now."""
    rest = acc.tokens[2:]
    end = next((i for i, t in enumerate(rest) if t.is_word("USING")), len(rest))
    text = _text(rest[:end])
    if text is None:
        acc.add(Kind.UNKNOWN, "EXECUTE IMMEDIATE of a text not known here")
        return
    body = _body(acc, ctx, text, "EXECUTE IMMEDIATE")
    if body is not None:
        acc.add(Kind.SESSION, "EXECUTE IMMEDIATE")
        for statement in body.statements:
            acc.effects.extend(statement.effects)


def deallocate(acc: Acc, ctx: Ctx) -> None:
    tokens = acc.tokens
    if len(tokens) != 3 or not tokens[1].is_word("PREPARE") or tokens[2].type not in _NAMES:
        acc.add(Kind.UNKNOWN, "DEALLOCATE not read here")
        return
    name = tokens[2].value.casefold()
    acc.add(Kind.SESSION, f"DEALLOCATE PREPARE {name}")
    acc.effects.append(Effect("deallocate", name))
