"""Statements read with sqlglot (dialect ``mysql``): SELECT and its relatives, INSERT, REPLACE,
UPDATE, DELETE, and the queries inside CREATE TABLE ... SELECT / CREATE VIEW / DO / SET.

sqlglot reads the canonical rendering of the lexer's tokens (``lexer.render``), so both agree
on every token. A statement sqlglot cannot read, reads as ``exp.Command`` (its fallback for
syntax it does not know) or reads as another kind of statement than its first word says, is
``unknown``. Functions, escapes and row locks come from the tokens (``scan``); this module adds
the kinds of the statement and its tables.
"""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from gateway.guardrails import Kind
from gateway.mysql.dialect.bounds import filtered
from gateway.mysql.dialect.context import Acc
from gateway.mysql.dialect.lexer import Token, TokenType, render

__all__ = ["parse", "query", "tables_of", "write"]

logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its "falling back to Command" warnings

_MODIFIERS = {
    "INSERT": frozenset(["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE"]),
    "REPLACE": frozenset(["LOW_PRIORITY", "DELAYED"]),
    "UPDATE": frozenset(["LOW_PRIORITY", "IGNORE"]),
    "DELETE": frozenset(["LOW_PRIORITY", "QUICK", "IGNORE"]),
}
_QUERIES = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Values)
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge)


def _without_into_variables(tokens: list[Token]) -> list[Token]:
    """The tokens without ``INTO @a, @b`` (sqlglot cannot read it at the end of a SELECT, as
    MySQL 8 allows; the token scan has already found it: ``session``)."""
    for i, token in enumerate(tokens):
        if token.is_word("INTO") and i + 1 < len(tokens):
            if tokens[i + 1].type is not TokenType.VARIABLE:
                continue
            end = i + 2
            while (
                end + 1 < len(tokens)
                and tokens[end].value == ","
                and tokens[end + 1].type is TokenType.VARIABLE
            ):
                end += 2
            return [*tokens[:i], *tokens[end:]]
    return tokens


MAX_PARSE_TOKENS = 20_000  # sqlglot takes ~30 µs a token: a longer statement is not parsed
_BULK = 2_000  # an INSERT ... VALUES this long is read from its tokens alone


def parse(tokens: list[Token]) -> exp.Expr | None:
    """sqlglot's tree of one statement's tokens; None when it cannot read them (or they are
    more than ``MAX_PARSE_TOKENS``: held, in bounded time)."""
    if len(tokens) > MAX_PARSE_TOKENS:
        return None
    if tokens[0].is_word("SELECT", "WITH") or tokens[0].value == "(":
        tokens = _without_into_variables(tokens)
    try:
        trees = sqlglot.parse(render(tokens), read="mysql")
    except (SqlglotError, RecursionError, ValueError, TypeError, KeyError, IndexError):
        return None
    if len(trees) != 1 or trees[0] is None or isinstance(trees[0], exp.Command):
        return None
    return trees[0]


def tables_of(acc: Acc, tree: exp.Expr) -> None:
    """Every table the tree names (CTE names aside) into ``acc.tables``."""
    ctes = {cte.alias_or_name.casefold() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        name = table.name
        if not name or (not table.db and name.casefold() in ctes):
            continue
        if name.casefold() == "dual" and not table.db:
            continue
        acc.table(f"{table.db}.{name}" if table.db else name)


def query(acc: Acc, tokens: list[Token] | None = None, tree: exp.Expr | None = None) -> bool:
    """A query (SELECT, UNION, VALUES, TABLE): ``read``; False when sqlglot cannot read it."""
    if tree is None:
        tree = parse(tokens if tokens is not None else acc.tokens)
    if tree is None or not isinstance(tree, (*_QUERIES, exp.Subquery, exp.Paren)):
        return False
    _reads(acc, tree)
    return True


def _reads(acc: Acc, tree: exp.Expr) -> None:
    tables_of(acc, tree)
    if any(True for _ in tree.find_all(*_WRITES)):
        acc.add(Kind.UNKNOWN, "a write inside a query")
    acc.add(Kind.READ, "reads" + (f" {', '.join(acc.tables)}" if acc.tables else " values"))


def write(acc: Acc, command: str, tree: exp.Expr | None = None) -> None:
    """INSERT, REPLACE, UPDATE, DELETE (``tree`` when already parsed: ``WITH ... DELETE``):
    ``write``, ``write_unbounded`` without a pin."""
    tokens = acc.tokens
    modifiers = _MODIFIERS.get(command, frozenset())
    rest = 1
    while (
        rest < len(tokens)
        and tokens[rest].type is TokenType.WORD
        and tokens[rest].upper in modifiers
    ):
        rest += 1  # scheduling and error modifiers: they do not change which rows
    verb = "INSERT" if command == "REPLACE" else command  # REPLACE: INSERT that deletes first
    tokens = [Token(TokenType.WORD, verb, tokens[0].start, tokens[0].end), *tokens[rest:]]
    if tree is None and verb == "INSERT" and _bulk_insert(acc, tokens, command):
        return
    if tree is None:
        tree = parse(tokens)
    expected = {"INSERT": exp.Insert, "REPLACE": exp.Insert, "UPDATE": exp.Update}
    if tree is None or not isinstance(tree, expected.get(command, exp.Delete)):
        acc.add(Kind.UNKNOWN, f"{command} not read by the parser")
        return
    tables_of(acc, tree)
    if isinstance(tree, exp.Insert):
        acc.add(Kind.WRITE, f"{command} into {_target(tree)}")
        if tree.find(exp.Select) is not None:
            acc.add(Kind.READ, f"{command} ... SELECT reads")
        return
    target = tree.this
    if not isinstance(target, exp.Table) or _multi(tree):
        acc.add(Kind.WRITE_UNBOUNDED, f"multi-table {command}")
        return
    if any(True for _ in tree.find_all(exp.Subquery, exp.Select)):
        acc.add(Kind.READ, f"{command} reads in a sub-query")
    qualifier = target.alias or target.name
    if filtered(tree.args.get("where"), qualifier):
        acc.add(Kind.WRITE, f"{command} of {_target(tree)} with a pinned row filter")
    else:
        limit = " (LIMIT bounds how many rows, not which)" if tree.args.get("limit") else ""
        detail = "no condition pins a column of the target table to a constant"
        acc.add(Kind.WRITE_UNBOUNDED, f"{command} of {_target(tree)}: {detail}{limit}")


def _bulk_insert(acc: Acc, tokens: list[Token], command: str) -> bool:
    """A long ``INSERT | REPLACE [INTO] t [(cols)] VALUES (...), ...`` with no query in it
    (mysqldump's extended inserts): a write into ``t``, read from the tokens alone (functions
    were checked by the token scan)."""
    if len(tokens) < _BULK or any(t.is_word("SELECT", "WITH", "TABLE") for t in tokens):
        return False
    i = 2 if tokens[1].is_word("INTO") else 1
    if i >= len(tokens) or tokens[i].type not in (TokenType.WORD, TokenType.IDENT):
        return False
    name = tokens[i].value
    if i + 2 < len(tokens) and tokens[i + 1].value == "." and tokens[i + 1].type is TokenType.OP:
        name = f"{name}.{tokens[i + 2].value}"
    if not any(t.is_word("VALUES", "VALUE") for t in tokens):
        return False
    acc.table(name)
    acc.add(Kind.WRITE, f"{command} into {name} ({len(tokens)} tokens, read without sqlglot)")
    return True


def _multi(tree: exp.Expr) -> bool:
    target = tree.this
    if tree.args.get("using") or tree.args.get("from_") or target.args.get("joins"):
        return True
    tables = tree.args.get("tables") or []
    if not tables:
        return False
    return len(tables) > 1 or tables[0].name.casefold() not in (
        target.name.casefold(),
        target.alias.casefold(),
    )


def _target(tree: exp.Expr) -> str:
    target = tree.this
    if isinstance(target, exp.Schema):
        target = target.this
    if isinstance(target, exp.Table):
        return f"{target.db}.{target.name}" if target.db else target.name
    return "?"
