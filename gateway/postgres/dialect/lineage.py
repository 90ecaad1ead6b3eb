"""Per session: which outputs of a statement derive from masked columns through an expression.

Asked for every statement on a connection with column rules; a text that names no masked
column, no table holding one, has no U& identifier and is no EXECUTE or FETCH costs a few
substring tests. Otherwise
the text is parsed once (gateway.postgres.dialect.outputs) and the answer kept, by text.
"""

from __future__ import annotations

from gateway.postgres.dialect.outputs import derived_outputs
from gateway.postgres.dialect.plan import CatalogNames, Derivation, MaskingPolicy

__all__ = ["Lineage"]

_CACHED = 512
# EXECUTE and FETCH return rows of a text seen earlier; a U& identifier may spell any name.
_OPAQUE = ("execute", "fetch", "u&")


class Lineage:
    def __init__(self, policy: MaskingPolicy, catalog: CatalogNames | None) -> None:
        specs = [spec.casefold().split(".") for spec in policy.columns]
        self.columns = frozenset(parts[-1] for parts in specs)
        tables = {parts[-2] for parts in specs if len(parts) >= 2}
        tables |= {table.rpartition(".")[2].casefold() for table, _ in (catalog or {}).values()}
        self.tables = frozenset(tables)
        self._words = (*sorted(self.columns | self.tables), *_OPAQUE)
        self._cache: dict[str, Derivation | None] = {}

    def of(self, text: str) -> Derivation | None:
        """What the outputs of ``text`` derive from, or None (also on connections without
        column rules: detectors see every value anyway)."""
        if not self.columns:
            return None
        folded = text.casefold()
        if not any(word in folded for word in self._words):
            return None
        try:
            return self._cache[text]
        except KeyError:
            pass
        found = derived_outputs(text, self.columns, self.tables)
        derivation = (found.source, found.positions) if found is not None else None
        if len(self._cache) >= _CACHED:
            self._cache.clear()
        self._cache[text] = derivation
        return derivation
