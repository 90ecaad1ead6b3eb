"""How to count the rows a DELETE / UPDATE / MERGE would touch, without running it.

``count_plan(text, catalog_first)`` builds, from the statement itself, a ``SELECT count(*)``
over the same target, items and condition (deparsed by pglast, the server's own grammar):

- DELETE / UPDATE without USING / FROM: ``[WITH ...] SELECT count(*) FROM target [AS t]
  [WHERE cond]`` (``ONLY`` kept);
- with USING / FROM items: ``SELECT count(*) FROM target AS t WHERE EXISTS (SELECT 1 FROM
  <items> WHERE cond)``: each target row once, however many rows of the items match it;
- MERGE: target rows with a matching source row (``EXISTS (SELECT 1 FROM <source> WHERE
  <on>)``), an upper bound of what its WHEN MATCHED clauses touch; with a WHEN NOT MATCHED BY
  SOURCE clause that updates or deletes, every row of the target (its note says so);
- ``WHERE CURRENT OF``: one row (the cursor's), not counted by a query.

The count must never have side effects, so it is not built (``CountPlan.sql`` None, ``note``
saying why) when the statement: calls a function that is not a known built-in free of side
effects and not volatile (``random()``, ``clock_timestamp()`` and the like change from row to
row; user functions may do anything), uses a user-defined operator or a function or operator
that may resolve outside pg_catalog (``search_path``), casts to a type that is not built in (a
domain's CHECK may call a function), has a data-modifying WITH or a locking clause, or is not
one single statement. Views and rules the count reads may still call functions: see
docs/security.md. The count runs read-only (``gateway.postgres.counting``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pglast import ast, enums, parse_sql, parser
from pglast.stream import RawStream

from gateway.postgres.dialect.catalog import (
    BUILTIN_OPERATORS,
    FunctionClass,
    function_class,
    words,
)

__all__ = ["CountPlan", "count_plan"]

Node = dict[str, Any]

# Built-ins on the allow list whose value changes from call to call, or that act.
_VOLATILE = words(
    """
    random random_normal setseed clock_timestamp timeofday gen_random_uuid uuidv4 uuidv7
    txid_current pg_current_xact_id pg_advisory_unlock pg_advisory_unlock_shared
    pg_advisory_unlock_all array_sample array_shuffle
    """
)
_WRITES = frozenset(["InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"])
_TYPES = frozenset(["text", "uuid", "date", "name", "bytea", "json", "jsonb", "inet", "cidr"])


@dataclass(frozen=True, slots=True)
class CountPlan:
    """``sql`` counts the rows (with the statement's own ``$n``; ``params`` are those it
    uses), or ``rows`` is known without a query, or neither and ``note`` says why not."""

    sql: str | None
    note: str = ""
    params: frozenset[int] = frozenset()
    rows: int | None = None


def count_plan(text: str, catalog_first: bool) -> CountPlan:
    """How to count what ``text`` (one DELETE / UPDATE / MERGE) would touch; never raises."""
    try:
        tree = json.loads(parser.parse_sql_json(text)).get("stmts", [])
    except Exception:
        return CountPlan(None, "not counted: the statement could not be read")
    if len(tree) != 1:
        return CountPlan(None, "not counted: several statements")
    stmt: Node = tree[0].get("stmt", {})
    (typ,) = stmt or {"?": None}
    if typ not in ("DeleteStmt", "UpdateStmt", "MergeStmt"):
        return CountPlan(None, "not counted: not a single DELETE, UPDATE or MERGE")
    node = stmt[typ]
    if "CurrentOfExpr" in (node.get("whereClause") or {}):
        return CountPlan(None, "one row: the cursor's current row", rows=1)
    unsafe = _unsafe(node, catalog_first)
    if unsafe is not None:
        return CountPlan(None, f"not counted: {unsafe}")
    try:
        return _build(text)
    except Exception as exc:  # pglast cannot deparse something: fail closed, uncounted
        return CountPlan(None, f"not counted: could not build the count ({type(exc).__name__})")


def _unsafe(node: Node, catalog_first: bool) -> str | None:
    """Why running a count over ``node``'s condition and items could have side effects."""
    skip = ("targetList", "mergeWhenClauses", "returningList", "returningClause")
    stack: list[object] = [{k: v for k, v in node.items() if k not in skip}]
    while stack:
        value = stack.pop()
        if type(value) is list:
            stack.extend(value)
            continue
        if type(value) is not dict:
            continue
        for key, child in value.items():
            why = _unsafe_node(key, child, catalog_first)
            if why is not None:
                return why
            stack.append(child)
    return None


def _unsafe_node(key: str, child: object, catalog_first: bool) -> str | None:
    if type(child) is not dict:
        return None
    if key in _WRITES and child.get("relation") is not None:
        return "a data-modifying WITH"
    if key in {"lockingClause", "LockingClause"}:
        return "a locking clause"
    if key in {"FuncCall", "funccall"}:
        return _unsafe_function([_word(n) for n in child.get("funcname", ())], catalog_first)
    if key == "A_Expr":
        names = [_word(n) for n in child.get("name", ())]
        op = names[-1] if names else ""
        schema = names[-2] if len(names) > 1 else None
        if "BETWEEN" in op:
            return None
        if op not in BUILTIN_OPERATORS or schema not in (None, "pg_catalog"):
            return f"uses operator {'.'.join(names)}"
        if schema is None and not catalog_first:
            return f"operator {op} may resolve outside pg_catalog (search_path)"
    if key in {"ColumnRef", "A_Indirection"}:
        fields = child.get("fields") or child.get("indirection") or ()
        for name in (_word(f) for f in fields):
            kind = function_class(name)
            if name in _VOLATILE or kind not in (FunctionClass.ALLOW, FunctionClass.USER):
                return f"calls {name}() (attribute notation)"
    if key in {"TypeCast", "typeName"}:
        type_name = child.get("typeName", child) if key == "TypeCast" else child
        names = [_word(n) for n in type_name.get("names", ())]
        if names and not (names[0] == "pg_catalog" or (len(names) == 1 and names[0] in _TYPES)):
            return f"casts to type {'.'.join(names)}"
    return None


def _unsafe_function(names: list[str], catalog_first: bool) -> str | None:
    qualified = ".".join(names)
    bare, schema = names[-1] if names else "?", names[-2] if len(names) > 1 else None
    if schema not in (None, "pg_catalog") or function_class(bare) is not FunctionClass.ALLOW:
        return f"calls {qualified}()"
    if bare in _VOLATILE:
        return f"calls {qualified}()"
    if schema is None and not catalog_first:
        return f"function {bare} may resolve outside pg_catalog (search_path)"
    return None


def _word(item: object) -> str:
    return str(item.get("String", {}).get("sval", "?")) if type(item) is dict else "?"


def _build(text: str) -> CountPlan:
    stmt = parse_sql(text)[0].stmt
    count = ast.FuncCall(funcname=(ast.String("count"),), agg_star=True)
    target = ast.ResTarget(val=count)
    note = ""
    if isinstance(stmt, ast.MergeStmt):
        items: tuple[Any, ...] | None = (stmt.sourceRelation,)
        where = stmt.joinCondition
        by_source = any(
            c.matchKind == enums.MergeMatchKind.MERGE_WHEN_NOT_MATCHED_BY_SOURCE
            and c.commandType in (enums.CmdType.CMD_DELETE, enums.CmdType.CMD_UPDATE)
            for c in stmt.mergeWhenClauses or ()
        )
        if by_source:
            items, where = None, None
            note = "every row of the table (WHEN NOT MATCHED BY SOURCE)"
        else:
            note = "rows with a matching source row (at most)"
    elif isinstance(stmt, ast.DeleteStmt):
        items, where = stmt.usingClause, stmt.whereClause
    else:
        assert isinstance(stmt, ast.UpdateStmt)
        items, where = stmt.fromClause, stmt.whereClause
    if items:
        inner = ast.SelectStmt(
            targetList=(ast.ResTarget(val=ast.A_Const(val=ast.Integer(1))),),
            fromClause=tuple(items),
            whereClause=where,
        )
        where = ast.SubLink(subLinkType=enums.SubLinkType.EXISTS_SUBLINK, subselect=inner)
    select = ast.SelectStmt(
        targetList=(target,),
        fromClause=(stmt.relation,),
        whereClause=where,
        withClause=stmt.withClause,
    )
    sql = RawStream()(select)
    return CountPlan(sql, note, _params(sql))


def _params(sql: str) -> frozenset[int]:
    """The positional parameters the count uses."""
    found: set[int] = set()
    stack: list[object] = [json.loads(parser.parse_sql_json(sql))]
    while stack:
        value = stack.pop()
        if type(value) is list:
            stack.extend(value)
        elif type(value) is dict:
            param = value.get("ParamRef")
            if type(param) is dict and type(param.get("number")) is int:
                found.add(param["number"])
            stack.extend(value.values())
    return frozenset(found)
