"""``Guardrails``: rules plus a verdict cache, the one object a session asks about each statement.

Cache. The key is the exact text; the entry remembers which session-state inputs the verdict
depended on (``Classification.depends_on``: standard_conforming_strings when the text has a
backslash, pg_catalog-first search_path when a function or operator name was resolved, the
classification of each prepared statement EXECUTEd) and their values, and is served only when
the current state has the same values. A repeated statement costs a dict lookup and a few
comparisons. Least recently used entries are dropped past ``cache_size``; texts longer than
``max_cached_text`` are never cached.

A second level is keyed by libpg_query's fingerprint (constants normalised away), so
``... WHERE id = 1`` and ``... WHERE id = 2`` share one classification. It is used only for
single SELECT/INSERT/UPDATE/DELETE/MERGE statements where no literal influenced the verdict, the
text has no backslash, and no custom rule has a regex (a regex sees literals).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pglast import parser

from gateway.inspection.classify import classify
from gateway.inspection.errors import RuleError, StatementBlocked
from gateway.inspection.model import Classification, SessionState
from gateway.inspection.rules import Action, Rule, Verdict, judge, parse_rules

__all__ = ["Guardrails"]

_FINGERPRINTABLE = frozenset(["Select", "Insert", "Update", "Delete", "Merge"])
_DML_STARTS = ("SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "VALUES", "TABLE")


@dataclass(frozen=True, slots=True)
class _Entry:
    """A cached verdict, the state it depended on, and the classification of this very text
    (None when the entry was borrowed from a look-alike through the fingerprint key)."""

    verdict: Verdict
    depends: tuple[str, ...]
    values: tuple[object, ...]
    classification: Classification | None = None


def _state_value(state: SessionState, dependency: str) -> object:
    if dependency == "standard_conforming_strings":
        return state.standard_conforming_strings
    if dependency == "search_path":
        return state.catalog_first
    return state.prepared.get(dependency.removeprefix("prepared:"))


class Guardrails:
    """The ``default`` rule set plus a connection's custom rules, with a verdict cache."""

    def __init__(
        self, rules: Iterable[Rule] = (), *, cache_size: int = 4096, max_cached_text: int = 8192
    ) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.cache_size = cache_size
        self.max_cached_text = max_cached_text
        self._by_text: OrderedDict[str, list[_Entry]] = OrderedDict()
        self._by_fingerprint: OrderedDict[str, list[_Entry]] = OrderedDict()
        self._fingerprints = not any(rule.regex is not None for rule in self.rules)

    @classmethod
    def from_config(
        cls, guardrails: str = "default", rules: Iterable[Mapping[str, object]] = ()
    ) -> Guardrails:
        """From a connection's ``guardrails = "default"`` and ``[[connections.rules]]``."""
        if guardrails != "default":
            raise RuleError(f"unknown guardrails set {guardrails!r} (known: default)")
        return cls(parse_rules(rules))

    def evaluate(self, sql: str, state: SessionState) -> Verdict:
        """The verdict for ``sql`` in ``state``; never raises."""
        entry = self._lookup(sql, state)
        if entry is not None:
            return entry.verdict
        return self._evaluate_cold(sql, state)

    def inspect(self, sql: str, state: SessionState) -> tuple[Verdict, Classification]:
        """Verdict and classification, cached: for Parse of a named statement, whose
        classification goes into ``SessionState.with_prepared``."""
        entry = self._lookup(sql, state)
        if entry is not None and entry.classification is not None:
            return entry.verdict, entry.classification
        return self._classify_and_store(sql, state, self._fingerprint(sql), keep=True)

    def check(self, sql: str, state: SessionState) -> Verdict:
        """Like ``evaluate``, but a block raises ``StatementBlocked`` (SQLSTATE 42501)."""
        verdict = self.evaluate(sql, state)
        if verdict.action is Action.BLOCK:
            raise StatementBlocked(verdict)
        return verdict

    def judge(self, classification: Classification) -> Verdict:
        """The verdict for an already classified text (e.g. a prepared statement at Execute)."""
        return judge(classification, self.rules)

    def clear(self) -> None:
        self._by_text.clear()
        self._by_fingerprint.clear()

    def _valid(self, entry: _Entry, state: SessionState) -> bool:
        for dependency, value in zip(entry.depends, entry.values, strict=True):
            if _state_value(state, dependency) != value:
                return False
        return True

    def _lookup(self, sql: str, state: SessionState) -> _Entry | None:
        entries = self._by_text.get(sql)
        if entries is not None:
            for entry in entries:
                if self._valid(entry, state):
                    self._by_text.move_to_end(sql)
                    return entry
        return None

    def _evaluate_cold(self, sql: str, state: SessionState) -> Verdict:
        fingerprint = self._fingerprint(sql)
        if fingerprint is not None:
            for entry in self._by_fingerprint.get(fingerprint, ()):
                if self._valid(entry, state):
                    borrowed = _Entry(entry.verdict, entry.depends, entry.values)
                    self._store(self._by_text, sql, borrowed)
                    return entry.verdict
        return self._classify_and_store(sql, state, fingerprint, keep=False)[0]

    def _classify_and_store(
        self, sql: str, state: SessionState, fingerprint: str | None, *, keep: bool
    ) -> tuple[Verdict, Classification]:
        """Classify, judge and cache. The classification is kept only when asked for
        (``inspect``): thousands of retained trees would make every GC pass slower."""
        classification = classify(sql, state)
        depends = tuple(sorted(classification.depends_on))
        values = tuple(_state_value(state, d) for d in depends)
        kept = classification if keep else None
        entry = _Entry(self.judge(classification), depends, values, kept)
        if len(sql) <= self.max_cached_text:
            self._store(self._by_text, sql, entry)
            if fingerprint is not None and self._fingerprint_safe(classification):
                self._store(self._by_fingerprint, fingerprint, entry)
        return entry.verdict, classification

    def _fingerprint(self, sql: str) -> str | None:
        """The fingerprint key, only for texts that may be a single DML statement (cheap test
        first: a fingerprint costs about as much as a parse)."""
        if len(sql) > self.max_cached_text or not self._fingerprints:
            return None
        if "\\" in sql or "\x00" in sql or ";" in sql.rstrip("; \n\t"):
            return None
        if not sql.lstrip(" \t\r\n(")[:6].upper().startswith(_DML_STARTS):
            return None
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

    def _store(self, cache: OrderedDict[str, list[_Entry]], key: str, entry: _Entry) -> None:
        entries = cache.get(key)
        if entries is None:
            cache[key] = [entry]
            if len(cache) > self.cache_size:
                cache.popitem(last=False)
        else:
            entries.insert(0, entry)
            del entries[4:]
            cache.move_to_end(key)
