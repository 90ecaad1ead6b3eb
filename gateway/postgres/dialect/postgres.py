"""``POSTGRES``: the PostgreSQL dialect as the session core sees it (a ``guardrails.Dialect``).

The composition root maps the connection type ``postgres`` to it; ``PgTarget`` is the session
core's ``Target`` with this dialect's session state and masking policy, as the PostgreSQL
listener holds it.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.guardrails import Classification, Rule
from gateway.masking import MaskingRules
from gateway.postgres.dialect.classify import classify
from gateway.postgres.dialect.guardrails import Guardrails
from gateway.postgres.dialect.plan import MaskingPolicy
from gateway.postgres.dialect.redact import redact
from gateway.postgres.dialect.state import SessionState
from gateway.sessions import Target

__all__ = ["POSTGRES", "PgTarget", "PostgresDialect"]


class PostgresDialect:
    """pglast (libpg_query: the server's own grammar) reads the text; RowDescription and DataRow
    carry the results masking sees."""

    __slots__ = ()

    name = "postgres"
    state_type = SessionState

    def classify(self, text: str, state: SessionState) -> Classification:
        """Every statement of ``text`` (``gateway.postgres.dialect.classify``)."""
        return classify(text, state)

    def guardrails(self, rules: Sequence[Rule]) -> Guardrails:
        """The rule set, with the literal-shape and fingerprint cache levels."""
        return Guardrails(rules)

    def masking(self, rules: MaskingRules) -> MaskingPolicy | None:
        """The masking policy (row plans per RowDescription), or None when nothing is masked."""
        if rules.is_empty:
            return None
        return MaskingPolicy(rules.columns, rules.detectors)

    # The text and bound values as shown and stored, secrets replaced
    # (``gateway.postgres.dialect.redact``); the function itself: the journal calls it for
    # every text new to a session, and a method's frame would cost what the memo saves.
    redact = staticmethod(redact)


POSTGRES = PostgresDialect()
PgTarget = Target[SessionState, MaskingPolicy]
