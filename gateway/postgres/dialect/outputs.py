"""Which result columns of a statement may carry a masked column's values through an expression.

Masking binds column rules to the real column through the RowDescription's table OID and
attribute number, which PostgreSQL reports for plain column references (also through
subqueries and CTEs). An expression — ``ssn || ''``, ``upper(ssn)``, ``(SELECT ssn ...)``,
``row_to_json(c)`` — is reported with no origin, so its values would pass unmasked. This module
finds, from the parse tree, where a masked column (by name) or a whole row of a table that has
one is referenced in what the statement returns:

- in the expression of output column *i* (the statement's own target list or RETURNING list):
  column *i* is derived (masked whole if it has no origin);
- in a target list nested elsewhere (a FROM subquery, a CTE, a set operation's arm), with a
  ``*`` among the outputs, or with several statements: every output without an origin is
  derived (positions unknown);
- ``EXECUTE`` of a prepared statement and ``FETCH`` from a cursor: their rows come from a text
  seen earlier, so every output without an origin is derived.

A column alias list renames columns in the statement (``FROM customers AS c(a, b, s)``): the
names of such a list over a table that holds a masked column, or over a join, count as masked
names too. References in WHERE, JOIN, GROUP BY or ORDER BY of the statement itself are
filtering, not output: ``SELECT count(*) FROM customers WHERE ssn = '...'`` derives nothing.
A text that does not parse is treated as deriving everything (fail closed; the server rejects
it anyway).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pglast import parser

__all__ = ["Derived", "alias_columns", "derived_outputs", "walk"]

Node = dict[str, Any]
_OUTPUT_LISTS = ("targetList", "returningList")
_DML = ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt")
_OPAQUE = {"ExecuteStmt": "prepared statement", "FetchStmt": "cursor"}


@dataclass(frozen=True, slots=True)
class Derived:
    """``source``: the masked name that flows into the outputs (for the masking tally);
    ``positions``: the output column indexes derived from it, None for every one."""

    source: str
    positions: frozenset[int] | None = None


def derived_outputs(sql: str, columns: Collection[str], tables: Collection[str]) -> Derived | None:
    """Where ``sql``'s outputs derive from masked ``columns`` (names, case-folded) or whole rows
    of ``tables`` (names, case-folded); None when none does."""
    try:
        tree = json.loads(parser.parse_sql_json(sql))
    except Exception:
        return Derived("unparsed statement")
    statements = [raw.get("stmt", {}) for raw in tree.get("stmts", [])]
    masked = frozenset(columns) | alias_columns(walk(tree), frozenset(tables))
    names = _Names(masked, frozenset(tables), _row_names(tree, frozenset(tables)))
    if len(statements) != 1:
        anywhere = names.first_in_outputs(tree)
        return Derived(anywhere) if anywhere is not None else None
    ((kind, body),) = statements[0].items() if statements[0] else (("", {}),)
    if kind in _OPAQUE:  # rows of a statement prepared or declared earlier: unknown lineage
        return Derived(_OPAQUE[kind])
    outputs = _outputs(kind, body)
    if outputs is None:  # not a plain SELECT or DML: any output may carry what it references
        anywhere = names.first_in_outputs(statements[0])
        return Derived(anywhere) if anywhere is not None else None
    positions: set[int] = set()
    source: str | None = None
    star = False
    for index, item in enumerate(outputs):
        value = item.get("ResTarget", {}).get("val", {})
        if _is_star(value):
            star = True
            continue
        found = names.first_in(value)
        if found is not None:
            positions.add(index)
            source = source or found
    nested = names.first_in_outputs({k: v for k, v in body.items() if k not in _OUTPUT_LISTS})
    if nested is not None or (star and source is not None):
        return Derived(source or nested or "*")
    if source is None:
        return None
    return Derived(source, frozenset(positions))


def _outputs(kind: str, body: Node) -> list[Node] | None:
    if kind == "SelectStmt" and body.get("op", "SETOP_NONE") == "SETOP_NONE":
        return list(body.get("targetList", []))
    if kind in _DML:
        returning = body.get("returningList")
        if returning is None:
            returning = body.get("returningClause", {}).get("exprs", [])
        return list(returning)
    return None


def _is_star(value: Node) -> bool:
    ref = value.get("ColumnRef")
    return ref is not None and any("A_Star" in f for f in ref.get("fields", []))


def walk(node: Any) -> Iterator[tuple[str, Node]]:
    """Every (key, dict) in a libpg_query JSON tree, depth first: a typed node's key is its type
    (``ColumnRef``); a field typed as a specific struct is inlined under the field's name
    (``larg``, ``relation``), so callers match on content where that matters."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(value, dict):
                    yield key, value
                    stack.append(value)
                elif isinstance(value, list):
                    stack.extend(value)
        elif isinstance(item, list):
            stack.extend(item)


def alias_columns(nodes: Iterable[tuple[str, Node]], tables: frozenset[str]) -> frozenset[str]:
    """Column names given by alias lists that may rename a masked column: ``FROM customers AS
    c(a, b, s)`` (a table that holds one) and ``(a JOIN b) AS j(x, y)`` (any join): which
    position is the masked column is not known here, so every name of the list counts."""
    found: set[str] = set()
    for kind, body in nodes:  # (key, dict) pairs of a tree, as walk gives them
        alias = body.get("alias")
        if not isinstance(alias, dict) or not alias.get("colnames"):
            continue
        relation = str(body.get("relname", "")).casefold()
        if kind == "JoinExpr" or ("relpersistence" in body and relation in tables):
            for name in alias["colnames"]:
                found.add(str(name.get("String", {}).get("sval", "")).casefold())
    return frozenset(found)


def _row_names(tree: Node, tables: frozenset[str]) -> frozenset[str]:
    """Names that denote a whole row which may hold a masked column: a masked table's name or
    alias, and every subquery's, CTE's or function's alias (their columns are not known)."""
    found: set[str] = set()
    for kind, body in walk(tree):
        if "relname" in body and str(body["relname"]).casefold() in tables:  # a RangeVar
            found.add(body["relname"].casefold())
            alias = body.get("alias", {}).get("aliasname")
            if alias:
                found.add(alias.casefold())
        elif kind in ("RangeSubselect", "RangeFunction"):
            alias = body.get("alias", {}).get("aliasname")
            if alias:
                found.add(alias.casefold())
        elif kind == "CommonTableExpr" and body.get("ctename"):
            found.add(body["ctename"].casefold())
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class _Names:
    columns: frozenset[str]
    tables: frozenset[str]
    rows: frozenset[str]

    def first_in(self, node: Any) -> str | None:
        """The first masked column or whole-row reference anywhere under ``node``."""
        for kind, body in walk(node):
            if kind != "ColumnRef":
                continue
            fields = body.get("fields", [])
            if any("A_Star" in f for f in fields):
                return "*"
            last = fields[-1].get("String", {}).get("sval", "") if fields else ""
            if last.casefold() in self.columns:
                return str(last.casefold())
            if len(fields) == 1 and last.casefold() in self.rows:
                return str(last.casefold())
        return None

    def first_in_outputs(self, node: Any) -> str | None:
        """The first reference inside any target or RETURNING list under ``node``."""
        for _, body in walk(node):
            for key in _OUTPUT_LISTS:
                found = self.first_in(body.get(key, []))
                if found is not None:
                    return found
            returning = body.get("returningClause")
            if isinstance(returning, dict):
                found = self.first_in(returning.get("exprs", []))
                if found is not None:
                    return found
        return None
