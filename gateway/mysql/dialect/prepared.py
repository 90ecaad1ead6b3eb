"""SQL-level prepared statements (MySQL 8.0 Reference Manual 15.5 "Prepared Statements").

``PREPARE name FROM 'text'`` gets the kinds of its text, read in the state it is prepared in
(a dangerous body is held when prepared, as in PostgreSQL); adjacent string literals are
concatenated as the server does (``'DROP ' 'TABLE t'``). ``PREPARE name FROM @var`` (or
MariaDB's expression) has a text not known here: ``unknown`` (held), and what it prepares is
unknown too. ``EXECUTE name`` gets the kinds recorded for the name (``MySQLState.prepared``);
a name not prepared is ``unknown``. ``DEALLOCATE | DROP PREPARE name`` is ``session``. Names
are case-insensitive.
"""

from __future__ import annotations

from gateway.guardrails import Effect, Kind, unclassifiable
from gateway.mysql.dialect.context import MAX_DEPTH, Acc, Ctx
from gateway.mysql.dialect.lexer import TokenType

__all__ = ["deallocate", "execute", "prepare"]

_NAMES = (TokenType.WORD, TokenType.IDENT)


def prepare(acc: Acc, ctx: Ctx) -> None:
    tokens = acc.tokens
    if len(tokens) < 4 or tokens[1].type not in _NAMES or not tokens[2].is_word("FROM"):
        acc.add(Kind.UNKNOWN, "PREPARE not read here")
        return
    name = tokens[1].value.casefold()
    rest = tokens[3:]
    if rest and rest[0].type is TokenType.WORD and rest[0].value[:1] in ("_", "N", "n"):
        rest = rest[1:]  # a character set introducer: _utf8mb4'...', N'...'
    if not rest or any(t.type is not TokenType.STRING for t in rest):
        acc.add(Kind.UNKNOWN, f"PREPARE {name} FROM a text not known here")
        acc.effects.append(Effect("prepare", name, prepared=unclassifiable("", "unknown text")))
        return
    text = "".join(t.value for t in rest)
    if ctx.shared.depth >= MAX_DEPTH:
        acc.add(Kind.UNKNOWN, "PREPARE nested too deep")
        return
    ctx.shared.literal_sensitive = True
    body = ctx.body(text, ctx.state, ctx.shared)
    for statement in body.statements:
        for finding in statement.findings:
            acc.add(finding.kind, f"PREPARE {name}: {finding.detail}", finding.function)
        for table in statement.tables:
            acc.table(table)
        acc.functions.extend(statement.functions)
    acc.add(Kind.SESSION, f"PREPARE {name}")
    acc.effects.append(Effect("prepare", name, prepared=body))


def execute(acc: Acc, ctx: Ctx) -> None:
    tokens = acc.tokens
    if len(tokens) < 2 or tokens[1].type not in _NAMES:
        acc.add(Kind.UNKNOWN, "EXECUTE not read here")
        return
    name = tokens[1].value.casefold()
    ctx.shared.depends.add(f"prepared:{name}")
    body = ctx.state.prepared.get(name)
    if body is None:
        acc.add(Kind.UNKNOWN, f"EXECUTE {name}: no statement prepared under that name")
        return
    for statement in body.statements:
        for finding in statement.findings:
            acc.add(finding.kind, f"EXECUTE {name}: {finding.detail}", finding.function)
        for table in statement.tables:
            acc.table(table)
        acc.functions.extend(statement.functions)
        acc.effects.extend(statement.effects)
    acc.add(Kind.SESSION, f"EXECUTE {name}")


def deallocate(acc: Acc, ctx: Ctx) -> None:
    tokens = acc.tokens
    if len(tokens) != 3 or not tokens[1].is_word("PREPARE") or tokens[2].type not in _NAMES:
        acc.add(Kind.UNKNOWN, "DEALLOCATE not read here")
        return
    name = tokens[2].value.casefold()
    acc.add(Kind.SESSION, f"DEALLOCATE PREPARE {name}")
    acc.effects.append(Effect("deallocate", name))
