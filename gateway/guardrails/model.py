"""What classification produces and what it reads: kinds, findings, statements, session state.

All values are frozen. ``SessionState`` is input to classification (lexing, name resolution,
prepared statements); ``SessionState.apply`` folds the effects of statements that ran into the
next state, so the session can keep it current without re-parsing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "Classification",
    "Effect",
    "Finding",
    "Kind",
    "SessionState",
    "Statement",
    "parse_search_path",
]


class Kind(StrEnum):
    """What a statement does. One statement usually has several (a CTE delete is read + write)."""

    READ = "read"
    WRITE = "write"
    WRITE_UNBOUNDED = "write_unbounded"  # DELETE/UPDATE/MERGE with no effective row filter
    DESTROY = "destroy"  # DROP, TRUNCATE, ALTER ... DROP, lossy ALTER COLUMN TYPE, DETACH
    DDL = "ddl"
    PRIVILEGE = "privilege"  # GRANT/REVOKE, roles, ownership, RLS, SET ROLE, credential catalogs
    CONFIG = "config"  # SET/RESET of GUCs, set_config(), ALTER SYSTEM/DATABASE/ROLE ... SET
    SERVER_ESCAPE = "server_escape"  # reaches the server's OS, files, network or replication
    TRANSACTION = "transaction"
    SESSION = "session"  # LISTEN/NOTIFY, DISCARD, PREPARE/EXECUTE/DEALLOCATE, cursors
    PROCEDURAL = "procedural"  # DO, CALL, CREATE FUNCTION/TRIGGER/RULE, user functions
    REVIEW = "review"  # functions on the review list: pg_sleep, advisory locks, sequences
    LOCK = "lock"  # LOCK TABLE, VACUUM FULL, CLUSTER, REINDEX, two-phase commit
    ROW_LOCK = "row_lock"  # SELECT ... FOR UPDATE/SHARE: a read that takes row locks
    AMBIGUOUS = "ambiguous"  # the gateway and the server might read the text differently
    UNKNOWN = "unknown"  # unparseable, or a node the classifier does not know


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason a statement has a kind; ``function`` is set when a function call caused it."""

    kind: Kind
    detail: str
    function: str | None = None


@dataclass(frozen=True, slots=True)
class Effect:
    """A change to session state that happens if the statement succeeds.

    ``op`` is ``set`` (GUC ``name`` to ``value``; ``value`` None = reset to the default),
    ``forget`` (GUC ``name`` changed to a value not known here), ``reset_all``, ``prepare``
    (``name``, with the body's ``prepared`` classification), ``deallocate`` (``name`` None =
    all) or ``discard_all``. ``local`` marks SET LOCAL.
    """

    op: str
    name: str | None = None
    value: str | None = None
    local: bool = False
    prepared: Classification | None = None


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of the text: its kinds with their reasons, and what it touches."""

    text: str
    command: str
    findings: tuple[Finding, ...]
    tables: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    effects: tuple[Effect, ...] = ()
    kinds: frozenset[Kind] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(f.kind for f in self.findings))


@dataclass(frozen=True, slots=True)
class Classification:
    """Every statement of one text, plus what the result depended on (for caching).

    ``depends_on`` names the session-state inputs that influenced the result:
    ``standard_conforming_strings``, ``search_path`` and ``prepared:<name>``.
    ``literal_sensitive`` is true when a literal's value influenced it (a GUC name, a WHERE
    constant, a role name, an EXPLAIN option), so the text may not be keyed by its fingerprint.
    """

    statements: tuple[Statement, ...]
    depends_on: frozenset[str] = frozenset()
    literal_sensitive: bool = False
    kinds: frozenset[Kind] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kinds = frozenset().union(*(s.kinds for s in self.statements))
        object.__setattr__(self, "kinds", kinds)

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for s in self.statements for t in s.tables))

    @property
    def functions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for s in self.statements for f in s.functions))


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
