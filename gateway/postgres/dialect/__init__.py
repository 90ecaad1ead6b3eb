"""The PostgreSQL dialect: how a PostgreSQL text is classified, and how its results are masked.

``POSTGRES`` is the dialect object (``gateway.guardrails.Dialect``) the composition root hands
to the session core; the vocabulary (kinds, rules, verdicts, detectors) is
``gateway.guardrails`` and ``gateway.masking``. Pure code, no I/O. Use::

    guardrails = Guardrails.from_config("default", connection_rules)   # RuleError if bad
    verdict = guardrails.evaluate(sql, state)       # Verdict(action, rule, reason, risk, kinds)

``classify(sql, state)`` (pglast, the server's own grammar) gives the details (every statement,
its kinds with reasons, tables, functions, state effects); ``Guardrails.judge(classification)``
turns one into a verdict. Masking: ``MaskingPolicy`` gives a ``RowPlan`` per RowDescription
(``plan``, by type OID in ``pgtypes``, actions by type and format in ``actions``), which
rewrites DataRow messages (``datarow``); ``Lineage`` finds outputs computed from masked columns
(``outputs``); ``Leaks`` finds the statements that would take a masked value out any other way
(``leaks``, ``copies``), which a masking session refuses.

What the PostgreSQL session keeps in ``SessionState`` (a frozen value; replace it, never mutate):

- ``standard_conforming_strings``: from ParameterStatus (sent at startup and on every change).
  With it off, a backslash inside a plain '...' literal is blocked (``ambiguous``).
- ``search_path``: at startup (ParameterStatus where the server reports it, else
  ``SHOW search_path``); set ``default_search_path`` to the same value. After a statement runs,
  ``state.apply(classification)`` folds in SET/RESET search_path, SET ROLE, PREPARE, DEALLOCATE
  and DISCARD ALL. None means unknown: every unqualified function and operator is then held.
  A change that relaxes what verdicts depend on is kept only once it surely outlives its
  transaction (gateway.postgres.effects): the server undoes a SET its transaction rolls back.
- ``prepared``: at Parse of a named statement, ``verdict, classification =
  guardrails.inspect(sql, state)``; after ParseComplete, ``state.with_prepared(name,
  classification)``; at Bind/Execute, ``guardrails.judge(state.prepared[name])`` (an unknown
  name is refused); after CloseComplete, ``state.without_prepared(name)``. SQL PREPARE and
  protocol Parse share one namespace in the server, and here.
- ``in_transaction``: from ReadyForQuery ('T' / 'E'); recorded, not used by the default rules
  (a read-only transaction is not a boundary).
- ``role``: informational (cards, audit); from startup and ``apply``.

Classify a pipelined message against the state it will run in: after a statement with effects
(config, privilege or session kinds), re-classify what follows once it has run. COPY data
(CopyData messages) is not SQL and is not classified.

What a statement classifier cannot see, and so needs a least-privilege upstream role as well:
code that runs implicitly from objects already in the database (views, triggers, rules, column
defaults, RLS policies, user types' I/O and subscripting, user operators overloading built-in
symbols for user types), a user function called with attribute notation (``t.my_fn`` is
``my_fn(t)`` and looks like a column; deny-listed names in that position are caught), and
predicates true for every row because of the data (``id > 0``). The function lists
(``catalog``) are an audit of PostgreSQL 15's pg_catalog (``tests/gateway/postgres/dialect/
test_function_catalogue.py``): a function a later version adds is allowed when called
``pg_catalog.``-qualified until the audit is re-run against that version.
"""

from gateway.postgres.dialect.classify import classify
from gateway.postgres.dialect.datarow import encode_datarow, parse_datarow_body
from gateway.postgres.dialect.errors import InvalidColumnDescriptionError, MalformedDataRowError
from gateway.postgres.dialect.guardrails import Guardrails
from gateway.postgres.dialect.leaks import Leak, Leaks
from gateway.postgres.dialect.lineage import Lineage
from gateway.postgres.dialect.plan import (
    CatalogNames,
    ColumnDescription,
    Derivation,
    MaskingPolicy,
    PlannedColumn,
    RowPlan,
)
from gateway.postgres.dialect.postgres import POSTGRES, PgTarget, PostgresDialect
from gateway.postgres.dialect.state import SessionState, parse_search_path

__all__ = [
    "POSTGRES",
    "CatalogNames",
    "ColumnDescription",
    "Derivation",
    "Guardrails",
    "InvalidColumnDescriptionError",
    "Leak",
    "Leaks",
    "Lineage",
    "MalformedDataRowError",
    "MaskingPolicy",
    "PgTarget",
    "PlannedColumn",
    "PostgresDialect",
    "RowPlan",
    "SessionState",
    "classify",
    "encode_datarow",
    "parse_datarow_body",
    "parse_search_path",
]
