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
text has no backslash, and no custom rule has a regex (a regex sees literals). In front of it,
the same entries are kept by literal shape (``gateway.postgres.dialect.shape``: the text with its
plain constants replaced, found by a scan far cheaper than the parse a fingerprint needs); a text
whose shape the scan cannot tell falls through to the fingerprint.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pglast import parser

from gateway.guardrails.errors import RuleError, StatementBlocked
from gateway.guardrails.model import Classification, SessionState
from gateway.guardrails.rules import Action, Rule, Verdict, judge, parse_rules
from gateway.postgres.dialect.classify import classify
from gateway.postgres.dialect.shape import literal_shape

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
    general: bool = False  # no literal influenced it: it holds for the text's literal shape


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
        self._by_shape: OrderedDict[str, list[_Entry]] = OrderedDict()
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
        return self._cold(sql, state).verdict

    def evaluate_general(self, sql: str, state: SessionState) -> tuple[Verdict, bool]:
        """``evaluate``, and whether the verdict holds for every text of the same literal shape
        (``gateway.postgres.dialect.shape``): a single DML statement no literal influenced."""
        entry = self._lookup(sql, state)
        if entry is None:
            entry = self._cold(sql, state)
        return entry.verdict, entry.general

    def inspect(self, sql: str, state: SessionState) -> tuple[Verdict, Classification]:
        """Verdict and classification, cached: for Parse of a named statement, whose
        classification goes into ``SessionState.with_prepared``."""
        entry = self._lookup(sql, state)
        if entry is not None and entry.classification is not None:
            return entry.verdict, entry.classification
        entry, classification = self._classify_and_store(sql, state, keep=True)
        return entry.verdict, classification

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
        self._by_shape.clear()

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

    def _cold(self, sql: str, state: SessionState) -> _Entry:
        """Not cached by text: by literal shape, by fingerprint, else classified."""
        if not self._generalisable(sql):
            return self._classify_and_store(sql, state, keep=False)[0]
        shape = literal_shape(sql)
        if shape is not None:
            for entry in self._by_shape.get(shape, ()):
                if self._valid(entry, state):
                    return entry  # not kept by text: texts with other literals rarely repeat
        fingerprint = self._fingerprint(sql)
        if fingerprint is not None:
            for entry in self._by_fingerprint.get(fingerprint, ()):
                if self._valid(entry, state):
                    borrowed = _Entry(entry.verdict, entry.depends, entry.values, general=True)
                    self._store(self._by_text, sql, borrowed)
                    if shape is not None:
                        self._store(self._by_shape, shape, borrowed)
                    return borrowed
        return self._classify_and_store(
            sql, state, keep=False, shape=shape, fingerprint=fingerprint
        )[0]

    def _classify_and_store(
        self,
        sql: str,
        state: SessionState,
        *,
        keep: bool,
        shape: str | None = None,
        fingerprint: str | None = None,
    ) -> tuple[_Entry, Classification]:
        """Classify, judge and cache. The classification is kept only when asked for
        (``inspect``): thousands of retained trees would make every GC pass slower."""
        classification = classify(sql, state)
        depends = tuple(sorted(classification.depends_on))
        values = tuple(_state_value(state, d) for d in depends)
        kept = classification if keep else None
        if fingerprint is None and keep and self._generalisable(sql):
            fingerprint = self._fingerprint(sql)
        general = fingerprint is not None and self._fingerprint_safe(classification)
        entry = _Entry(self.judge(classification), depends, values, kept, general)
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
        a short text that may be a single DML statement, with no backslash or NUL, and no
        custom rule with a regex (a regex sees literals)."""
        if len(sql) > self.max_cached_text or not self._fingerprints:
            return False
        if "\\" in sql or "\x00" in sql or ";" in sql.rstrip("; \n\t"):
            return False
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
