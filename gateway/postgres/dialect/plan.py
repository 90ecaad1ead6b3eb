"""PostgreSQL's masking policy and per-result row plans.

``MaskingPolicy`` is built once from configuration (``masking = { columns = [...], detectors =
[...] }``, validated by ``gateway.masking.MaskingRules``). For each RowDescription the session
asks it for a ``RowPlan``: which column indexes a column rule masks (bound to the real column
through table OID + attribute number when the session's catalog names resolve them, else to the
name as reported), which get value detectors (only types that can hold the entity), and what
happens to binary-format values. The plan's row loop then touches only planned, non-NULL
columns. A whole-row column of a table (attribute number 0) is NULL whatever the rules.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from gateway.masking import (
    NO_MASKS,
    DiscardTally,
    MaskCounts,
    MaskingRules,
    MaskTally,
    Scanner,
    name_tokens,
)
from gateway.masking.scan import Action
from gateway.postgres.dialect.actions import detector_action, number_checks, rule_action
from gateway.postgres.dialect.datarow import MAX_MESSAGE_LENGTH
from gateway.postgres.dialect.errors import InvalidColumnDescriptionError, MalformedDataRowError
from gateway.postgres.dialect.pgtypes import Kind, kind_of

__all__ = [
    "CatalogNames",
    "ColumnDescription",
    "Derivation",
    "MaskingPolicy",
    "PlannedColumn",
    "RowPlan",
]

# (table OID, attribute number) -> ("schema.table", column name), from the upstream's catalog
CatalogNames = Mapping[tuple[int, int], tuple[str, str]]
# (masked name it derives from, output column indexes or None for all): outputs without an
# origin computed from a masked column (see gateway.postgres.dialect.outputs), masked whole.
Derivation = tuple[str, frozenset[int] | None]

_I32 = struct.Struct("!i")
_NULL_LEN = b"\xff\xff\xff\xff"
_DISCARD = DiscardTally()
_PLAN_CACHE_SIZE = 512
WHOLE_ROW = "whole row"  # the spec a whole-row column is masked (nulled) under


@dataclass(frozen=True, slots=True)
class ColumnDescription:
    """One RowDescription field, as much of it as masking needs (format: 0 text, 1 binary)."""

    name: str
    table_oid: int
    column_attr: int
    type_oid: int
    format: int = 0


@dataclass(frozen=True, slots=True)
class PlannedColumn:
    """What a plan does to one column (for logs, audit and strict-lane decisions)."""

    index: int
    name: str
    source: str | None  # "schema.table.column" when the catalog resolved it
    rule: str | None  # the column rule's spec, when a rule masks the whole value
    detectors: tuple[str, ...]  # detectors run on the value (none under a rule)
    context: tuple[str, ...]  # detectors whose bare forms this column's name enables


@dataclass(frozen=True)
class MaskingPolicy:
    """Masking configuration for one connection (column rules and value detectors, validated
    by ``MaskingRules``), and the row plans for the results it sees."""

    columns: Sequence[str] = ()
    detectors: Sequence[str] = ()
    rules: MaskingRules = field(init=False, repr=False, compare=False)
    _cache: dict[object, RowPlan] = field(init=False, repr=False, compare=False)
    _scanners: dict[frozenset[str], Scanner] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rules = MaskingRules(self.columns, self.detectors)
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "columns", rules.columns)
        object.__setattr__(self, "detectors", rules.detectors)
        object.__setattr__(self, "_cache", {})
        object.__setattr__(self, "_scanners", {})

    @property
    def is_empty(self) -> bool:
        """True when the policy masks nothing at all."""
        return self.rules.is_empty

    def plan(
        self,
        columns: Sequence[ColumnDescription],
        names: CatalogNames | None = None,
        *,
        text_type_oids: Collection[int] = (),
        derived: Derivation | None = None,
    ) -> RowPlan:
        """The row plan for one RowDescription (cached on the columns and their resolved names).

        ``names`` resolves (table OID, attribute number) to the real column; ``text_type_oids``
        adds text-like types without a fixed OID (citext) for this database; ``derived``
        names the outputs without an origin that are computed from a masked column.
        """
        resolved = tuple(_resolve(c, names) for c in columns)
        extra = frozenset(text_type_oids)
        key = (tuple(columns), resolved, extra, derived)
        plan = self._cache.get(key)
        if plan is None:
            plan = self._build(columns, resolved, extra, derived)
            if len(self._cache) >= _PLAN_CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = plan
        return plan

    def _build(
        self,
        columns: Sequence[ColumnDescription],
        resolved: tuple[tuple[str, str] | None, ...],
        extra: frozenset[int],
        derived: Derivation | None = None,
    ) -> RowPlan:
        actions: list[Action | None] = []
        planned: list[PlannedColumn] = []
        for index, (col, real) in enumerate(zip(columns, resolved, strict=True)):
            if col.format not in (0, 1):
                raise InvalidColumnDescriptionError(f"column {index} format code {col.format}")
            kind = kind_of(col.type_oid, extra)
            table, column = real if real is not None else (None, col.name)
            source = f"{table}.{column}" if real is not None else None
            candidates = self.rules.by_column.get(column.casefold(), ())
            rule = next((r for r in candidates if r.matches(table, column)), None)
            action: Action | None = None
            if rule is not None:
                action = rule_action(kind, col.format, rule.spec)
                planned.append(PlannedColumn(index, col.name, source, rule.spec, (), ()))
            elif col.table_oid != 0 and col.column_attr == 0:
                # A whole row of a table (attribute number 0): one composite value whose fields
                # cannot be told apart. The statement checks refuse these (dialect.leaks); a
                # route they miss still gets no value through.
                action = rule_action(kind, col.format, WHOLE_ROW)
                planned.append(PlannedColumn(index, col.name, None, WHOLE_ROW, (), ()))
            elif derived is not None and col.table_oid == 0 and _chosen(derived, index):
                action = rule_action(kind, col.format, derived[0])
                planned.append(PlannedColumn(index, col.name, None, derived[0], (), ()))
            elif self.rules.chosen:
                tokens = name_tokens(col.name) | name_tokens(column)
                context = frozenset(
                    d.name
                    for d in self.rules.chosen
                    if d.context_words and d.in_context_tokens(tokens)
                )
                scanner = self._scanners.get(context)
                if scanner is None:
                    scanner = self._scanners[context] = Scanner(self.rules.chosen, context)
                action = detector_action(kind, col.format, col.type_oid, scanner)
                if action is not None:
                    names = tuple(d.name for d in self.rules.chosen)
                    if kind in (Kind.INTEGER, Kind.NUMERIC):
                        names = tuple(d.name for d, _ in number_checks(scanner))
                    planned.append(
                        PlannedColumn(index, col.name, source, None, names, tuple(sorted(context)))
                    )
            actions.append(action)
        return RowPlan(tuple(actions), tuple(planned))


def _chosen(derived: Derivation, index: int) -> bool:
    return derived[1] is None or index in derived[1]


def _resolve(col: ColumnDescription, names: CatalogNames | None) -> tuple[str, str] | None:
    if names is None or col.table_oid == 0 or col.column_attr <= 0:
        return None
    return names.get((col.table_oid, col.column_attr))


class RowPlan:
    """Column actions for one result shape; ``is_noop`` plans forward rows untouched."""

    __slots__ = ("_actions", "_count", "_last", "_planned", "masked")

    def __init__(self, actions: tuple[Action | None, ...], masked: tuple[PlannedColumn, ...]):
        self._actions = actions
        self._count = len(actions)
        self._planned = tuple((i, a) for i, a in enumerate(actions) if a is not None)
        self._last = self._planned[-1][0] if self._planned else -1
        self.masked = masked

    @property
    def is_noop(self) -> bool:
        """True when no column is masked: forward DataRow messages as they are."""
        return not self._planned

    @property
    def column_count(self) -> int:
        """Number of columns the RowDescription announced."""
        return self._count

    def apply(
        self, values: Sequence[bytes | None]
    ) -> tuple[tuple[bytes | None, ...] | None, MaskCounts]:
        """Masked values, or None when nothing changed; and what was masked."""
        if len(values) != self._count:
            raise MalformedDataRowError(f"{len(values)} values for {self._count} columns")
        tally: MaskTally | None = None
        out: list[bytes | None] | None = None
        for index, action in self._planned:
            value = values[index]
            if value is None:
                continue
            if tally is None:
                tally = MaskTally()
            new = action(value, tally)
            if new is not value:
                if out is None:
                    out = list(values)
                out[index] = new
        if out is None:
            return None, NO_MASKS
        assert tally is not None
        return tuple(out), tally.counts()

    def rewrite_datarow(self, body: bytes, tally: MaskTally | None = None) -> bytes | None:
        """A new DataRow message (type byte + fresh length) for ``body``, or None if untouched.

        ``body`` is the message after its length field. The structure is validated in full;
        MalformedDataRowError (never IndexError or struct.error) on any inconsistency.
        """
        if tally is None:
            tally = _DISCARD
        n = len(body)
        if n < 2 or (body[0] << 8 | body[1]) != self._count:
            raise MalformedDataRowError(f"DataRow column count does not match {self._count}")
        actions, unpack, last = self._actions, _I32.unpack_from, self._last
        pos, edits = 2, None
        try:
            for index in range(last + 1):
                length = unpack(body, pos)[0]
                pos += 4
                if length < 0:
                    if length != -1:
                        raise MalformedDataRowError(f"DataRow column {index} length {length}")
                    continue
                end = pos + length
                if end > n:
                    raise MalformedDataRowError(f"DataRow column {index} overruns the message")
                action = actions[index]
                if action is not None:
                    value = body[pos:end]
                    new = action(value, tally)
                    if new is not value:
                        if edits is None:
                            edits = []
                        edits.append((pos - 4, end, new))
                pos = end
            for _ in range(self._count - last - 1):  # the rest: validate only
                length = unpack(body, pos)[0]
                pos += 4 + length if length > 0 else 4
                if length < -1:
                    raise MalformedDataRowError(f"DataRow column length {length}")
        except struct.error as exc:
            raise MalformedDataRowError("DataRow ends inside a column length") from exc
        if pos != n:
            raise MalformedDataRowError("DataRow lengths do not add up to the message")
        return None if edits is None else _assemble(body, edits)


def _assemble(body: bytes, edits: list[tuple[int, int, bytes | None]]) -> bytes:
    parts: list[bytes] = [b"D", b""]
    size = 4 + len(body)
    prev = 0
    for start, end, new in edits:
        parts.append(body[prev:start])
        if new is None:
            parts.append(_NULL_LEN)
            size += 4 - (end - start)
        else:
            parts.append(_I32.pack(len(new)))
            parts.append(new)
            size += 4 + len(new) - (end - start)
        prev = end
    parts.append(body[prev:])
    if size > MAX_MESSAGE_LENGTH:
        raise MalformedDataRowError(f"masked DataRow of {size} bytes exceeds the Int32 length")
    parts[1] = _I32.pack(size)
    return b"".join(parts)
