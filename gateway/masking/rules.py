"""A connection's masking rules, validated: column rules and the chosen value detectors.

``[[connections]] masking = { columns = [...], detectors = [...] }``. A column spec is
``column``, ``table.column`` or ``schema.table.column`` (names compare case-insensitively); a
detector is one of ``DETECTORS``. ``MaskingRules`` is what every dialect builds its masking
policy from (``Dialect.masking``); how a rule finds its column in a result is the dialect's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gateway.masking.detectors import DETECTORS, Detector
from gateway.masking.errors import InvalidColumnSpecError, MaskingConfigError, UnknownDetectorError

__all__ = ["ColumnRule", "MaskingRules"]

_IDENT = re.compile(r"[^.\s\"]+")


@dataclass(frozen=True, slots=True)
class ColumnRule:
    """A parsed column spec: ``column``, ``table.column`` or ``schema.table.column``."""

    spec: str
    column: str
    table: str | None = None
    schema: str | None = None

    @classmethod
    def parse(cls, spec: object) -> ColumnRule:
        """Parse one configured spec; names compare case-insensitively."""
        if not isinstance(spec, str):
            raise InvalidColumnSpecError(spec, "expected a string")
        parts = spec.split(".")
        if not 1 <= len(parts) <= 3:
            raise InvalidColumnSpecError(
                spec, "expected column, table.column or schema.table.column"
            )
        if not all(_IDENT.fullmatch(p) for p in parts):
            raise InvalidColumnSpecError(spec, "empty part, whitespace or quotes")
        folded = [p.casefold() for p in parts]
        return cls(spec, folded[-1], *reversed(folded[:-1]))

    def matches(self, table: str | None, column: str) -> bool:
        """Match a resolved ``schema.table`` and column, or (table None) a reported name."""
        if column.casefold() != self.column:
            return False
        if table is None or self.table is None:
            return True
        schema, _, name = table.casefold().rpartition(".")
        return name == self.table and (self.schema is None or schema == self.schema)


@dataclass(frozen=True)
class MaskingRules:
    """Column rules and detectors of one connection; raises ``MaskingConfigError`` (or a
    subclass naming the bad entry) when the configuration is wrong."""

    columns: Sequence[str] = ()
    detectors: Sequence[str] = ()
    column_rules: tuple[ColumnRule, ...] = field(init=False, repr=False, compare=False)
    chosen: tuple[Detector, ...] = field(init=False, repr=False, compare=False)
    by_column: Mapping[str, tuple[ColumnRule, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.columns, str) or isinstance(self.detectors, str):
            raise MaskingConfigError("masking columns and detectors must be lists of strings")
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "detectors", tuple(self.detectors))
        rules = tuple(ColumnRule.parse(s) for s in self.columns)
        object.__setattr__(self, "column_rules", rules)
        chosen: dict[str, Detector] = {}
        for name in self.detectors:
            detector = DETECTORS.get(name) if isinstance(name, str) else None
            if detector is None:
                raise UnknownDetectorError(str(name), tuple(DETECTORS))
            chosen[name] = detector
        object.__setattr__(self, "chosen", tuple(chosen.values()))
        by_column: dict[str, tuple[ColumnRule, ...]] = {}
        for rule in rules:
            by_column[rule.column] = (*by_column.get(rule.column, ()), rule)
        object.__setattr__(self, "by_column", by_column)

    @property
    def is_empty(self) -> bool:
        """True when the rules mask nothing at all."""
        return not self.column_rules and not self.chosen
