"""The MySQL dialect: how a MySQL (or MariaDB) text is classified, and how its results are
masked. Pure code, no I/O; the decisions are in docs/mysql-guardrails.md.

``MYSQL`` is the dialect object (``gateway.guardrails.Dialect``) the composition root hands to
the session core. Use::

    guardrails = MYSQL.guardrails(rules_from_config("default", connection_rules))
    verdict = guardrails.evaluate(sql, state)           # state: MySQLState
    state = state.after(sql)                            # once it ran (sql_mode, USE, PREPARE)
    target = kill_target(sql, state)                    # KILL QUERY n: the client's Ctrl-C
    shown = MYSQL.redact(sql, params)                   # secrets replaced, for cards and logs
    masking = MYSQL.masking(rules)                      # MySQLMasking | None
    leak = masking.check(sql, state)                    # Leak | None: refuse the text
    derived = masking.derived(sql, state)               # outputs computed from a masked column
    mask = masking.plan(columns, state.database, derived=derived)  # RowMask | None
    row = mask.row(values, tally)                       # text-protocol values
    message = masking.error_message(err_message, sent)  # values in ERR texts masked

``classify(text, state)``: a lexer pre-pass (``lexer``: executable comments, ``#`` and
``-- `` comments, sql_mode's ANSI_QUOTES and NO_BACKSLASH_ESCAPES) in front of sqlglot's MySQL
dialect; every statement with its kinds (``gateway.guardrails``).

What the listener keeps in ``MySQLState`` (a frozen value; replace it, never mutate):
``sql_mode`` (read at connect with ``SELECT @@sql_mode`` and ``with_sql_mode``; afterwards
``after(text)`` folds in every ``SET sql_mode``; a session-tracking report may correct it),
``database`` (the handshake's, COM_INIT_DB: ``with_database``; ``USE`` through ``after``),
SQL-level ``prepared`` statements (through ``after``; COM_RESET_CONNECTION:
``without_prepared(None)``). Protocol-level prepared statements (COM_STMT_PREPARE) are
classified at prepare with ``guardrails.inspect`` and judged at execute by the listener.
"""

from gateway.mysql.dialect.classify import classify
from gateway.mysql.dialect.errors import LexError, MalformedRowError, MySQLDialectError
from gateway.mysql.dialect.guardrails import Guardrails, general_shape
from gateway.mysql.dialect.kill import KillTarget, kill_target
from gateway.mysql.dialect.leaks import ALL_OUTPUTS, Leak
from gateway.mysql.dialect.masking import ColumnOrigin, MySQLMasking, PlannedColumn, RowMask
from gateway.mysql.dialect.mysql import MYSQL, MySQLDialect
from gateway.mysql.dialect.redact import redact
from gateway.mysql.dialect.state import MySQLState, SqlMode, parse_sql_mode

__all__ = [
    "ALL_OUTPUTS",
    "MYSQL",
    "ColumnOrigin",
    "Guardrails",
    "KillTarget",
    "Leak",
    "LexError",
    "MalformedRowError",
    "MySQLDialect",
    "MySQLDialectError",
    "MySQLMasking",
    "MySQLState",
    "PlannedColumn",
    "RowMask",
    "SqlMode",
    "classify",
    "general_shape",
    "kill_target",
    "parse_sql_mode",
    "redact",
]
