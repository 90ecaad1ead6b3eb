"""Errors of the guardrails, in every dialect.

Classification never raises: text it cannot read becomes an ``unknown`` statement, which the
rules hold. Errors are for bad configuration and for telling a client that a statement was
blocked::

    GuardrailError                        sqlstate
    ├── RuleError    (also ValueError)    F0000   a [[connections.rules]] entry is invalid;
    │                                             names the entry and the key
    └── StatementBlocked                  42501   a verdict said block; carries the Verdict,
                                                  the message names the rule

A session turns ``StatementBlocked`` into its protocol's error with ``sqlstate`` (42501
insufficient_privilege, as ARCHITECTURE.md's contract says; a MySQL session maps it to its own
error code) and ``message``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.guardrails.rules import Verdict

__all__ = ["GuardrailError", "RuleError", "StatementBlocked"]


class GuardrailError(Exception):
    """Base of the guardrails' errors."""

    sqlstate = "XX000"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RuleError(GuardrailError, ValueError):
    """A guardrail rule from the configuration is invalid (bad key, action, kind or regex)."""

    sqlstate = "F0000"

    def __init__(self, message: str, *, rule: str | None = None, key: str | None = None) -> None:
        where = f"rule {rule!r}" if rule else "rule"
        if key:
            where = f"{where}, key {key!r}"
        super().__init__(f"{where}: {message}")
        self.rule = rule
        self.key = key


class StatementBlocked(GuardrailError):
    """A statement was blocked by a guardrail; ``verdict.rule`` names the rule."""

    sqlstate = "42501"

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(f"blocked by rule {verdict.rule}: {verdict.reason}")
        self.verdict = verdict
