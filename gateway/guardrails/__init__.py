"""Guardrails in every dialect: what a command does (kinds, with reasons), and what to do.

Use::

    rules = rules_from_config("default", connection_rules)  # RuleError if bad
    guardrails = dialect.guardrails(rules)                  # a RuleSet over its classifier
    verdict = guardrails.evaluate(text, state)              # Verdict(action, rule, reason, ...)

A dialect (``Dialect``: PostgreSQL's is ``gateway.postgres.dialect``) reads a command text
against its session state into a ``Classification``: every statement with its ``Finding``s
(a ``Kind`` and why), tables, functions and state ``Effect``s. ``judge`` turns one into a
``Verdict`` with the ``DEFAULT_ACTIONS`` per kind and the connection's ``Rule``s; ``RuleSet``
does that with a verdict cache. Nothing here parses: no parser, no protocol is imported.
"""

from gateway.guardrails.dialect import REDACTED, Dialect, Redacted, Redactor
from gateway.guardrails.errors import GuardrailError, RuleError, StatementBlocked
from gateway.guardrails.model import (
    Classification,
    Effect,
    Finding,
    Kind,
    Statement,
    unclassifiable,
)
from gateway.guardrails.rules import (
    DEFAULT_ACTIONS,
    Action,
    Rule,
    Verdict,
    judge,
    parse_rules,
    rules_from_config,
)
from gateway.guardrails.ruleset import DialectState, Entry, RuleSet

__all__ = [
    "DEFAULT_ACTIONS",
    "REDACTED",
    "Action",
    "Classification",
    "Dialect",
    "DialectState",
    "Effect",
    "Entry",
    "Finding",
    "GuardrailError",
    "Kind",
    "Redacted",
    "Redactor",
    "Rule",
    "RuleError",
    "RuleSet",
    "Statement",
    "StatementBlocked",
    "Verdict",
    "judge",
    "parse_rules",
    "rules_from_config",
    "unclassifiable",
]
