"""MySQL's masking policy: ``MySQLMasking.plan(columns)`` gives a ``RowMask`` per result set.

Columns are described by ``ColumnOrigin``, the fields of ColumnDefinition41 masking needs
(MySQL "Client/Server Protocol", Text Resultset, Column Definition): ``org_table`` /
``org_name`` name the real column through aliases, so a column rule binds to them, with the
schema from ``schema`` (or the session's current database when the server sends none; with
neither, the rule matches by column name alone, which masks more). A column with no
``org_table`` is computed (an expression, a UNION of different tables, a function): a rule
matches it by its reported name, or by a masked column's name inside it (MySQL reports an
un-aliased expression's own text, ``concat(ssn,'')``); else value detectors run on it. The
caller passes ``derived`` indexes (``MySQLMasking.derived(text, state)``: outputs computed from
a masked column), masked whole whatever their origin says: MariaDB reports a derived table's or
a CTE's column under the derived table's name and the alias (``SELECT x FROM (SELECT ssn AS x
FROM customers) d``: org_table ``d``, org_name ``x``; materialised, org_table ``customers`` and
org_name ``x``), which no rule binds.

Actions by column type (``column_type``, enum_field_types): text, blob, enum, set and unknown
types get the text detectors; JSON the JSON-aware ones; integers and integral decimals the
number checks (a card or SSN stored as a number becomes 0). Floats, dates and times, bits and
geometry cannot hold the entities and are not read. Under a column rule: text is masked whole
(``mask_value``), numbers become ``0``, JSON ``null``, anything else NULL. A value in a wide
character set (ucs2, utf16, utf16le, utf32: ``charset``, sent so when character_set_results
is NULL) is masked on its UTF-8 form and sent back in its own set. Values are the text
protocol's (for the binary protocol the codec hands the text form, or the same rules apply
per type). ``error_message`` redacts the values in ERR packet texts; ``check`` finds the
statements that would take a masked value out another way, and ``derived`` the outputs
computed from one (``leaks``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from gateway.masking import ColumnRule, MaskingRules, MaskTally, Scanner, mask_value, name_tokens
from gateway.masking.scan import (
    Action,
    integer_text_action,
    json_action,
    number_checks,
    text_action,
)
from gateway.mysql.dialect.errors import MalformedRowError
from gateway.mysql.dialect.errortext import redact_error
from gateway.mysql.dialect.leaks import Leak, derived, find_leak
from gateway.mysql.dialect.state import MySQLState

__all__ = [
    "DERIVED",
    "WIDE_CHARSETS",
    "ColumnOrigin",
    "MySQLMasking",
    "PlannedColumn",
    "RowMask",
]

INTEGER = frozenset([1, 2, 3, 8, 9, 13, 244])  # TINY SHORT LONG LONGLONG INT24 YEAR BOOL
DECIMAL = frozenset([0, 246])
NOT_TEXT = frozenset([4, 5, 6, 7, 10, 11, 12, 14, 16, 17, 18, 19, 255])  # floats, times, bit...
JSON = 245
_PLAN_CACHE = 512
DERIVED = "derived"  # the spec an output computed from a masked column is masked under
_NAME = re.compile(r"[0-9A-Za-z_$]+")


class ColumnOrigin(NamedTuple):
    """One ColumnDefinition41, as much as masking needs (``charset`` 63 is binary)."""

    schema: str
    table: str
    org_table: str
    name: str
    org_name: str
    column_type: int
    charset: int = 255


class PlannedColumn(NamedTuple):
    """What a mask does to one column (for logs and the audit trail)."""

    position: int
    name: str
    source: str | None  # "schema.table.column" when bound to a real column
    rule: str | None  # the column rule's spec, when the whole value is masked
    detectors: tuple[str, ...]


def _number_action(scanner: Scanner) -> Action | None:
    checks = number_checks(scanner)
    if not checks:
        return None
    return integer_text_action(checks, min(d.number_min_digits for d, _ in checks))


# Collation ids of the character sets whose values are not ASCII-compatible bytes (sent as is
# when character_set_results is NULL, or for a column in them): ucs2, utf16, utf16le, utf32.
WIDE_CHARSETS: dict[int, str] = {
    **dict.fromkeys([35, 90, *range(128, 152), 159], "utf-16-be"),  # ucs2
    **dict.fromkeys([54, 55, *range(101, 125)], "utf-16-be"),  # utf16
    **dict.fromkeys([56, 62], "utf-16-le"),  # utf16le
    **dict.fromkeys([60, 61, *range(160, 184)], "utf-32-be"),  # utf32
}


def _transcoded(inner: Action, codec: str) -> Action:
    """``inner`` on the UTF-8 form of a value sent in a wide character set, the result sent
    back in that set (a value that does not decode is masked whole: NULL)."""

    def act(value: bytes, tally: MaskTally) -> bytes | None:
        try:
            utf8 = value.decode(codec).encode("utf-8")
        except UnicodeError:
            tally.detector("unscannable")
            return None
        new = inner(utf8, tally)
        if new is utf8:
            return value
        return None if new is None else new.decode("utf-8", "replace").encode(codec)

    return act


def _rule_action(column_type: int, spec: str) -> Action:
    def whole_text(value: bytes, tally: MaskTally) -> bytes | None:
        tally.column(spec)
        return mask_value(value.decode("utf-8", "surrogateescape")).encode(
            "utf-8", "surrogateescape"
        )

    def constant(replacement: bytes | None) -> Action:
        def act(value: bytes, tally: MaskTally) -> bytes | None:
            tally.column(spec)
            return replacement

        return act

    if column_type in INTEGER or column_type in DECIMAL or column_type in (4, 5):
        return constant(b"0")
    if column_type == JSON:
        return constant(b"null")
    if column_type in NOT_TEXT:
        return constant(None)
    return whole_text


def _wide(action: Action, column: ColumnOrigin) -> Action:
    codec = WIDE_CHARSETS.get(column.charset)
    return action if codec is None or column.column_type in NOT_TEXT else _transcoded(action, codec)


class RowMask:
    """Column actions for one result set; ``masked`` are the indexes it may change."""

    __slots__ = ("_actions", "_count", "masked", "planned")

    def __init__(self, actions: Sequence[Action | None], planned: tuple[PlannedColumn, ...]):
        self._count = len(actions)
        self._actions = tuple((i, a) for i, a in enumerate(actions) if a is not None)
        self.masked = tuple(i for i, _ in self._actions)
        self.planned = planned

    def row(self, values: list[bytes | None], tally: MaskTally) -> list[bytes | None]:
        """The row with its planned columns masked (a new list when one changed)."""
        if len(values) != self._count:
            raise MalformedRowError(f"{len(values)} values for {self._count} columns")
        out = values
        for index, action in self._actions:
            value = values[index]
            if value is None:
                continue
            new = action(value, tally)
            if new is not value:
                if out is values:
                    out = list(values)
                out[index] = new
        return out


class MySQLMasking:
    """The masking policy of one connection (validated ``MaskingRules``)."""

    def __init__(self, rules: MaskingRules) -> None:
        self.rules = rules
        self._plans: dict[object, RowMask | None] = {}
        self._scanners: dict[frozenset[str], Scanner] = {}

    def plan(
        self,
        columns: Sequence[ColumnOrigin],
        database: str | None = None,
        *,
        derived: frozenset[int] | None = None,
    ) -> RowMask | None:
        """The mask for one result set's columns; None when no column can change."""
        key = (tuple(columns), database, derived)
        if key in self._plans:
            return self._plans[key]
        actions: list[Action | None] = []
        planned: list[PlannedColumn] = []
        for index, column in enumerate(columns):
            action, plan = self._column(index, column, database, derived)
            actions.append(action)
            if plan is not None:
                planned.append(plan)
        mask = RowMask(actions, tuple(planned)) if planned else None
        if len(self._plans) >= _PLAN_CACHE:
            self._plans.clear()
        self._plans[key] = mask
        return mask

    def _column(
        self, index: int, column: ColumnOrigin, database: str | None, derived: frozenset[int] | None
    ) -> tuple[Action | None, PlannedColumn | None]:
        rules = self.rules
        if column.org_table:
            schema = column.schema or database
            table = f"{schema}.{column.org_table}" if schema else None
            name = column.org_name or column.name
            source = f"{table}.{name}" if table else None
            rule = next(
                (r for r in rules.by_column.get(name.casefold(), ()) if r.matches(table, name)),
                None,
            )
        else:
            source = None
            rule = next(iter(rules.by_column.get(column.name.casefold(), ())), None)
            if rule is None:
                rule = self._inside(column.name)
        if rule is None and derived is not None and index in derived and rules.column_rules:
            # computed from a masked column; also a derived table's or CTE's column, which the
            # server reports under the derived table's name and the alias (MariaDB 10.11)
            plan = PlannedColumn(index, column.name, source, DERIVED, ())
            return _wide(_rule_action(column.column_type, DERIVED), column), plan
        if rule is not None:
            plan = PlannedColumn(index, column.name, source, rule.spec, ())
            return _wide(_rule_action(column.column_type, rule.spec), column), plan
        action, planned = self._detectors(index, column, source)
        return (None if action is None else _wide(action, column)), planned

    def _inside(self, name: str) -> ColumnRule | None:
        """A rule whose column is named inside a computed column's reported text."""
        if not self.rules.column_rules or "(" not in name:
            return None
        for word in _NAME.findall(name):
            found = self.rules.by_column.get(word.casefold())
            if found:
                return found[0]
        return None

    def _detectors(
        self, index: int, column: ColumnOrigin, source: str | None
    ) -> tuple[Action | None, PlannedColumn | None]:
        chosen = self.rules.chosen
        if not chosen or column.column_type in NOT_TEXT:
            return None, None
        tokens = name_tokens(column.name) | name_tokens(column.org_name)
        context = frozenset(
            d.name for d in chosen if d.context_words and d.in_context_tokens(tokens)
        )
        scanner = self._scanners.get(context)
        if scanner is None:
            scanner = self._scanners[context] = Scanner(chosen, context)
        if column.column_type in INTEGER or column.column_type in DECIMAL:
            action = _number_action(scanner)
        elif column.column_type == JSON:
            action = json_action(scanner)
        else:
            action = text_action(scanner)
        if action is None:
            return None, None
        names = tuple(d.name for d in chosen)
        return action, PlannedColumn(index, column.name, source, None, names)

    def check(self, text: str, state: MySQLState) -> Leak | None:
        """The route by which ``text`` would take a masked value out other than as a masked
        output column (``leaks``), or None; the session refuses a text with one."""
        return find_leak(text, state, self.rules)

    def derived(self, text: str, state: MySQLState) -> frozenset[int] | None:
        """The outputs of a single query computed from a masked column, for ``plan``."""
        return derived(text, state, self.rules)

    def error_message(self, message: str, sent: str) -> str:
        """An ERR packet's message with the values the client did not send masked."""
        return redact_error(message, sent, self.rules.chosen)
