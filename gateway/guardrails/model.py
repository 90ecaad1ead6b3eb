"""What classification produces, in every dialect: kinds, findings, effects, statements.

All values are frozen. A dialect's classifier (``Dialect.classify``) reads a command text into a
``Classification``; the rules (``gateway.guardrails.rules``) judge it. A kind means the same in
every dialect; the examples in the comments are PostgreSQL's, the first dialect. The session
state a classification is read against is the dialect's (``Dialect.state_type``); ``Effect``
says how a statement changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

__all__ = ["Classification", "Effect", "Finding", "Kind", "Statement"]


class Kind(StrEnum):
    """What a statement does. One statement usually has several (a CTE delete is read + write)."""

    READ = "read"
    WRITE = "write"
    WRITE_UNBOUNDED = "write_unbounded"  # DELETE/UPDATE/MERGE with no effective row filter
    DESTROY = "destroy"  # DROP, TRUNCATE, ALTER ... DROP, lossy ALTER COLUMN TYPE, DETACH,
    # renames and moves (RENAME, SET SCHEMA), SET UNLOGGED
    DDL = "ddl"
    PRIVILEGE = "privilege"  # GRANT/REVOKE, roles, ownership, RLS, SET ROLE, credential catalogs,
    # reads of the server's configuration (SHOW ALL, pg_settings, pg_config, secret settings)
    CONFIG = "config"  # SET/RESET of GUCs, set_config(), ALTER SYSTEM/DATABASE/ROLE ... SET,
    # anything that may turn a read-only default off (BEGIN READ WRITE, ...)
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
    """One reason a statement has a kind; ``function`` is set when a function call caused it.

    ``unless_bound``: the finding is void when, for one of these sets of positional parameter
    numbers, every parameter is bound to a non-NULL value (a write whose only row filter is
    ``id = $1`` is unbounded until its Bind says otherwise; see ``Classification.bound``).
    """

    kind: Kind
    detail: str
    function: str | None = None
    unless_bound: tuple[frozenset[int], ...] = ()

    def void_for(self, non_null: frozenset[int]) -> bool:
        """Whether the values bound (``non_null``: the parameters bound non-NULL) void it."""
        return any(needed <= non_null for needed in self.unless_bound)


@dataclass(frozen=True, slots=True)
class Effect:
    """A change to session state that happens if the statement succeeds.

    ``op`` is ``set`` (setting ``name`` to ``value``; ``value`` None = reset to the default),
    ``forget`` (setting ``name`` changed to a value not known here), ``reset_all``, ``prepare``
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

    ``depends_on`` names the session-state inputs that influenced the result, as the dialect's
    state names them (``DialectState.value_of``; PostgreSQL: ``standard_conforming_strings``,
    ``search_path`` and ``prepared:<name>``).
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
    def parameter_bound(self) -> bool:
        """Whether a finding depends on the values bound (``Finding.unless_bound``)."""
        return any(f.unless_bound for s in self.statements for f in s.findings)

    def bound(self, non_null: frozenset[int]) -> Classification:
        """This classification once parameters are bound: ``non_null`` are the positional
        parameters bound to non-NULL values; the findings they void are dropped."""
        statements = tuple(
            replace(s, findings=tuple(f for f in s.findings if not f.void_for(non_null)))
            for s in self.statements
        )
        return Classification(statements, self.depends_on, self.literal_sensitive)

    @property
    def functions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for s in self.statements for f in s.functions))


def unclassifiable(text: str, detail: str) -> Classification:
    """A text no statement of which could be read: one ``unknown`` statement, which the rules
    hold (fail closed). Literal-sensitive, so no look-alike of the text shares its verdict."""
    statement = Statement(text=text.strip(), command="?", findings=(Finding(Kind.UNKNOWN, detail),))
    return Classification((statement,), literal_sensitive=True)
