"""``MYSQL``: the MySQL dialect as the session core sees it (a ``guardrails.Dialect``).

The composition root maps the connection type ``mysql`` to it. Its rule set (``Guardrails``)
caches verdicts by exact text and by literal shape.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.guardrails import Classification, Rule
from gateway.masking import MaskingRules
from gateway.mysql.dialect.classify import classify
from gateway.mysql.dialect.guardrails import Guardrails
from gateway.mysql.dialect.masking import MySQLMasking
from gateway.mysql.dialect.redact import redact
from gateway.mysql.dialect.state import MySQLState

__all__ = ["MYSQL", "MySQLDialect"]


class MySQLDialect:
    """A lexer pre-pass and sqlglot read the text; ColumnDefinition41 and text rows carry the
    results masking sees."""

    __slots__ = ()

    name = "mysql"
    state_type = MySQLState

    def classify(self, text: str, state: MySQLState) -> Classification:
        """Every statement of ``text`` (``gateway.mysql.dialect.classify``)."""
        return classify(text, state)

    def guardrails(self, rules: Sequence[Rule]) -> Guardrails:
        """The rule set with its verdict cache (exact text, then literal shape)."""
        return Guardrails(rules)

    def masking(self, rules: MaskingRules) -> MySQLMasking | None:
        """The masking policy, or None when ``rules`` mask nothing."""
        if rules.is_empty:
            return None
        return MySQLMasking(rules)

    # secrets replaced for display and storage (``gateway.mysql.dialect.redact``)
    redact = staticmethod(redact)


MYSQL = MySQLDialect()
