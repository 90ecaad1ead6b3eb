"""What a MySQL session keeps for classification: ``MySQLState``, a frozen value.

- ``sql_mode``: the flags that change how a text is lexed (MySQL 8.0 Reference Manual 5.1.11
  "Server SQL Modes"): ``ANSI_QUOTES`` (``"..."`` is an identifier) and
  ``NO_BACKSLASH_ESCAPES``; combination modes that include ANSI_QUOTES (ANSI, and MariaDB's
  and MySQL 5.7's DB2, MAXDB, MSSQL, ORACLE, POSTGRESQL) are expanded. ``sql_mode_known``
  False means a statement set it to a value not read here (``SET sql_mode = CONCAT(...)``):
  the classifier then reads a text under every combination of the two flags and holds it when
  the readings differ. MariaDB's ``ORACLE`` mode changes the grammar itself (``oracle``):
  every statement is held while it is on.
- ``database``: the current database (from the handshake, COM_INIT_DB, ``USE``); None when
  none is selected. Masking binds unqualified tables with it.
- ``prepared``: SQL-level prepared statements by name (``PREPARE name FROM ...``) with their
  bodies' classifications. Protocol-level statements (COM_STMT_PREPARE) are the listener's.

``after(text)`` is the state once every statement of ``text`` ran; ``value_of`` answers the
verdict cache (``gateway.guardrails.RuleSet``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from gateway.guardrails import Classification, Effect, Statement

__all__ = ["MySQLState", "SqlMode", "parse_sql_mode"]

_EMPTY: Mapping[str, Classification] = MappingProxyType({})
_ANSI_QUOTES_MODES = frozenset(
    ["ANSI_QUOTES", "ANSI", "DB2", "MAXDB", "MSSQL", "ORACLE", "POSTGRESQL"]
)


@dataclass(frozen=True, slots=True)
class SqlMode:
    """The lexing flags of one ``sql_mode`` value."""

    ansi_quotes: bool = False
    no_backslash_escapes: bool = False
    oracle: bool = False


_MODE_NAMES = frozenset(
    """
    REAL_AS_FLOAT PIPES_AS_CONCAT ANSI_QUOTES IGNORE_SPACE IGNORE_BAD_TABLE_OPTIONS
    ONLY_FULL_GROUP_BY NO_UNSIGNED_SUBTRACTION NO_DIR_IN_CREATE POSTGRESQL ORACLE MSSQL DB2
    MAXDB NO_KEY_OPTIONS NO_TABLE_OPTIONS NO_FIELD_OPTIONS MYSQL323 MYSQL40 ANSI
    NO_AUTO_VALUE_ON_ZERO NO_BACKSLASH_ESCAPES STRICT_TRANS_TABLES STRICT_ALL_TABLES
    NO_ZERO_IN_DATE NO_ZERO_DATE ALLOW_INVALID_DATES ERROR_FOR_DIVISION_BY_ZERO TRADITIONAL
    NO_AUTO_CREATE_USER HIGH_NOT_PRECEDENCE NO_ENGINE_SUBSTITUTION PAD_CHAR_TO_FULL_LENGTH
    EMPTY_STRING_IS_NULL SIMULTANEOUS_ASSIGNMENT TIME_ROUND_FRACTIONAL TIME_TRUNCATE_FRACTIONAL
    """.split()  # noqa: SIM905 (a word list)
)


def parse_sql_mode(value: str) -> SqlMode | None:
    """The flags of a ``sql_mode`` value (comma-separated mode names, any case); None when a
    part is not a mode name (a number is a bit mask to the server: 4 is ANSI_QUOTES)."""
    modes = {part.strip().upper() for part in value.split(",")} - {""}
    if not modes <= _MODE_NAMES:
        return None
    return SqlMode(
        ansi_quotes=bool(modes & _ANSI_QUOTES_MODES),
        no_backslash_escapes="NO_BACKSLASH_ESCAPES" in modes,
        oracle="ORACLE" in modes,
    )


@dataclass(frozen=True, slots=True)
class MySQLState:
    """The session facts classification depends on; see the module docstring."""

    ansi_quotes: bool = False
    no_backslash_escapes: bool = False
    sql_mode_known: bool = True
    oracle: bool = False
    database: str | None = None
    prepared: Mapping[str, Classification] = field(default_factory=lambda: _EMPTY, hash=False)

    def value_of(self, dependency: str) -> object:
        """What a verdict that depended on ``dependency`` saw: the lexing flags for
        ``sql_mode``, the current ``database``, the classification of ``prepared:<name>``."""
        if dependency == "sql_mode":
            return (self.ansi_quotes, self.no_backslash_escapes, self.sql_mode_known, self.oracle)
        if dependency == "database":
            return self.database
        return self.prepared.get(dependency.removeprefix("prepared:"))

    def with_sql_mode(self, value: str | None) -> MySQLState:
        """With ``sql_mode`` set to ``value`` (None, or a value with a part that is not a mode
        name: not known here)."""
        mode = parse_sql_mode(value) if value is not None else None
        if mode is None:
            return replace(self, sql_mode_known=False)
        return replace(
            self,
            ansi_quotes=mode.ansi_quotes,
            no_backslash_escapes=mode.no_backslash_escapes,
            oracle=mode.oracle,
            sql_mode_known=True,
        )

    def with_database(self, database: str | None) -> MySQLState:
        """After COM_INIT_DB or ``USE``."""
        return replace(self, database=database)

    def with_prepared(self, name: str, classification: Classification) -> MySQLState:
        """After a successful ``PREPARE name FROM ...`` (names are case-insensitive)."""
        merged = dict(self.prepared)
        merged[name.casefold()] = classification
        return replace(self, prepared=MappingProxyType(merged))

    def without_prepared(self, name: str | None) -> MySQLState:
        """After ``DEALLOCATE PREPARE name``; None forgets them all (COM_RESET_CONNECTION)."""
        if name is None:
            return replace(self, prepared=_EMPTY)
        merged = {k: v for k, v in self.prepared.items() if k != name.casefold()}
        return replace(self, prepared=MappingProxyType(merged))

    def after(self, text: str) -> MySQLState:
        """The state once every statement of ``text`` succeeded."""
        from gateway.mysql.dialect.classify import classify  # noqa: PLC0415 (it imports us)

        return self.apply(classify(text, self))

    def apply(self, classification: Classification) -> MySQLState:
        """The state after every statement of ``classification`` succeeded."""
        state = self
        for statement in classification.statements:
            state = state.apply_statement(statement)
        return state

    def apply_statement(self, statement: Statement) -> MySQLState:
        """The state after ``statement`` succeeded."""
        state = self
        for effect in statement.effects:
            state = state._apply_effect(effect)
        return state

    def _apply_effect(self, effect: Effect) -> MySQLState:
        if effect.op == "prepare" and effect.name is not None and effect.prepared is not None:
            return self.with_prepared(effect.name, effect.prepared)
        if effect.op == "deallocate":
            return self.without_prepared(effect.name)
        if effect.op == "set" and effect.name == "sql_mode":
            return self.with_sql_mode(effect.value)
        if effect.op == "forget" and effect.name == "sql_mode":
            return self.with_sql_mode(None)
        if effect.op == "set" and effect.name == "database":
            return self.with_database(effect.value)
        return self
