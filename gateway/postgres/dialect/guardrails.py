"""``Guardrails``: the neutral ``RuleSet`` over ``classify``, with two more cache levels.

The first level (``gateway.guardrails.ruleset``) is keyed by the exact text and checks the
session-state inputs the verdict depended on (``SessionState.value_of``: standard_conforming_strings
when the text has a backslash, pg_catalog-first search_path when a function or operator name was
resolved, the classification of each prepared statement EXECUTEd).

A second level is keyed by libpg_query's fingerprint (constants normalised away), so
``... WHERE id = 1`` and ``... WHERE id = 2`` share one classification. It is used only for
single SELECT/INSERT/UPDATE/DELETE/MERGE statements where no literal influenced the verdict, the
text has no backslash, and no custom rule has a regex (a regex sees literals). In front of it,
the same entries are kept by literal shape (``gateway.postgres.dialect.shape``: the text with
its plain constants replaced, found by a scan far cheaper than the parse a fingerprint needs); a
text whose shape the scan cannot tell falls through to the fingerprint.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

from pglast import parser

from gateway.guardrails import Classification, Entry, Rule, RuleSet, rules_from_config
from gateway.postgres.dialect.classify import classify
from gateway.postgres.dialect.shape import literal_shape
from gateway.postgres.dialect.state import SessionState

__all__ = ["Guardrails"]

_FINGERPRINTABLE = frozenset(["Select", "Insert", "Update", "Delete", "Merge"])
_DML_STARTS = ("SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "VALUES", "TABLE")


class Guardrails(RuleSet[SessionState]):
    """The ``default`` rule set plus a connection's custom rules, with a verdict cache."""

    def __init__(
        self, rules: Iterable[Rule] = (), *, cache_size: int = 4096, max_cached_text: int = 8192
    ) -> None:
        super().__init__(classify, rules, cache_size=cache_size, max_cached_text=max_cached_text)
        self._by_fingerprint: OrderedDict[str, list[Entry]] = OrderedDict()
        self._by_shape: OrderedDict[str, list[Entry]] = OrderedDict()
        self._fingerprints = not any(rule.regex is not None for rule in self.rules)

    @classmethod
    def from_config(
        cls, guardrails: str = "default", rules: Iterable[Mapping[str, object]] = ()
    ) -> Guardrails:
        """From a connection's ``guardrails = "default"`` and ``[[connections.rules]]``."""
        return cls(rules_from_config(guardrails, rules))

    def clear(self) -> None:
        super().clear()
        self._by_fingerprint.clear()
        self._by_shape.clear()

    def _cold(self, sql: str, state: SessionState) -> Entry:
        """Not cached by text: by literal shape, by fingerprint, else classified."""
        if not self._generalisable(sql):
            return self._classified(sql, state, keep=False)[0]
        shape = literal_shape(sql)
        if shape is not None:
            for entry in self._by_shape.get(shape, ()):
                if entry.valid(state):
                    return entry  # not kept by text: texts with other literals rarely repeat
        fingerprint = self._fingerprint(sql)
        if fingerprint is not None:
            for entry in self._by_fingerprint.get(fingerprint, ()):
                if entry.valid(state):
                    borrowed = Entry(entry.verdict, entry.depends, entry.values, general=True)
                    self._store(self._by_text, sql, borrowed)
                    if shape is not None:
                        self._store(self._by_shape, shape, borrowed)
                    return borrowed
        return self._classified(sql, state, keep=False, shape=shape, fingerprint=fingerprint)[0]

    def _classified(
        self,
        sql: str,
        state: SessionState,
        *,
        keep: bool,
        shape: str | None = None,
        fingerprint: str | None = None,
    ) -> tuple[Entry, Classification]:
        """Classify, judge and cache, by text and (when no literal influenced the verdict) by
        shape and fingerprint. The classification is kept only when asked for (``inspect``)."""
        classification = self.classify(sql, state)
        if fingerprint is None and keep and self._generalisable(sql):
            fingerprint = self._fingerprint(sql)
        general = fingerprint is not None and self._fingerprint_safe(classification)
        entry = self._entry(classification, state, keep=keep, general=general)
        if len(sql) <= self.max_cached_text:
            self._store(self._by_text, sql, entry)
            if general:
                assert fingerprint is not None
                self._store(self._by_fingerprint, fingerprint, entry)
                if shape is not None:
                    self._store(self._by_shape, shape, entry)
        return entry, classification

    def _generalisable(self, sql: str) -> bool:
        """Whether a verdict for ``sql`` may be shared with look-alikes (fingerprint, shape):
        a short text that may be a single DML statement, with no backslash, NUL or ``$``, and no
        custom rule with a regex (a regex sees literals)."""
        if len(sql) > self.max_cached_text or not self._fingerprints:
            return False
        if "\\" in sql or "\x00" in sql or ";" in sql.rstrip("; \n\t"):
            return False
        if "$" in sql:  # libpg_query fingerprints ``id = $1`` like ``id = 5``: their verdicts
            return False  # differ (a parameter pins only when bound non-NULL, dialect.bounds)
        return sql.lstrip(" \t\r\n(")[:6].upper().startswith(_DML_STARTS)

    @staticmethod
    def _fingerprint(sql: str) -> str | None:
        """libpg_query's fingerprint of a generalisable text (costs about as much as a parse)."""
        try:
            return str(parser.fingerprint(sql))
        except Exception:  # unparseable: classify() reports it
            return None

    @staticmethod
    def _fingerprint_safe(classification: Classification) -> bool:
        statements = classification.statements
        return (
            len(statements) == 1
            and not classification.literal_sensitive
            and statements[0].command in _FINGERPRINTABLE
        )
