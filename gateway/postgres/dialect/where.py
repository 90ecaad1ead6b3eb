"""Does a DELETE / UPDATE / MERGE filter rows, or does it touch all of them?

A predicate is judged on a four-valued scale: always TRUE, always FALSE, CONST (the same for
every row, value unknown: ``now() > '2020-01-01'``, ``EXISTS (SELECT 1)``) or ROW (depends on the
row). TRUE and CONST are unbounded. Recognised tautologies: constants (``1=1``, ``true``,
``'t'::bool``, ``1::boolean``), an expression compared with itself (``x = x``, ``t.x >= x``,
``x IS NOT DISTINCT FROM x``), ``x LIKE '%'``, ``x ~ ''``, ``x IS NULL OR x IS NOT NULL``,
``p OR NOT p`` and any OR with a TRUE or CONST arm.

Not recognised (and so treated as a filter): predicates true for every row only because of the
data, such as ``id > 0`` or ``id IN (SELECT id FROM t)``.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

__all__ = ["Bound", "unbounded"]

Node = dict[str, Any]

_TRUE_WORDS = frozenset(["t", "tr", "tru", "true", "y", "ye", "yes", "on", "1"])
_FALSE_WORDS = frozenset(["f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0"])
_MATCH_ALL_REGEX = frozenset(["", ".*", "^", "^.*", ".*$", "^.*$", "$"])


class Bound(Enum):
    TRUE = "true"
    FALSE = "false"
    CONST = "const"
    ROW = "row"


class _Judge:
    """Evaluates one statement's predicate; ``targets`` are the target table's names."""

    __slots__ = ("literal", "targets")

    def __init__(self, targets: frozenset[str]) -> None:
        self.targets = targets
        self.literal = False  # a literal's value decided the answer

    def bound(self, wrapped: Node) -> Bound:
        for typ, node in wrapped.items():
            method = getattr(self, "_" + typ, None)
            if method is not None:
                result: Bound = method(node)
                return result
            return Bound.ROW if self.outer_ref(wrapped) else Bound.CONST
        return Bound.CONST

    def _A_Const(self, node: Node) -> Bound:
        self.literal = True
        if node.get("isnull"):
            return Bound.FALSE
        if "boolval" in node:
            return Bound.TRUE if node["boolval"].get("boolval", False) else Bound.FALSE
        if "sval" in node:
            word = node["sval"].get("sval", "").strip().lower()
            if word in _TRUE_WORDS:
                return Bound.TRUE
            if word in _FALSE_WORDS:
                return Bound.FALSE
        return Bound.CONST

    def _TypeCast(self, node: Node) -> Bound:
        arg = node.get("arg", {})
        const = arg.get("A_Const")
        if const is not None and "ival" in const:
            self.literal = True
            return Bound.TRUE if const["ival"].get("ival", 0) else Bound.FALSE
        return self.bound(arg)

    def _ColumnRef(self, node: Node) -> Bound:
        return Bound.ROW

    def _CurrentOfExpr(self, node: Node) -> Bound:
        return Bound.ROW

    def _BoolExpr(self, node: Node) -> Bound:
        args = node.get("args", [])
        op = node.get("boolop")
        if op == "NOT_EXPR":
            inner = self.bound(args[0]) if args else Bound.CONST
            return {Bound.TRUE: Bound.FALSE, Bound.FALSE: Bound.TRUE}.get(inner, inner)
        values = [self.bound(a) for a in args]
        if op == "AND_EXPR":
            if Bound.FALSE in values:
                return Bound.FALSE
            if Bound.ROW in values:
                return Bound.ROW
            return Bound.TRUE if all(v is Bound.TRUE for v in values) else Bound.CONST
        if Bound.TRUE in values or self._tautology(args):
            return Bound.TRUE
        if Bound.CONST in values:
            return Bound.CONST
        return Bound.ROW if Bound.ROW in values else Bound.FALSE

    def _tautology(self, args: list[Node]) -> bool:
        """``x IS NULL OR x IS NOT NULL`` and ``p OR NOT p`` among the arms of an OR."""
        shapes = {self.shape(a) for a in args}
        for arg in args:
            test = arg.get("NullTest")
            if test is not None and test.get("nulltesttype") == "IS_NULL":
                flipped = dict(test, nulltesttype="IS_NOT_NULL")
                if self.shape({"NullTest": flipped}) in shapes:
                    return True
            negated = arg.get("BoolExpr")
            if (
                negated is not None
                and negated.get("boolop") == "NOT_EXPR"
                and any(self.shape(a) in shapes for a in negated.get("args", []))
            ):
                return True
        return False

    def _A_Expr(self, node: Node) -> Bound:
        kind = node.get("kind")
        names = node.get("name", [])
        op = names[-1].get("String", {}).get("sval") if names else None
        lexpr, rexpr = node.get("lexpr"), node.get("rexpr")
        if lexpr is not None and rexpr is not None:
            if (
                kind in ("AEXPR_OP", "AEXPR_NOT_DISTINCT")
                and op in ("=", ">=", "<=")
                and self.outer_ref(lexpr)
                and self.outer_ref(rexpr)
                and self.shape(lexpr) == self.shape(rexpr)
            ):
                return Bound.TRUE
            if self._matches_everything(kind, op, rexpr):
                return Bound.TRUE
        if self.outer_ref(node):
            return Bound.ROW
        return self._constant_comparison(kind, op, lexpr, rexpr)

    def _matches_everything(self, kind: object, op: object, pattern: Node) -> bool:
        text = _const_text(pattern)
        if text is None:
            return False
        self.literal = True
        if kind in ("AEXPR_LIKE", "AEXPR_ILIKE") and op in ("~~", "~~*"):
            return text != "" and set(text) == {"%"}
        return kind == "AEXPR_OP" and op in ("~", "~*") and text in _MATCH_ALL_REGEX

    def _constant_comparison(
        self, kind: object, op: object, lexpr: Node | None, rexpr: Node | None
    ) -> Bound:
        """Two constants: equal literals under ``=`` are TRUE; anything else is CONST (never
        FALSE: ``1 = 1.0`` and ``'1'::int = '01'`` are true though the literals differ)."""
        if kind == "AEXPR_OP" and op == "=" and lexpr is not None and rexpr is not None:
            self.literal = True
            left = _const_value(lexpr)
            if left is not None and left == _const_value(rexpr):
                return Bound.TRUE
        return Bound.CONST

    def _NullTest(self, node: Node) -> Bound:
        return Bound.ROW if self.outer_ref(node) else Bound.CONST

    def _BooleanTest(self, node: Node) -> Bound:
        inner = self.bound(node.get("arg", {}))
        test = node.get("booltesttype")
        if test in ("IS_TRUE", "IS_NOT_FALSE"):
            return inner
        if test in ("IS_FALSE", "IS_NOT_TRUE"):
            return {Bound.TRUE: Bound.FALSE, Bound.FALSE: Bound.TRUE}.get(inner, inner)
        return Bound.ROW if inner is Bound.ROW else Bound.CONST

    def outer_ref(self, value: object) -> bool:
        """Whether ``value`` refers to the rows: a column outside sub-queries, or a target
        column qualified by name inside one."""
        if type(value) is list:
            return any(self.outer_ref(item) for item in value)
        if type(value) is not dict:
            return False
        if "ColumnRef" in value:
            return True
        sublink = value.get("SubLink")
        if sublink is not None:
            return self.outer_ref(sublink.get("testexpr")) or self._correlated(sublink)
        return any(self.outer_ref(child) for child in value.values())

    def _correlated(self, value: object) -> bool:
        if type(value) is list:
            return any(self._correlated(item) for item in value)
        if type(value) is not dict:
            return False
        ref = value.get("ColumnRef")
        if ref is not None:
            fields = ref.get("fields", [])
            first = fields[0].get("String", {}).get("sval") if len(fields) > 1 else None
            return first in self.targets
        return any(self._correlated(child) for child in value.values())

    def shape(self, value: object) -> object:
        """A hashable form of an expression without locations; target qualifiers dropped."""
        if type(value) is list:
            return tuple(self.shape(item) for item in value)
        if type(value) is not dict:
            return value
        ref = value.get("ColumnRef")
        if ref is not None:
            names = tuple(f.get("String", {}).get("sval", "*") for f in ref.get("fields", []))
            if len(names) > 1 and names[0] in self.targets:
                names = names[1:]
            return ("ColumnRef", names)
        return tuple(sorted((k, self.shape(v)) for k, v in value.items() if k != "location"))


def _const_text(wrapped: Node) -> str | None:
    const = wrapped.get("A_Const")
    if const is None:
        cast = wrapped.get("TypeCast")
        return _const_text(cast.get("arg", {})) if cast is not None else None
    sval = const.get("sval")
    return sval.get("sval", "") if isinstance(sval, dict) else None


def _const_value(wrapped: Node) -> object:
    cast = wrapped.get("TypeCast")
    if cast is not None:
        return _const_value(cast.get("arg", {}))
    const = wrapped.get("A_Const")
    if const is None or const.get("isnull"):
        return None
    for key in ("ival", "fval", "sval", "boolval", "bsval"):
        if key in const:
            return (key, str(next(iter(const[key].values()), "")))
    return None


def unbounded(
    where: Node | None, targets: frozenset[str], extra: Node | None = None
) -> tuple[str | None, bool]:
    """Why ``where`` (AND ``extra``) does not bound the rows, or None; and whether a literal's
    value decided it."""
    judge = _Judge(targets)
    if where is None and extra is None:
        # literal-sensitive: libpg_query's fingerprint drops a constant-only WHERE entirely.
        return "no WHERE clause", True
    values = [judge.bound(w) for w in (where, extra) if w is not None]
    if Bound.FALSE in values or Bound.ROW in values:
        return None, judge.literal
    if all(v is Bound.TRUE for v in values):
        return "the condition is always true", judge.literal
    return "the condition does not depend on the rows", judge.literal
