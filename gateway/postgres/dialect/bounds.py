"""Does a DELETE / UPDATE / MERGE touch only some rows? Only positive evidence says so.

Guessing from syntax whether a condition "depends on the rows" loses to the next spelling
(``id = +id``, a column of a USING relation, a shadowed correlated sub-query, ``coalesce($1,
id)`` bound to NULL all passed). The rule here is the other way round: a write is *filtered*
only when a top-level AND-conjunct of its condition pins a column of the target table itself:

- ``col = c``, ``c = col``, ``col IS NOT DISTINCT FROM c``, ``col IN (c1, c2, ...)``,
  ``col = ANY (c)``, ``col BETWEEN c1 AND c2`` (SYMMETRIC too), or a range given by two
  conjuncts on the same column (``col >= c1 AND col < c2``, either order, any of ``<``,
  ``<=``, ``>``, ``>=``);
- ``col`` is a plain column reference of the target: qualified by its alias (or its name when it
  has no alias), or unqualified only when no other relation is in scope (USING / FROM items and
  MERGE's source could supply a column of the same name);
- ``c`` is a literal, an array of literals, a cast of one, or a parameter ``$n`` (or its
  cast). A parameter pins whatever it is bound to in a strict comparison (``=``, ``IN``,
  ``= ANY``, ``BETWEEN``, ``<``, ``<=``, ``>``, ``>=``, all strict for the built-in operators):
  bound to NULL the comparison is NULL for every row and the write touches none. Only in
  ``col IS NOT DISTINCT FROM $n``, which a NULL turns into ``col IS NULL``, must the value be
  non-NULL (``Finding.unless_bound``: the verdict at Parse is "held unless $n is bound
  non-NULL", decided with the Bind values). So ``WHERE id = $1``, the shape every driver's
  prepared write takes, is decided at Parse and stays in the fast lane;
- the operator is the built-in one: unqualified or ``OPERATOR(pg_catalog.=)``; an unqualified
  operator resolved outside pg_catalog is held by the operator check itself
  (``expressions.check_operator``).

Everything else is unfiltered and held: ``id > 0``, ``id = +id``, ``id = id``, an OR at the top,
``NOT NOT``, sub-queries, functions of the column, casts of the column, columns of other
relations, row constructors. ``WHERE CURRENT OF`` counts as filtered: it touches the one row a
cursor is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Evidence", "Scope", "evidence"]

Node = dict[str, Any]

_EQUAL_KINDS = frozenset(["AEXPR_OP", "AEXPR_NOT_DISTINCT"])
_RANGE_KINDS = frozenset(["AEXPR_BETWEEN", "AEXPR_BETWEEN_SYM"])
_LOWER = {">": "lower", ">=": "lower", "<": "upper", "<=": "upper"}
_FLIPPED = {"lower": "upper", "upper": "lower"}


@dataclass(frozen=True, slots=True)
class Scope:
    """The target table as a condition may name it: ``qualifier`` (its alias, else its name),
    ``schema`` (when it has no alias and is schema-qualified), and whether it is ``alone`` in
    scope (then unqualified columns are its own)."""

    qualifier: str
    schema: str | None
    alone: bool


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the condition pins: ``filtered`` by constants alone, else the sets of parameters
    of which one, bound all non-NULL, would filter it (``needs``); ``why`` when neither."""

    filtered: bool
    needs: tuple[frozenset[int], ...] = ()

    @property
    def why(self) -> str:
        if self.filtered:
            return ""
        if self.needs:
            sets = [" and ".join(f"${n}" for n in sorted(s)) for s in self.needs]
            return f"filtered only if {' or '.join(sets)} bound to non-NULL values"
        return "no condition pins a column of the target table to a constant"


_NOTHING = Evidence(False)


def evidence(conditions: list[Node | None], scope: Scope) -> Evidence:
    """The evidence that ``conditions`` (ANDed; None entries ignored) filter the target's rows."""
    conjuncts: list[Node] = []
    for condition in conditions:
        if condition is not None:
            _flatten(condition, conjuncts)
    needs: list[frozenset[int]] = []
    ranges: dict[str, dict[str, list[frozenset[int]]]] = {}
    for conjunct in conjuncts:
        if "CurrentOfExpr" in conjunct:
            return Evidence(True)
        pinned = _pin(conjunct.get("A_Expr"), scope, ranges)
        if pinned is not None:
            if not pinned:
                return Evidence(True)
            needs.append(pinned)
    for sides in ranges.values():
        for low in sides.get("lower", ()):
            for high in sides.get("upper", ()):
                if not low | high:
                    return Evidence(True)
                needs.append(low | high)
    if not needs:
        return _NOTHING
    return Evidence(False, tuple(dict.fromkeys(needs)))


def _flatten(wrapped: Node, into: list[Node]) -> None:
    """Top-level AND-conjuncts (nested ANDs included; parentheses leave no trace)."""
    boolean = wrapped.get("BoolExpr")
    if boolean is not None and boolean.get("boolop") == "AND_EXPR":
        for arg in boolean.get("args", ()):
            _flatten(arg, into)
    else:
        into.append(wrapped)


def _pin(
    node: Node | None, scope: Scope, ranges: dict[str, dict[str, list[frozenset[int]]]]
) -> frozenset[int] | None:
    """A conjunct that pins a target column: the parameters it needs non-NULL (empty: none);
    None when it pins nothing (one side of a range is recorded in ``ranges`` instead)."""
    if node is None:
        return None
    op = _builtin_operator(node.get("name", ()))
    kind, lexpr, rexpr = node.get("kind"), node.get("lexpr"), node.get("rexpr")
    if op is None or lexpr is None or rexpr is None:
        return None
    if kind in _EQUAL_KINDS and op == "=":
        column, value = _column(lexpr, scope), _constant(rexpr)
        if column is None or value is None:
            column, value = _column(rexpr, scope), _constant(lexpr)
        if column is None or value is None:
            return None
        return value if kind == "AEXPR_NOT_DISTINCT" else _STRICT
    if kind == "AEXPR_OP" and op in _LOWER:
        _range_side(op, lexpr, rexpr, scope, ranges)
        return None
    if kind == "AEXPR_IN" and op == "=" and _column(lexpr, scope) is not None:
        return _strict(_constants(rexpr))
    if kind == "AEXPR_OP_ANY" and op == "=" and _column(lexpr, scope) is not None:
        return _strict(_constant(rexpr))
    if kind in _RANGE_KINDS and op.startswith("BETWEEN") and _column(lexpr, scope) is not None:
        return _strict(_constants(rexpr))
    return None


_STRICT: frozenset[int] = frozenset()


def _strict(value: frozenset[int] | None) -> frozenset[int] | None:
    """A strict comparison (``=``, ``IN``, ``= ANY``, ``BETWEEN``, ``<`` ...) with a constant
    pins the column whatever a parameter in it is bound to: compared with NULL it is NULL, which
    filters every row out, so nothing needs a value (only IS NOT DISTINCT FROM does)."""
    return None if value is None else _STRICT


def _range_side(
    op: str,
    lexpr: Node,
    rexpr: Node,
    scope: Scope,
    ranges: dict[str, dict[str, list[frozenset[int]]]],
) -> None:
    side = _LOWER[op]
    column, value = _column(lexpr, scope), _constant(rexpr)
    if column is None or value is None:
        column, value = _column(rexpr, scope), _constant(lexpr)
        side = _FLIPPED[side]
    if column is not None and value is not None:
        ranges.setdefault(column, {}).setdefault(side, []).append(_STRICT)


def _builtin_operator(names: object) -> str | None:
    """The operator of an A_Expr when it is unqualified or pg_catalog's; else None."""
    if type(names) is not list or not names:
        return None
    words = [item.get("String", {}).get("sval") for item in names]
    if len(words) > 2 or (len(words) == 2 and words[0] != "pg_catalog"):
        return None
    op = words[-1]
    return op if isinstance(op, str) else None


def _column(wrapped: Node, scope: Scope) -> str | None:
    """The target column a plain ColumnRef names, else None."""
    ref = wrapped.get("ColumnRef")
    if ref is None:
        return None
    fields = ref.get("fields", ())
    words = [item.get("String", {}).get("sval") for item in fields]
    if not words or any(not isinstance(word, str) for word in words):
        return None  # A_Star, or a malformed tree
    if len(words) == 1:
        return str(words[0]) if scope.alone else None
    if len(words) == 2 and words[0] == scope.qualifier:
        return str(words[1])
    if (
        len(words) == 3
        and scope.schema is not None
        and words[:2]
        == [
            scope.schema,
            scope.qualifier,
        ]
    ):
        return str(words[2])
    return None


def _constant(wrapped: Node) -> frozenset[int] | None:
    """A constant: the parameters it needs non-NULL (empty for a literal); None otherwise."""
    if "A_Const" in wrapped:
        return frozenset()
    param = wrapped.get("ParamRef")
    if param is not None:
        number = param.get("number", 0)
        return frozenset([number]) if type(number) is int and number > 0 else None
    array = wrapped.get("A_ArrayExpr")
    if array is not None:
        return _constants(array.get("elements", []))
    cast = wrapped.get("TypeCast")
    if cast is not None:  # any type: libpg_query's fingerprint does not tell them apart either
        return _constant(cast.get("arg", {}))
    return None


def _constants(items: object) -> frozenset[int] | None:
    """A list of constants (IN, BETWEEN): the union of what they need; None if one is not."""
    if type(items) is dict:
        items = items.get("List", {}).get("items")
    if type(items) is not list or not items:
        return None
    needed: frozenset[int] = frozenset()
    for item in items:
        one = _constant(item) if type(item) is dict else None
        if one is None:
            return None
        needed |= one
    return needed
