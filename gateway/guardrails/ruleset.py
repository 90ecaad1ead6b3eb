"""``RuleSet``: a connection's rules plus a verdict cache, the one object a session asks.

It judges a ``Classification`` with the ``default`` actions and the connection's rules
(``rules.judge``) and caches the verdict by the exact text. The classifier is the dialect's:
``RuleSet(classify, rules)``; nothing here parses. Whatever the dialect's classifier does, the
rule set fails closed: a classifier that raises gives the text one ``unknown`` statement, which
the rules hold, for every dialect and every caller (a dialect's own look-alike levels call the
same guarded classifier).

Cache. The entry remembers which session-state inputs the verdict depended on
(``Classification.depends_on``) and their values (``DialectState.value_of``), and is served
only when the current state has the same values. A repeated statement costs a dict lookup and a
few comparisons. Least recently used keys are dropped past ``cache_size``; texts longer than
``max_cached_text`` are never cached. A dialect may add levels keyed by look-alikes of a text
(PostgreSQL: literal shape and fingerprint) by overriding ``_cold`` and ``_classified``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from gateway.guardrails.errors import StatementBlocked
from gateway.guardrails.model import Classification, unclassifiable
from gateway.guardrails.rules import Action, Rule, Verdict, judge

__all__ = ["DialectState", "Entry", "RuleSet"]


class DialectState(Protocol):
    """A dialect's session state as the cache sees it: frozen, and able to name the current
    value of each input a classification says it depended on."""

    def value_of(self, dependency: str) -> object:
        """The current value of ``dependency`` (one of ``Classification.depends_on``)."""
        ...


StateT = TypeVar("StateT", bound=DialectState)


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached verdict, the state it depended on, and the classification of this very text
    (None when not asked for, or when the entry was borrowed from a look-alike)."""

    verdict: Verdict
    depends: tuple[str, ...]
    values: tuple[object, ...]
    classification: Classification | None = None
    general: bool = False  # no literal influenced it: it holds for the text's look-alikes

    def valid(self, state: DialectState) -> bool:
        """Whether every input the verdict depended on still has the value it had."""
        for dependency, value in zip(self.depends, self.values, strict=True):
            if state.value_of(dependency) != value:
                return False
        return True


class RuleSet(Generic[StateT]):
    """The ``default`` rule set plus a connection's custom rules, with a verdict cache."""

    def __init__(
        self,
        classify: Callable[[str, StateT], Classification],
        rules: Iterable[Rule] = (),
        *,
        cache_size: int = 4096,
        max_cached_text: int = 8192,
    ) -> None:
        self.classify = _fail_closed(classify)
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.cache_size = cache_size
        self.max_cached_text = max_cached_text
        self._by_text: OrderedDict[str, list[Entry]] = OrderedDict()
        # evaluate_bound: (text, parameters bound non-NULL) -> (classification, verdict)
        self._bound: OrderedDict[tuple[str, frozenset[int]], tuple[Classification, Verdict]] = (
            OrderedDict()
        )

    def evaluate(self, text: str, state: StateT) -> Verdict:
        """The verdict for ``text`` in ``state``; never raises."""
        entry = self._lookup(text, state)
        if entry is not None:
            return entry.verdict
        return self._cold(text, state).verdict

    def evaluate_general(self, text: str, state: StateT) -> tuple[Verdict, bool]:
        """``evaluate``, and whether the verdict holds for every look-alike of the text (a
        dialect that keeps no look-alike levels always says False)."""
        entry = self._lookup(text, state)
        if entry is None:
            entry = self._cold(text, state)
        return entry.verdict, entry.general

    def inspect(self, text: str, state: StateT) -> tuple[Verdict, Classification]:
        """Verdict and classification, cached: for a statement prepared now and executed later,
        whose classification the session keeps in its state."""
        entry = self._lookup(text, state)
        if entry is not None and entry.classification is not None:
            return entry.verdict, entry.classification
        entry, classification = self._classified(text, state, keep=True)
        return entry.verdict, classification

    def evaluate_bound(self, text: str, state: StateT, non_null: frozenset[int]) -> Verdict:
        """The verdict for a prepared ``text`` executed with its parameters bound: ``non_null``
        are the positional parameters (1-based) bound to non-NULL values. Findings those values
        void are dropped (``Classification.bound``); the rest is judged as ``evaluate`` would."""
        verdict, classification = self.inspect(text, state)
        if not classification.parameter_bound:
            return verdict
        key = (text, non_null)
        hit = self._bound.get(key)
        if hit is not None and hit[0] is classification:  # the same classification, judged
            return hit[1]
        verdict = self.judge(classification.bound(non_null))
        self._bound[key] = (classification, verdict)
        if len(self._bound) > self.cache_size:
            self._bound.popitem(last=False)
        return verdict

    def check(self, text: str, state: StateT) -> Verdict:
        """Like ``evaluate``, but a block raises ``StatementBlocked``."""
        verdict = self.evaluate(text, state)
        if verdict.action is Action.BLOCK:
            raise StatementBlocked(verdict)
        return verdict

    def judge(self, classification: Classification) -> Verdict:
        """The verdict for an already classified text (e.g. a prepared statement at Execute)."""
        return judge(classification, self.rules)

    def clear(self) -> None:
        self._by_text.clear()
        self._bound.clear()

    def _lookup(self, text: str, state: StateT) -> Entry | None:
        entries = self._by_text.get(text)
        if entries is not None:
            for entry in entries:
                if entry.valid(state):
                    self._by_text.move_to_end(text)
                    return entry
        return None

    def _cold(self, text: str, state: StateT) -> Entry:
        """Not cached by text: classified (a dialect may first look for a look-alike)."""
        return self._classified(text, state, keep=False)[0]

    def _classified(self, text: str, state: StateT, *, keep: bool) -> tuple[Entry, Classification]:
        """Classify, judge and cache by text. The classification is kept only when asked for
        (``inspect``): thousands of retained trees would make every GC pass slower."""
        classification = self.classify(text, state)
        entry = self._entry(classification, state, keep=keep)
        if len(text) <= self.max_cached_text:
            self._store(self._by_text, text, entry)
        return entry, classification

    def _entry(
        self, classification: Classification, state: StateT, *, keep: bool, general: bool = False
    ) -> Entry:
        depends = tuple(sorted(classification.depends_on))
        values = tuple(state.value_of(d) for d in depends)
        kept = classification if keep else None
        return Entry(self.judge(classification), depends, values, kept, general)

    def _store(self, cache: OrderedDict[str, list[Entry]], key: str, entry: Entry) -> None:
        entries = cache.get(key)
        if entries is None:
            cache[key] = [entry]
            if len(cache) > self.cache_size:
                cache.popitem(last=False)
        else:
            entries.insert(0, entry)
            del entries[4:]
            cache.move_to_end(key)


def _fail_closed(
    classify: Callable[[str, StateT], Classification],
) -> Callable[[str, StateT], Classification]:
    """The dialect's classifier, made never to raise: an exception is an ``unknown`` text."""

    def guarded(text: str, state: StateT) -> Classification:
        try:
            return classify(text, state)
        except Exception as exc:  # fail closed on anything, RecursionError included
            return unclassifiable(text, f"could not classify ({type(exc).__name__})")

    return guarded
