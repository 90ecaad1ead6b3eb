"""What masking did: immutable per-row counts and a mutable tally for a whole result."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from gateway.masking.detectors import Finding

__all__ = ["NO_MASKS", "MaskCounts", "MaskTally"]

_EMPTY: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class MaskCounts:
    """Values masked, per column rule (its spec as configured) and per detector name."""

    columns: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    detectors: Mapping[str, int] = field(default_factory=lambda: _EMPTY)

    @property
    def total(self) -> int:
        """Number of masked values (column rules) plus entities (detectors)."""
        return sum(self.columns.values()) + sum(self.detectors.values())

    def __bool__(self) -> bool:
        return bool(self.columns) or bool(self.detectors)

    def __add__(self, other: MaskCounts) -> MaskCounts:
        return MaskCounts(
            _merge(self.columns, other.columns), _merge(self.detectors, other.detectors)
        )


def _merge(a: Mapping[str, int], b: Mapping[str, int]) -> Mapping[str, int]:
    if not b:
        return a
    if not a:
        return b
    merged = dict(a)
    for key, n in b.items():
        merged[key] = merged.get(key, 0) + n
    return MappingProxyType(merged)


NO_MASKS = MaskCounts()


class MaskTally:
    """Mutable counter the row loop writes into; one per result set (or per session)."""

    __slots__ = ("_columns", "_detectors")

    def __init__(self) -> None:
        self._columns: dict[str, int] = {}
        self._detectors: dict[str, int] = {}

    def column(self, rule: str) -> None:
        """Count one value masked by the column rule ``rule``."""
        self._columns[rule] = self._columns.get(rule, 0) + 1

    def detector(self, name: str, n: int = 1) -> None:
        """Count ``n`` entities masked by detector ``name``."""
        self._detectors[name] = self._detectors.get(name, 0) + n

    def findings(self, found: Iterable[Finding]) -> None:
        """Count each finding under its detector."""
        for f in found:
            self._detectors[f.detector] = self._detectors.get(f.detector, 0) + 1

    def counts(self) -> MaskCounts:
        """An immutable snapshot."""
        if not self._columns and not self._detectors:
            return NO_MASKS
        return MaskCounts(
            MappingProxyType(dict(self._columns)), MappingProxyType(dict(self._detectors))
        )


class DiscardTally(MaskTally):
    """A tally that counts nothing, for callers that do not want counts."""

    __slots__ = ()

    def column(self, rule: str) -> None:
        """Ignore."""

    def detector(self, name: str, n: int = 1) -> None:
        """Ignore."""

    def findings(self, found: Iterable[Finding]) -> None:
        """Ignore."""
