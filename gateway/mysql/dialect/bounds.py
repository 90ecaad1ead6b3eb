"""Does a DELETE / UPDATE touch only some rows? Only positive evidence says so (the rule of
``gateway.postgres.dialect.bounds``, on sqlglot's tree).

A write is *filtered* only when a top-level AND-conjunct of its WHERE pins a column of the
target table itself:

- ``col = c``, ``c = col``, ``col <=> c`` (with a literal), ``col IN (c1, ...)``,
  ``col BETWEEN c1 AND c2``, or a range by two conjuncts on the same column (``col >= c1 AND
  col < c2``, any of ``<``, ``<=``, ``>``, ``>=``);
- ``col`` is a plain column of the target: qualified by its alias (or its name when it has
  none), or unqualified (a single-table statement has nothing else in scope);
- ``c`` is a literal (hex and bit literals too), a negated number, a CAST of one, or a ``?``
  placeholder (``=``, ``IN``,
  ``BETWEEN`` and the ranges are strict: bound to NULL they match no row). ``col <=> ?`` is
  held: bound to NULL it is ``col IS NULL``.

MySQL compares a string column with a number as numbers, and every string that does not start
with digits is 0 (MySQL 8.0 Reference Manual 14.3 "Type Conversion in Expression Evaluation"):
``WHERE email = 0`` matches nearly every row. So a number that is zero (``0``, ``0.0``,
``FALSE``, ``-0``), an ``IN`` list with one, and a numeric range that includes zero pin
nothing.

``LIMIT n`` is not evidence: it bounds how many rows, not which. Everything else is held:
``id > 0``, ``id = id``, an OR at the top, functions of the column, sub-queries.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlglot import exp

__all__ = ["filtered"]

_RANGE: dict[type[exp.Expr], str] = {
    exp.GT: "lower",
    exp.GTE: "lower",
    exp.LT: "upper",
    exp.LTE: "upper",
}
_FLIP = {"lower": "upper", "upper": "lower"}


def filtered(where: exp.Expr | None, qualifier: str) -> bool:
    """Whether ``where`` pins a column of the target (named ``qualifier`` in the statement)."""
    if where is None:
        return False
    conjuncts: list[exp.Expr] = []
    _flatten(where.this if isinstance(where, exp.Where) else where, conjuncts)
    ranges: dict[str, dict[str, list[Decimal | None]]] = {}
    for conjunct in conjuncts:
        if _pins(conjunct, qualifier, ranges):
            return True
    for sides in ranges.values():
        for low in sides.get("lower", ()):
            for high in sides.get("upper", ()):
                if not _spans_zero(low, high):
                    return True
    return False


def _flatten(node: exp.Expr, into: list[exp.Expr]) -> None:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        _flatten(node.left, into)
        _flatten(node.right, into)
    else:
        into.append(node)


def _pins(
    node: exp.Expr, qualifier: str, ranges: dict[str, dict[str, list[Decimal | None]]]
) -> bool:
    if isinstance(node, (exp.EQ, exp.NullSafeEQ)):
        strict = isinstance(node, exp.EQ)
        for side_a, side_b in ((node.left, node.right), (node.right, node.left)):
            if _column(side_a, qualifier) is not None and _constant(side_b, allow_param=strict):
                return not _zero(side_b)
        return False
    if isinstance(node, exp.In) and _column(node.this, qualifier) is not None:
        items = node.expressions
        return (
            bool(items)
            and not node.args.get("query")
            and all(_constant(item) and not _zero(item) for item in items)
        )
    if isinstance(node, exp.Between) and _column(node.this, qualifier) is not None:
        low, high = node.args.get("low"), node.args.get("high")
        if low is None or high is None or not (_constant(low) and _constant(high)):
            return False
        return not _spans_zero(_number(low), _number(high), low, high)
    side = next((s for cls, s in _RANGE.items() if isinstance(node, cls)), None)
    if side is not None and isinstance(node, exp.Binary):
        column: str | None = _column(node.left, qualifier)
        value: exp.Expr = node.right
        if column is None:
            column, value, side = _column(node.right, qualifier), node.left, _FLIP[side]
        if column is not None and _constant(value):
            ranges.setdefault(column, {}).setdefault(side, []).append(_number(value))
    return False


def _column(node: exp.Expr, qualifier: str) -> str | None:
    if not isinstance(node, exp.Column) or isinstance(node.this, exp.Star):
        return None
    table = node.table
    if table and table.casefold() != qualifier.casefold():
        return None
    if node.args.get("db") or node.args.get("catalog"):
        return None
    return node.name.casefold()


def _constant(node: exp.Expr, *, allow_param: bool = True) -> bool:
    while isinstance(node, (exp.Paren, exp.Cast)):
        node = node.this
    if isinstance(node, exp.Neg):
        node = node.this
        return isinstance(node, exp.Literal) and not node.is_string
    if isinstance(node, exp.Placeholder):
        return allow_param
    return isinstance(node, (exp.Literal, exp.Boolean, exp.Null, exp.HexString, exp.BitString))


def _number(node: exp.Expr) -> Decimal | None:
    """The value of a numeric constant (None: a string, a parameter, not a number)."""
    negative = False
    while isinstance(node, (exp.Paren, exp.Cast, exp.Neg)):
        negative ^= isinstance(node, exp.Neg)
        node = node.this
    if isinstance(node, exp.Boolean):
        return Decimal(1 if node.this else 0)
    if isinstance(node, (exp.HexString, exp.BitString)):  # 0x1F, x'1F', 0b101, b'101'
        base = 16 if isinstance(node, exp.HexString) else 2
        try:
            return Decimal(int(str(node.this) or "0", base))
        except ValueError:
            return None
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            value = Decimal(node.this)
        except InvalidOperation:  # 0x1F, 0b01
            text = node.this.lower()
            value = Decimal(int(text, 0)) if text.startswith(("0x", "0b")) else Decimal(1)
        return -value if negative else value
    return None


def _zero(node: exp.Expr) -> bool:
    value = _number(node)
    return value is not None and value == 0


def _spans_zero(
    low: Decimal | None,
    high: Decimal | None,
    low_node: exp.Expr | None = None,
    high_node: exp.Expr | None = None,
) -> bool:
    """Whether a range from ``low`` to ``high`` may include zero (a string column's 0)."""
    if low is None and high is None:
        return False  # both strings or parameters: compared as given
    if low is None or high is None:
        return True  # a number against a string bound: not read here
    return low <= 0 <= high
