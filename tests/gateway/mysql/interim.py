"""A stand-in for the MySQL dialect (gateway.mysql.dialect, built beside the listener) until it
lands: a keyword classifier over the shared vocabulary, for the listener's tests only. It is no
security parser; the listener's tests pin what the listener does with each verdict."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gateway.guardrails import (
    Classification,
    Finding,
    Kind,
    Redacted,
    Rule,
    RuleSet,
    Statement,
    unclassifiable,
)
from gateway.masking import MaskingRules

__all__ = ["INTERIM", "InterimState", "KillTarget", "kill_target"]

_KINDS = {
    "select": Kind.READ, "show": Kind.READ, "describe": Kind.READ, "explain": Kind.READ,
    "use": Kind.SESSION, "set": Kind.SESSION, "begin": Kind.TRANSACTION,
    "commit": Kind.TRANSACTION, "rollback": Kind.TRANSACTION, "start": Kind.TRANSACTION,
    "insert": Kind.WRITE, "create": Kind.DDL, "drop": Kind.DESTROY, "truncate": Kind.DESTROY,
    "grant": Kind.PRIVILEGE, "load": Kind.SERVER_ESCAPE, "kill": Kind.SERVER_ESCAPE,
    "do": Kind.REVIEW,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class InterimState:
    database: str | None = None
    sql_mode: str = ""

    def value_of(self, dependency: str) -> object:
        return self.database if dependency == "database" else self.sql_mode

    def with_database(self, database: str | None) -> InterimState:
        return replace(self, database=database)

    def with_sql_mode(self, value: str | None) -> InterimState:
        return replace(self, sql_mode=value or "")

    def after(self, text: str) -> InterimState:
        found = re.match(r"\s*use\s+`?(\w+)`?", text, re.IGNORECASE)
        return self.with_database(found.group(1)) if found else self


def _statement(text: str) -> Statement:
    word = (text.split() or ["?"])[0].lower()
    kind = _KINDS.get(word)
    if word in ("delete", "update"):
        kind = Kind.WRITE if " where " in f" {text.lower()} " else Kind.WRITE_UNBOUNDED
    if kind is None:
        kind = Kind.UNKNOWN
    return Statement(text=text, command=word, findings=(Finding(kind, f"{word} statement"),))


def classify(text: str, state: InterimState) -> Classification:
    del state
    parts = [p.strip() for p in text.split(";") if p.strip()]
    if not parts:
        return unclassifiable(text, "empty")
    return Classification(tuple(_statement(p) for p in parts))


class InterimDialect:
    name = "mysql"
    state_type = InterimState

    def classify(self, text: str, state: InterimState) -> Classification:
        return classify(text, state)

    def guardrails(self, rules: Sequence[Rule]) -> RuleSet[InterimState]:
        return RuleSet(classify, rules)

    def masking(self, rules: MaskingRules) -> None:
        del rules

    def redact(self, text: str, params: Sequence[bytes | None] = ()) -> Redacted:
        return Redacted(text, tuple(params))


INTERIM = InterimDialect()


@dataclass(frozen=True, slots=True)
class KillTarget:
    thread_id: int
    query_only: bool


def kill_target(text: str, state: InterimState) -> KillTarget | None:
    """``KILL [QUERY | CONNECTION] <id>``: the thread it names."""
    del state
    found = re.fullmatch(r"\s*kill\s+(query\s+|connection\s+)?(\d+)\s*;?\s*", text, re.IGNORECASE)
    if found is None:
        return None
    return KillTarget(int(found.group(2)), (found.group(1) or "").strip().lower() == "query")
