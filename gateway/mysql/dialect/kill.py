"""``kill_target(text, state)``: the thread a ``KILL`` statement names, so the listener can
recognise the mysql client's Ctrl-C (``KILL QUERY <id>`` sent on a second connection; MySQL
8.0 Reference Manual 15.7.8.4 "KILL Statement"; MariaDB's ``KILL [HARD | SOFT] [CONNECTION |
QUERY [ID]] n``). Only the exact form with one literal thread id is recognised; any other KILL
is classified (and blocked) like every statement.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.mysql.dialect.errors import LexError
from gateway.mysql.dialect.lexer import TokenType, lex
from gateway.mysql.dialect.state import MySQLState

__all__ = ["KillTarget", "kill_target"]


@dataclass(frozen=True, slots=True)
class KillTarget:
    """``KILL QUERY n`` (``query_only``) or ``KILL [CONNECTION] n``."""

    thread_id: int
    query_only: bool


def kill_target(text: str, state: MySQLState) -> KillTarget | None:
    """The target of a single ``KILL`` statement in ``text``; None for anything else."""
    if "kill" not in text[:64].lower():
        return None
    try:
        tokens = lex(
            text,
            ansi_quotes=state.ansi_quotes,
            no_backslash_escapes=state.no_backslash_escapes,
        )
    except LexError:
        return None
    while tokens and tokens[-1].type is TokenType.SEMI:
        tokens.pop()
    if len(tokens) < 2 or not tokens[0].is_word("KILL"):
        return None
    words = tokens[1:-1]
    last = tokens[-1]
    if last.type is not TokenType.NUMBER or not last.value.isdigit():
        return None
    if words and words[0].is_word("HARD", "SOFT"):
        words = words[1:]
    query_only = False
    if words and words[0].is_word("QUERY"):
        query_only, words = True, words[1:]
        if words and words[0].is_word("ID"):
            words = words[1:]
    elif words and words[0].is_word("CONNECTION"):
        words = words[1:]
    if words:
        return None
    return KillTarget(int(last.value), query_only)
