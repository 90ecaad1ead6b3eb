"""Guardrail rules: the built-in ``default`` set, per-connection rules, and how they combine.

The default set (ARCHITECTURE.md): reads run; writes with positive evidence of a row filter run
(a column of the target pinned to a constant; PostgreSQL: dialect/bounds.py); destroying DDL,
DELETE / UPDATE / MERGE without that evidence, GRANT/REVOKE, role and configuration changes are
held; server-side escapes are blocked; anything unclassifiable is held. Renames and moves destroy a
name (held); undoing a read-only default is a configuration change (held); reading the server's
configuration is a privilege (held); running SQL given as text is an escape (blocked). Each
kind has one action:

    allow  read, write, row_lock, ddl (non-destroying), transaction, session
    hold   write_unbounded, destroy, privilege, config, procedural, review, lock, unknown
    block  server_escape, ambiguous

SELECT ... FOR UPDATE/SHARE is a read with kind ``row_lock`` and runs: its locks are the ones an
UPDATE with a WHERE (which runs) would take. LOCK TABLE, VACUUM FULL, CLUSTER, REINDEX and
two-phase commit (kind ``lock``) are held. A connection that wants row locks reviewed adds a
rule ``{name = "row-locks", action = "hold", kind = "row_lock"}``.

Per-connection rules (``[[connections.rules]]``) are checked for every statement, together with
the defaults, and never depend on their order:

- A ``hold`` or ``block`` rule that matches a statement raises its verdict to at least that
  action: custom rules can always make things stricter.
- An ``allow`` rule is an exception to the defaults: it waives the findings of the kinds it names
  (``kind`` is required) whose tables / function / text match it. Every table of the statement
  must match the rule's ``table`` patterns, the finding's function its ``function`` patterns.
  Findings of kind server_escape, ambiguous and unknown cannot be waived: blocks of the escape
  class, and text the gateway cannot read, are never loosened.
- The statement's verdict is the strictest remaining; a multi-statement text gets its worst
  statement's verdict (block > hold > allow).

Rule keys: ``name`` (shown in errors), ``action`` (allow | hold | block), and matches, each a
string or a list of strings: ``kind`` (the kinds above), ``table`` and ``function`` (glob
patterns, case-insensitive; a pattern with a dot matches ``schema.name``), ``regex`` (searched in
the statement's text: a last resort, since it also sees literals and comments). ``reason`` is an
optional text for the client and the approval card.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase

from gateway.guardrails.errors import RuleError
from gateway.guardrails.model import Classification, Finding, Kind, Statement

__all__ = [
    "DEFAULT_ACTIONS",
    "Action",
    "Rule",
    "Verdict",
    "judge",
    "parse_rules",
    "rules_from_config",
]


class Action(StrEnum):
    ALLOW = "allow"
    HOLD = "hold"
    BLOCK = "block"


_SEVERITY = {Action.ALLOW: 0, Action.HOLD: 1, Action.BLOCK: 2}
K = Kind
DEFAULT_ACTIONS: Mapping[Kind, Action] = {
    K.READ: Action.ALLOW,
    K.WRITE: Action.ALLOW,
    K.ROW_LOCK: Action.ALLOW,
    K.DDL: Action.ALLOW,
    K.TRANSACTION: Action.ALLOW,
    K.SESSION: Action.ALLOW,
    K.WRITE_UNBOUNDED: Action.HOLD,
    K.DESTROY: Action.HOLD,
    K.PRIVILEGE: Action.HOLD,
    K.CONFIG: Action.HOLD,
    K.PROCEDURAL: Action.HOLD,
    K.REVIEW: Action.HOLD,
    K.LOCK: Action.HOLD,
    K.UNKNOWN: Action.HOLD,
    K.SERVER_ESCAPE: Action.BLOCK,
    K.AMBIGUOUS: Action.BLOCK,
}
_RISK = {
    "low": (K.READ, K.TRANSACTION, K.SESSION, K.ROW_LOCK),
    "medium": (K.WRITE, K.DDL, K.CONFIG, K.REVIEW, K.LOCK),
    "high": (K.WRITE_UNBOUNDED, K.DESTROY, K.PRIVILEGE, K.PROCEDURAL, K.UNKNOWN),
    "critical": (K.SERVER_ESCAPE, K.AMBIGUOUS),
}
_RISK_OF = {kind: level for level, kinds in _RISK.items() for kind in kinds}
_RISK_ORDER = ("none", "low", "medium", "high", "critical")
UNWAIVABLE = frozenset([K.SERVER_ESCAPE, K.AMBIGUOUS, K.UNKNOWN])


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with a text: ``rule`` names the deciding rule (``default/<kind>`` or a custom
    rule's name), ``reason`` says why, ``risk`` is none | low | medium | high | critical."""

    action: Action
    rule: str
    reason: str
    risk: str
    kinds: frozenset[Kind] = frozenset()


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``[[connections.rules]]`` entry, validated by ``parse_rules``."""

    name: str
    action: Action
    kinds: frozenset[Kind] = frozenset()
    tables: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    reason: str | None = None

    def matches(self, statement: Statement) -> bool:
        """Statement-level match, for hold/block: any of each given criterion."""
        if self.kinds and not self.kinds & statement.kinds:
            return False
        if self.tables and not any(_any_match(self.tables, t, True) for t in statement.tables):
            return False
        if self.functions and not any(
            _any_match(self.functions, f, True) for f in statement.functions
        ):
            return False
        return self.regex is None or self.regex.search(statement.text) is not None

    def waives(self, finding: Finding, statement: Statement) -> bool:
        """Finding-level match, for allow: its kind, all tables, its function, the text."""
        if finding.kind in UNWAIVABLE or finding.kind not in self.kinds:
            return False
        if self.tables and not (
            statement.tables and all(_any_match(self.tables, t, False) for t in statement.tables)
        ):
            return False
        if self.functions and (
            finding.function is None or not _any_match(self.functions, finding.function, False)
        ):
            return False
        return self.regex is None or self.regex.search(statement.text) is not None


def _any_match(patterns: tuple[str, ...], name: str, loose: bool) -> bool:
    """Glob match, case-insensitive. A dotted pattern matches ``schema.name``; an unqualified
    name matches it only when ``loose`` (tightening rules), since its schema is unknown."""
    name = name.casefold()
    bare = name.rsplit(".", 1)[-1]
    for pattern in patterns:
        if "." not in pattern:
            if fnmatchcase(bare, pattern):
                return True
        elif "." in name:
            if fnmatchcase(name, pattern):
                return True
        elif loose and fnmatchcase(bare, pattern.rsplit(".", 1)[-1]):
            return True
    return False


def judge(classification: Classification, rules: Iterable[Rule] = ()) -> Verdict:
    """The verdict for a whole text: its worst statement's."""
    rules = tuple(rules)
    kinds = classification.kinds
    risk = max((_RISK_OF[k] for k in kinds), key=_RISK_ORDER.index, default="none")
    worst: tuple[Action, str, str] | None = None
    count = len(classification.statements)
    for index, statement in enumerate(classification.statements, start=1):
        action, rule, reason = _judge_statement(statement, rules)
        if count > 1:
            reason = f"statement {index} of {count}: {reason}"
        if worst is None or _SEVERITY[action] > _SEVERITY[worst[0]]:
            worst = (action, rule, reason)
    if worst is None:
        return Verdict(Action.ALLOW, "default", "empty statement", "none", kinds)
    return Verdict(worst[0], worst[1], worst[2], risk, kinds)


def _judge_statement(statement: Statement, rules: tuple[Rule, ...]) -> tuple[Action, str, str]:
    candidates: list[tuple[Action, str, str]] = []
    for rule in rules:
        if rule.action is not Action.ALLOW and rule.matches(statement):
            candidates.append((rule.action, rule.name, rule.reason or _describe(statement)))
    allowed_by: str | None = None
    for finding in statement.findings:
        waiver = next(
            (r for r in rules if r.action is Action.ALLOW and r.waives(finding, statement)), None
        )
        if waiver is not None:
            allowed_by = allowed_by or waiver.name
            continue
        action = DEFAULT_ACTIONS[finding.kind]
        candidates.append(
            (action, f"default/{finding.kind.value}", f"{finding.kind.value}: {finding.detail}")
        )
    best: tuple[Action, str, str] = (Action.ALLOW, allowed_by or "default", _describe(statement))
    for candidate in candidates:
        if _SEVERITY[candidate[0]] > _SEVERITY[best[0]]:
            best = candidate
    return best


def _describe(statement: Statement) -> str:
    kinds = ", ".join(sorted(k.value for k in statement.kinds)) or "nothing"
    return f"{statement.command}: {kinds}"


_KEYS = frozenset(["name", "action", "kind", "table", "function", "regex", "reason"])


def rules_from_config(
    guardrails: str = "default", entries: Iterable[Mapping[str, object]] = ()
) -> list[Rule]:
    """A connection's ``guardrails = "default"`` and ``[[connections.rules]]``, validated: the
    custom rules that go with the default set (the only set there is)."""
    if guardrails != "default":
        raise RuleError(f"unknown guardrails set {guardrails!r} (known: default)")
    return parse_rules(entries)


def parse_rules(entries: Iterable[Mapping[str, object]]) -> list[Rule]:
    """Validate ``[[connections.rules]]`` entries; raises ``RuleError`` naming the bad one."""
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        rule = _parse_rule(entry, index)
        if rule.name in seen:
            raise RuleError("duplicate rule name", rule=rule.name, key="name")
        seen.add(rule.name)
        rules.append(rule)
    return rules


def _parse_rule(entry: Mapping[str, object], index: int) -> Rule:
    if not isinstance(entry, Mapping):
        raise RuleError(f"entry #{index + 1} must be a table, got {type(entry).__name__}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f"entry #{index + 1} needs a non-empty name", key="name")
    if name.startswith("default"):
        raise RuleError("names starting with 'default' are reserved", rule=name, key="name")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise RuleError(f"unknown key(s) {', '.join(unknown)}", rule=name, key=unknown[0])
    try:
        action = Action(str(entry.get("action")))
    except ValueError:
        raise RuleError("action must be allow, hold or block", rule=name, key="action") from None
    kinds = frozenset(_kind(k, name) for k in _strings(entry, "kind", name))
    tables = tuple(p.casefold() for p in _strings(entry, "table", name))
    functions = tuple(p.casefold() for p in _strings(entry, "function", name))
    regex = _regex(entry.get("regex"), name)
    reason = entry.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise RuleError("reason must be a string", rule=name, key="reason")
    if action is Action.ALLOW:
        _check_allow(kinds, name)
    return Rule(name, action, kinds, tables, functions, regex, reason)


def _check_allow(kinds: frozenset[Kind], name: str) -> None:
    if not kinds:
        raise RuleError("an allow rule must name the kinds it allows", rule=name, key="kind")
    locked = sorted(k.value for k in kinds & UNWAIVABLE)
    if locked:
        raise RuleError(f"{', '.join(locked)} cannot be allowed", rule=name, key="kind")


def _strings(entry: Mapping[str, object], key: str, rule: str) -> list[str]:
    value = entry.get(key)
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise RuleError("must be a non-empty string or a list of them", rule=rule, key=key)
    return list(items)


def _kind(value: str, rule: str) -> Kind:
    try:
        return Kind(value.strip().lower())
    except ValueError:
        known = ", ".join(k.value for k in Kind)
        raise RuleError(f"unknown kind {value!r} (known: {known})", rule=rule, key="kind") from None


def _regex(value: object, rule: str) -> re.Pattern[str] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RuleError("regex must be a string", rule=rule, key="regex")
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise RuleError(f"invalid regex: {exc}", rule=rule, key="regex") from exc
