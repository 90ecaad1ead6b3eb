"""What a PostgreSQL session keeps for classification: ``SessionState``, a frozen value.

``SessionState.apply`` folds the effects of statements that ran into the next state, so the
session can keep it current without re-parsing; the package docstring says where each field
comes from. ``value_of`` answers the verdict cache (``gateway.guardrails.RuleSet``) for the
inputs a classification depended on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from gateway.guardrails import Classification, Effect, Statement

__all__ = ["DEFAULT_SEARCH_PATH", "SessionState", "catalog_first", "parse_search_path"]

DEFAULT_SEARCH_PATH = ("$user", "public")
_EMPTY: Mapping[str, Classification] = MappingProxyType({})


def parse_search_path(value: str) -> tuple[str, ...]:
    """Split a search_path setting like the server does: commas, quoted names keep case."""
    names: list[str] = []
    for raw in _split_commas(value):
        item = raw.strip()
        if len(item) >= 2 and item[0] == '"' and item[-1] == '"':
            names.append(item[1:-1].replace('""', '"'))
        elif item:
            names.append(item.lower())
    return tuple(names)


def _split_commas(value: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def catalog_first(search_path: tuple[str, ...] | None) -> bool:
    """Whether unqualified function and operator names resolve in pg_catalog before anything else.

    pg_catalog is searched first unless it is listed explicitly after another schema; the
    temporary schema is never searched for functions or operators (PostgreSQL docs, "The Schema
    Search Path"). An unknown path (None) is treated as not catalog-first: fail closed.
    """
    if search_path is None:
        return False
    if "pg_catalog" not in search_path:
        return True
    before = search_path[: search_path.index("pg_catalog")]
    return all(name == "pg_temp" or name.startswith("pg_temp_") for name in before)


@dataclass(frozen=True, slots=True)
class SessionState:
    """The session facts classification depends on. See the package docstring for upkeep.

    ``search_path`` None means unknown: unqualified functions and operators are then treated as
    possibly user-defined (held). ``default_search_path`` is what RESET / DISCARD ALL return to.
    ``role`` is informational (shown on cards); no verdict depends on it.
    """

    standard_conforming_strings: bool = True
    search_path: tuple[str, ...] | None = DEFAULT_SEARCH_PATH
    role: str | None = None
    prepared: Mapping[str, Classification] = field(default_factory=lambda: _EMPTY, hash=False)
    in_transaction: bool = False
    default_search_path: tuple[str, ...] | None = DEFAULT_SEARCH_PATH
    catalog_first: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "catalog_first", catalog_first(self.search_path))

    def value_of(self, dependency: str) -> object:
        """What a verdict that depended on ``dependency`` saw: the setting, pg_catalog-first
        for ``search_path`` (only the order of pg_catalog matters), or the classification of
        ``prepared:<name>`` (None when no such statement is prepared)."""
        if dependency == "standard_conforming_strings":
            return self.standard_conforming_strings
        if dependency == "search_path":
            return self.catalog_first
        return self.prepared.get(dependency.removeprefix("prepared:"))

    def with_prepared(self, name: str, classification: Classification) -> SessionState:
        """After ParseComplete of a named statement (or a successful SQL PREPARE)."""
        merged = dict(self.prepared)
        merged[name] = classification
        return replace(self, prepared=MappingProxyType(merged))

    def without_prepared(self, name: str | None) -> SessionState:
        """After Close of a statement or DEALLOCATE; ``None`` forgets them all."""
        if name is None:
            return replace(self, prepared=_EMPTY)
        merged = {k: v for k, v in self.prepared.items() if k != name}
        return replace(self, prepared=MappingProxyType(merged))

    def apply(self, classification: Classification) -> SessionState:
        """The state after every statement of ``classification`` succeeded."""
        state = self
        for statement in classification.statements:
            state = state.apply_statement(statement)
        return state

    def apply_statement(self, statement: Statement) -> SessionState:
        """The state after ``statement`` succeeded."""
        state = self
        for effect in statement.effects:
            state = state._apply_effect(effect)
        return state

    def _apply_effect(self, effect: Effect) -> SessionState:
        if effect.op == "prepare" and effect.name is not None and effect.prepared is not None:
            return self.with_prepared(effect.name, effect.prepared)
        if effect.op == "deallocate":
            return self.without_prepared(effect.name)
        if effect.op == "discard_all":
            return replace(self, prepared=_EMPTY, role=None, search_path=self.default_search_path)
        if effect.op == "reset_all":
            return replace(self, search_path=self.default_search_path)
        if effect.op == "set" and effect.name is not None:
            return self._apply_set(effect)
        if effect.op == "forget" and effect.name == "search_path":
            return replace(self, search_path=None)
        return self

    def _apply_set(self, effect: Effect) -> SessionState:
        """SET/RESET of a tracked GUC. A SET LOCAL is applied only when it is stricter.

        standard_conforming_strings is reported by the server (ParameterStatus) whenever it
        changes; a RESET keeps the current value here and the report corrects it.
        """
        name, value = effect.name, effect.value
        if name == "standard_conforming_strings":
            if value is None:
                return self
            scs = value.lower() in ("on", "true", "yes", "1")
            if effect.local and scs:
                return self
            return replace(self, standard_conforming_strings=scs)
        if name == "search_path":
            path = parse_search_path(value) if value is not None else self.default_search_path
            if effect.local and catalog_first(path):
                return self
            return replace(self, search_path=path)
        if name in ("role", "session_authorization"):
            return replace(self, role=value)
        return self
