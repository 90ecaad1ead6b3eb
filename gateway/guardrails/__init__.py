"""Guardrails in every dialect: what a command does (kinds, with reasons), and what to do.

``Kind``, ``Finding``, ``Effect``, ``Statement`` and ``Classification`` say what a dialect's
classifier read in a command text; ``judge`` turns a classification into a ``Verdict`` with the
``DEFAULT_ACTIONS`` per kind and a connection's ``Rule``s (``parse_rules``). PostgreSQL's
classifier is ``gateway.postgres.dialect``.
"""

from gateway.guardrails.errors import InspectionError, RuleError, StatementBlocked
from gateway.guardrails.model import Classification, Effect, Finding, Kind, Statement
from gateway.guardrails.rules import DEFAULT_ACTIONS, Action, Rule, Verdict, judge, parse_rules

__all__ = [
    "DEFAULT_ACTIONS",
    "Action",
    "Classification",
    "Effect",
    "Finding",
    "InspectionError",
    "Kind",
    "Rule",
    "RuleError",
    "Statement",
    "StatementBlocked",
    "Verdict",
    "judge",
    "parse_rules",
]
