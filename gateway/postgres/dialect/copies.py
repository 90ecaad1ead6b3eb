"""Routes a masked column takes into objects read unmasked later (connections with column rules).

With value detectors only, a copy is read back through the detectors like the original; with
column rules, a rule matches a column by its name (and the catalog's table names), so a copy
under another name, in another table, or behind a renamed column, is read in clear. On a
connection with column rules, ``copy_leak`` refuses (see ``gateway.postgres.dialect.leaks``):

- ``masking/copy``: a masked column (or ``*`` over a relation that may hold one) among the
  values of ``CREATE [TEMP] TABLE ... AS``, ``SELECT ... INTO``, ``CREATE [MATERIALIZED] VIEW``,
  ``INSERT ... SELECT`` / ``VALUES``, ``UPDATE ... SET`` (and its ``FROM``), ``MERGE``, ``ON
  CONFLICT DO UPDATE``, writable CTEs and rules (nested statements are found wherever they
  are), a generated column's expression; and ``CREATE TABLE ... AS EXECUTE``, whose outputs are
  not known here. Only the values count: a masked column in WHERE filters, it is not copied.
- ``masking/code``: a DO block or a function or procedure whose body is a string (it may build
  any SQL at run time), or whose SQL-standard body names a masked column or a table holding
  one: its results, notices and writes are not masked; and a call of a function the gateway
  does not know (a user function) with a masked column as an argument.
- ``masking/rename``: renaming a masked column (in any relation), a table or schema a rule
  names, or moving such a table to another schema.

It also holds the vocabulary the route checks share: ``Leak``, ``Masked`` and the tree walks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gateway.postgres.dialect.catalog import FunctionClass, function_class
from gateway.postgres.dialect.outputs import walk
from gateway.postgres.dialect.plan import CatalogNames, MaskingPolicy

__all__ = ["Leak", "Masked", "copy_leak", "field_names", "walk"]

Node = dict[str, Any]
_COPIES = ("CreateTableAsStmt", "ViewStmt", "InsertStmt", "UpdateStmt", "MergeStmt")
# Where a copying statement's values come from (its own RETURNING list is output, not a copy).
_SOURCES = {
    "CreateTableAsStmt": ("query",),
    "ViewStmt": ("query",),
    "InsertStmt": ("selectStmt", "onConflictClause"),
    "UpdateStmt": ("targetList", "fromClause"),
    "MergeStmt": ("sourceRelation", "mergeWhenClauses"),
}
_VALUE_LISTS = ("targetList", "valuesLists", "values")
_RENAMED_RELATIONS = ("OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE")
_CODE = ("CreateFunctionStmt", "DoStmt")


@dataclass(frozen=True, slots=True)
class Leak:
    """A route out that a statement takes: the rule's name and why, for the client."""

    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class Masked:
    """What a connection masks, as the statement checks see it (names case-folded).

    ``columns``: masked column names; empty on a connection with detectors only.
    ``tables``: relations known to hold a masked column (the rules' and the catalog's).
    ``named_tables`` / ``schemas``: the tables and schemas the rules name themselves.
    """

    columns: frozenset[str] = frozenset()
    tables: frozenset[str] = frozenset()
    named_tables: frozenset[str] = frozenset()
    schemas: frozenset[str] = frozenset()

    @classmethod
    def of(cls, policy: MaskingPolicy, catalog: CatalogNames | None = None) -> Masked:
        specs = [spec.casefold().split(".") for spec in policy.columns]
        named = frozenset(parts[-2] for parts in specs if len(parts) >= 2)
        known = {table.rpartition(".")[2].casefold() for table, _ in (catalog or {}).values()}
        return cls(
            columns=frozenset(parts[-1] for parts in specs),
            tables=named | known,
            named_tables=named,
            schemas=frozenset(parts[0] for parts in specs if len(parts) == 3),
        )


def copy_leak(kind: str, body: Node, masked: Masked, rows: frozenset[str]) -> Leak | None:
    """The copy, code or rename route one node takes (``masked.columns`` is not empty)."""
    if kind in _COPIES or (kind == "SelectStmt" and "intoClause" in body):
        return _copy(kind, body, masked, rows)
    if kind in _CODE:
        return _code(body, masked)
    if kind == "FuncCall":
        return _unknown_function(body, masked, rows)
    if kind == "RenameStmt":
        return _rename(body, masked)
    if kind == "AlterObjectSchemaStmt" and body.get("objectType") in _RENAMED_RELATIONS:
        relation = str(body.get("relation", {}).get("relname", "")).casefold()
        if relation in masked.named_tables:
            return Leak("masking/rename", f"table {relation} is named by a masking rule")
    if kind == "AlterTableCmd":
        expression = _generated(body)
        if expression is not None and _masked_reference(expression, masked, rows) is not None:
            return Leak("masking/copy", "a generated column would copy a masked column")
    return None


def _unknown_function(call: Node, masked: Masked, rows: frozenset[str]) -> Leak | None:
    """A function the gateway does not know (a user function: held by the guardrails) called
    with a masked column: its body may store or copy the value, so it is refused."""
    names = call.get("funcname", [])
    name = str(names[-1].get("String", {}).get("sval", "")) if names else ""
    if function_class(name) is not FunctionClass.USER:
        return None
    found = _masked_reference(call.get("args", []), masked, rows)
    if found is None:
        return None
    return Leak(
        "masking/code",
        f"function {name} is not known to the gateway and would receive {found} unmasked",
    )


def _code(body: Node, masked: Masked) -> Leak | None:
    """A body given as a string (``AS '...'``, DO) is opaque: it may build any SQL at run time
    (``EXECUTE 'SELECT s' || 'sn ...'``), so it is refused; a parsed SQL-standard body
    (``BEGIN ATOMIC``, ``RETURN``) is refused when it names a masked column or a table that
    holds one."""
    if "sql_body" not in body:
        return Leak(
            "masking/code",
            "a function or DO body given as a string may read masked columns in ways the "
            "gateway cannot see, and its results, notices and writes are not masked",
        )
    names = _names_pattern(masked.columns | masked.tables)
    for _, node in walk(body["sql_body"]):
        for key in ("sval", "relname"):
            found = names.search(str(node.get(key, "")))
            if found is not None:
                return Leak(
                    "masking/code",
                    f"a function body that names {found.group(0).casefold()} would hand its "
                    "values out unmasked",
                )
    return None


@lru_cache(maxsize=64)
def _names_pattern(names: frozenset[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![\w$])(?:{alternatives})(?![\w$])", re.IGNORECASE)


def _copy(kind: str, body: Node, masked: Masked, rows: frozenset[str]) -> Leak | None:
    if kind == "SelectStmt":
        source = {k: v for k, v in body.items() if k != "intoClause"}
        what = "SELECT ... INTO"
    else:
        source = {key: body[key] for key in _SOURCES[kind] if key in body}
        what = {"CreateTableAsStmt": "CREATE ... AS", "ViewStmt": "CREATE VIEW"}.get(
            kind, kind.removesuffix("Stmt").upper()
        )
        if kind == "CreateTableAsStmt" and "ExecuteStmt" in body.get("query", {}):
            return Leak("masking/copy", "CREATE ... AS EXECUTE: the outputs are not known here")
    found = _copied(source, masked, rows)
    if found is None:
        return None
    return Leak("masking/copy", f"{what} would copy {found} into an object read unmasked")


def _copied(source: Node, masked: Masked, rows: frozenset[str]) -> str | None:
    """The first masked column, or ``*`` over a relation that may hold one, among the values
    ``source`` produces (its target, VALUES and MERGE value lists, and the arguments of the
    functions in its FROM lists, at any depth)."""
    for kind, body in [("", source), *walk(source)]:
        if kind == "RangeFunction":  # FROM unnest(ARRAY[ssn]) x: x carries ssn
            found = _masked_reference(body.get("functions", []), masked, rows)
            if found is not None:
                return found
        for key in _VALUE_LISTS:
            values = body.get(key)
            if isinstance(values, list):
                found = _masked_reference(values, masked, rows)
                if found is not None:
                    return found
    return None


def _masked_reference(node: Any, masked: Masked, rows: frozenset[str]) -> str | None:
    for kind, body in walk(node):
        if kind == "ColumnRef":
            names = field_names(body)
            if names and names[-1] in masked.columns:
                return names[-1]
            if names and names[-1] == "*" and rows:
                return "*"
        elif kind == "A_Indirection":  # (c).ssn, (c).*
            for name in field_names({"fields": body.get("indirection", [])}):
                if name in masked.columns or (name == "*" and rows):
                    return name
    return None


def _rename(body: Node, masked: Masked) -> Leak | None:
    kind = body.get("renameType")
    subname = str(body.get("subname", "")).casefold()
    relation = str(body.get("relation", {}).get("relname", "")).casefold()
    if kind in ("OBJECT_COLUMN", "OBJECT_ATTRIBUTE") and subname in masked.columns:
        return Leak("masking/rename", f"column {subname} is masked")
    if kind in _RENAMED_RELATIONS and relation in masked.named_tables:
        return Leak("masking/rename", f"table {relation} is named by a masking rule")
    if kind == "OBJECT_SCHEMA" and subname in masked.schemas:
        return Leak("masking/rename", f"schema {subname} is named by a masking rule")
    return None


def _generated(cmd: Node) -> Node | None:
    """The expression of a generated column an ALTER TABLE command adds or sets, if any."""
    if cmd.get("subtype") == "AT_SetExpression":
        definition = cmd.get("def")
        return definition if isinstance(definition, dict) else None
    for kind, body in walk(cmd.get("def", {})):
        if kind == "Constraint" and body.get("contype") == "CONSTR_GENERATED":
            expression = body.get("raw_expr")
            return expression if isinstance(expression, dict) else None
    return None


def field_names(ref: Node) -> list[str]:
    names = []
    for field in ref.get("fields", []):
        if "A_Star" in field:
            names.append("*")
        else:
            names.append(str(field.get("String", {}).get("sval", "")).casefold())
    return names
