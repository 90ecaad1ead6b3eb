"""Routes around the result set: statements that would let a masked value out unmasked.

Masking rewrites the columns of a result (``gateway.postgres.dialect.plan``). On a connection
that masks, a masked column may reach the client only that way: as a masked output column.
``find_leak`` names the first other route a statement takes, which the session refuses
(SQLSTATE 42501, the rule named) before anything runs upstream:

- ``masking/whole-row``: a whole-row reference of a relation that may hold a masked column
  (``SELECT c FROM customers c``, ``row_to_json(c)``, ``to_jsonb(c.*)``, ``ROW(c.*)``,
  ``c::text``, attribute notation ``c.to_json``): a composite value is one column whose fields
  masking cannot tell apart, in text or binary. ``c.*`` and ``(c).*`` as a whole output, and
  field selection ``(c).ssn``, expand into columns and stay allowed. With column rules, the
  relations that may hold one are those the rules or the catalog name, and every subquery,
  join or CTE alias; with detectors only, every relation.
- ``masking/stored-value``: a call that stores its arguments where a later read sees them
  unmasked (``set_config`` -> ParameterStatus and ``current_setting``, ``pg_notify`` -> other
  listeners, ``setval`` -> the sequence, large-object writes, advisory-lock keys ->
  ``pg_locks``, logical messages) with an argument that is not a constant or a bound parameter;
  and ``EXECUTE`` or ``CALL`` with such an argument (a prepared statement's ``$1`` is bound to
  whatever EXECUTE passes: ``EXECUTE p((SELECT ssn ...))``).
- ``masking/copy``, ``masking/code``, ``masking/rename`` (column rules only): a masked column
  copied into a new or another object, reached by an opaque function or DO body, or renamed
  away from its rule (``gateway.postgres.dialect.copies``).
- ``masking/statistics``: the planner statistics (``pg_stats``, ``pg_statistic``,
  ``pg_stats_ext``, ``pg_stats_ext_exprs``, ``pg_statistic_ext_data``,
  ``pg_mcv_list_items``), whose most-common values and histograms are column values.
- ``masking/copy-out``: ``COPY ... TO`` (COPY output is not masked).
- ``masking/unreadable``: a text libpg_query cannot parse (fail closed).

References in WHERE, JOIN or ORDER BY (filtering) are not routes here: a filter is an oracle
a client can ask yes/no questions with, which masking does not claim to close.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from pglast import parser

from gateway.postgres.dialect.catalog import words
from gateway.postgres.dialect.classify import loads
from gateway.postgres.dialect.copies import Leak, Masked, copy_leak, field_names, walk
from gateway.postgres.dialect.outputs import alias_columns
from gateway.postgres.dialect.plan import CatalogNames, MaskingPolicy
from gateway.postgres.dialect.shape import literal_shape

__all__ = ["Leak", "Leaks", "Masked", "find_leak"]

Node = dict[str, Any]

# Built-in functions of one record / "any" / anyelement argument (pg_catalog, PostgreSQL 15):
# attribute notation ``c.to_json`` calls them on the whole row.
ROW_FUNCTIONS = words(
    "any_out anycompatible_out anyelement_out concat concat_ws format hash_record "
    "json_build_array json_build_object jsonb_build_array jsonb_build_object quote_literal "
    "quote_nullable record_out record_send row_to_json to_json to_jsonb hstore "
    "array_to_json json_object jsonb_object xmlforest"
)
# Functions that keep their arguments where a later read (this or another session's) sees them.
STORING_FUNCTIONS = words(
    "set_config pg_notify setval lo_from_bytea lo_put lowrite pg_logical_emit_message "
    "pg_advisory_lock pg_advisory_lock_shared pg_advisory_xact_lock "
    "pg_advisory_xact_lock_shared pg_try_advisory_lock pg_try_advisory_lock_shared "
    "pg_try_advisory_xact_lock pg_try_advisory_xact_lock_shared"
)
STATISTICS = words("pg_stats pg_statistic pg_stats_ext pg_stats_ext_exprs pg_statistic_ext_data")
_STATISTICS_FUNCTIONS = frozenset(["pg_mcv_list_items"])
_ALWAYS_READ = ("pg_stat", "pg_mcv_list_items", "copy", "u&")
# Statements that hand their arguments to a body seen earlier (EXECUTE) or not at all (CALL).
_HANDED_ON: dict[str, Callable[[Node], list[Any]]] = {
    "ExecuteStmt": lambda body: list(body.get("params", [])),
    "CallStmt": lambda body: list(body.get("funccall", {}).get("args", [])),
}
_CACHED = 512


def find_leak(sql: str, masked: Masked) -> Leak | None:
    """The first route around the masked result set that ``sql`` takes, or None."""
    try:
        tree = loads(parser.parse_sql_json(sql))
    except Exception:
        return Leak("masking/unreadable", "the statement could not be read: nothing vouches for it")
    for raw in tree.get("stmts", []):
        leak = _statement(raw.get("stmt", {}), masked)
        if leak is not None:
            return leak
    return None


def _statement(node: Node, masked: Masked) -> Leak | None:
    nodes = list(walk(node))  # walked once, read by every check
    rows = _row_names(nodes, masked)
    if masked.columns:  # names an alias list gives a masked column count as masked names
        renamed = alias_columns(nodes, masked.tables)
        if renamed:
            masked = replace(masked, columns=masked.columns | renamed)
    suspect = False  # a column reference that may be a whole row: then look at its context
    for kind, body in nodes:
        leak = _node(kind, body, masked, rows)
        if leak is not None:
            return leak
        if rows and not suspect and kind == "ColumnRef":
            suspect = _row_reference(field_names(body), rows, False)
    return _whole_rows(node, rows) if suspect else None


def _node(kind: str, body: Node, masked: Masked, rows: frozenset[str]) -> Leak | None:
    """The checks that look at one node on its own."""
    if kind == "CopyStmt" and not body.get("is_from"):
        return Leak("masking/copy-out", "COPY output cannot be masked; use SELECT instead")
    if "relname" in body and str(body["relname"]).casefold() in STATISTICS:
        return Leak("masking/statistics", f"{body['relname']} holds column values (statistics)")
    if kind == "FuncCall":
        name = _last_name(body.get("funcname", []))
        if name in _STATISTICS_FUNCTIONS:
            return Leak("masking/statistics", f"{name} returns column values (statistics)")
        if name in STORING_FUNCTIONS and not all(_constant(a) for a in body.get("args", [])):
            return _stored(name)
    if kind in _HANDED_ON and not all(_constant(a) for a in _HANDED_ON[kind](body)):
        command = "EXECUTE" if kind == "ExecuteStmt" else "CALL"
        return Leak(
            "masking/stored-value",
            f"{command} hands its arguments to code that may store or copy them; only "
            "constants and bound parameters are allowed on this connection",
        )
    if kind == "ColumnRef":
        names = field_names(body)
        if len(names) >= 2 and names[-1] in STORING_FUNCTIONS:
            return _stored(names[-1])
    if kind == "A_Indirection":
        first = field_names({"fields": body.get("indirection", [])[:1]})
        if first and first[0] in STORING_FUNCTIONS:
            return _stored(first[0])
    if not masked.columns:  # detectors only: copies and renames are read through them again
        return None
    return copy_leak(kind, body, masked, rows)


def _stored(name: str) -> Leak:
    return Leak(
        "masking/stored-value",
        f"{name} keeps its arguments where they are read back unmasked; only constants and "
        "bound parameters are allowed on this connection",
    )


def _whole_rows(node: Node, rows: frozenset[str]) -> Leak | None:
    """A whole-row reference of a relation in ``rows`` anywhere in ``node``. ``r.*`` and
    ``(r).*`` as a whole output column expand into columns; ``(r).field`` is a column."""
    if not rows:
        return None
    stack: list[tuple[Any, bool]] = [(node, False)]
    while stack:
        item, top = stack.pop()
        if isinstance(item, list):
            stack.extend((x, False) for x in item)
            continue
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if key == "ColumnRef" and isinstance(value, dict):
                names = field_names(value)
                if _row_reference(names, rows, top):
                    return _whole_row(names)
            elif key == "A_Indirection" and isinstance(value, dict):
                stack.extend(_indirection(value, rows, top))
            elif key == "ResTarget" and isinstance(value, dict):
                stack.append((value.get("val"), True))
                stack.append((value.get("indirection"), False))
            elif isinstance(value, dict | list):
                stack.append((value, False))
    return None


def _row_reference(names: list[str], rows: frozenset[str], top: bool) -> bool:
    if len(names) == 1:
        return names[0] in rows or (names[0] == "*" and not top)
    if names[-1] == "*":
        return not top and names[-2] in rows
    return names[-2] in rows and names[-1] in ROW_FUNCTIONS  # attribute notation: f(row)


def _indirection(value: Node, rows: frozenset[str], top: bool) -> Iterator[tuple[Any, bool]]:
    """What to scan of ``(arg).x``: a field selection or a top-level ``.*`` of a row reads
    columns, so its argument is not a whole-row reference; anything else is scanned."""
    arg, steps = value.get("arg", {}), value.get("indirection", [])
    first = steps[0] if steps else {}
    row_arg = field_names(arg.get("ColumnRef", {})) if isinstance(arg, dict) else []
    if len(row_arg) == 1 and row_arg[0] in rows:
        name = first.get("String", {}).get("sval") if isinstance(first, dict) else None
        if (name is not None and name.casefold() not in ROW_FUNCTIONS) or (
            top and isinstance(first, dict) and "A_Star" in first
        ):
            yield (steps, False)
            return
    yield (arg, False)
    yield (steps, False)


def _whole_row(names: list[str]) -> Leak:
    shown = ".".join(names)
    return Leak(
        "masking/whole-row",
        f"{shown} is a whole-row value, which masking cannot mask field by field; "
        "select the columns instead",
    )


def _row_names(nodes: list[tuple[str, Node]], masked: Masked) -> frozenset[str]:
    """Names whose whole row may hold a masked value: with column rules, the relations known
    to hold one (and their aliases); with detectors only, every relation; and every subquery,
    join or CTE alias (their columns are not known here). A function's alias is not one: it
    mostly names a scalar (``unnest(a) x``, ``generate_series(1, 9) s``), and what a function
    in FROM returns comes from its arguments, which the lineage of outputs and the copy check
    read (a user function is held by the guardrails)."""
    found: set[str] = set()
    every = not masked.columns
    for kind, body in nodes:
        named = body.get("alias")
        alias = named.get("aliasname") if isinstance(named, dict) else None
        if "relname" in body and "relpersistence" in body:  # a RangeVar
            name = str(body["relname"]).casefold()
            if every or name in masked.tables:
                found.add(name)
                if alias:
                    found.add(str(alias).casefold())
        elif kind in ("RangeSubselect", "JoinExpr") and alias:
            found.add(str(alias).casefold())
        elif kind == "CommonTableExpr" and body.get("ctename"):
            found.add(str(body["ctename"]).casefold())
    return frozenset(found)


def _constant(node: Any) -> bool:
    """A constant or a bound parameter, possibly cast or named."""
    if not isinstance(node, dict) or len(node) != 1:
        return False
    ((kind, body),) = node.items()
    if kind in ("A_Const", "ParamRef"):
        return True
    if kind in ("TypeCast", "NamedArgExpr"):
        return _constant(body.get("arg"))
    return False


def _last_name(names: list[Node]) -> str:
    return str(names[-1].get("String", {}).get("sval", "")).casefold() if names else ""


class Leaks:
    """Per session: ``find_leak`` for each statement text, kept by literal shape (the answer
    does not depend on a constant's value) or by text."""

    def __init__(self, policy: MaskingPolicy, catalog: CatalogNames | None) -> None:
        self.masked = Masked.of(policy, catalog)
        self._by_text: dict[str, Leak | None] = {}
        self._cache: dict[str, Leak | None] = {}  # by literal shape
        # With column rules, a text can take a route only if it names a masked column, a
        # relation holding one, a storing function, the statistics or COPY (a U& identifier
        # may spell any of them): others are not parsed. With detectors only, every relation
        # counts, so every text is.
        self._words: tuple[str, ...] | None = None
        if self.masked.columns:
            names = self.masked.columns | self.masked.tables | self.masked.schemas
            self._words = (*sorted(names | STORING_FUNCTIONS), *_ALWAYS_READ)

    def of(self, text: str) -> Leak | None:
        """The route ``text`` takes, or None; a repeated text costs a dict lookup."""
        try:
            return self._by_text[text]
        except KeyError:
            pass
        if self._words is not None:
            folded = text.casefold()
            if not any(word in folded for word in self._words):
                _keep(self._by_text, text, None)
                return None
        shape = literal_shape(text)
        if shape is not None and shape in self._cache:
            leak = self._cache[shape]
        else:
            leak = find_leak(text, self.masked)
            _keep(self._cache, shape or text, leak)
        _keep(self._by_text, text, leak)
        return leak


def _keep(cache: dict[str, Leak | None], key: str, leak: Leak | None) -> None:
    if len(cache) >= _CACHED:
        cache.clear()
    cache[key] = leak
