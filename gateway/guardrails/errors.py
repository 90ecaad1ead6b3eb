"""Errors of the SQL guardrails.

Classification never raises: text it cannot read becomes an ``unknown`` statement, which the
rules hold. Errors are for bad configuration and for telling a client that a statement was
blocked::

    InspectionError                       sqlstate
    ├── RuleError    (also ValueError)    F0000   a [[connections.rules]] entry is invalid;
    │                                             names the entry and the key
    └── StatementBlocked                  42501   a verdict said block; carries the Verdict,
                                                  the message names the rule

The PostgreSQL session turns ``StatementBlocked`` into an ErrorResponse with its ``sqlstate``
(42501 insufficient_privilege, as ARCHITECTURE.md's contract says) and its ``message``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.guardrails.rules import Verdict

__all__ = ["InspectionError", "RuleError", "StatementBlocked"]


class InspectionError(Exception):
    """Base of the guardrails' errors."""

    sqlstate = "XX000"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RuleError(InspectionError, ValueError):
    """A guardrail rule from the configuration is invalid (bad key, action, kind or regex)."""

    sqlstate = "F0000"

    def __init__(self, message: str, *, rule: str | None = None, key: str | None = None) -> None:
        where = f"rule {rule!r}" if rule else "rule"
        if key:
            where = f"{where}, key {key!r}"
        super().__init__(f"{where}: {message}")
        self.rule = rule
        self.key = key


class StatementBlocked(InspectionError):
    """A statement was blocked by a guardrail; ``verdict.rule`` names the rule."""

    sqlstate = "42501"

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(f"blocked by rule {verdict.rule}: {verdict.reason}")
        self.verdict = verdict
