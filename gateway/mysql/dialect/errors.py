"""Errors of the MySQL dialect.

Classification and redaction never raise: what the lexer cannot read becomes an ``unknown``
statement (held), a text two server versions read differently ``ambiguous`` (blocked)::

    MySQLDialectError
    └── LexError              the pre-pass cannot read a text (internal: classify turns it
                              into ``unknown``, or ``ambiguous`` when ``ambiguous`` is set)

    MaskingInputError (gateway.masking)   the row must not be forwarded (drop the session)
    └── MalformedRowError     a row handed to ``RowMask.row`` does not match its columns
"""

from __future__ import annotations

from gateway.masking import MaskingInputError

__all__ = ["LexError", "MalformedRowError", "MySQLDialectError"]


class MySQLDialectError(Exception):
    """Base of the MySQL dialect's errors."""


class LexError(MySQLDialectError):
    """The lexer cannot read the text; ``ambiguous`` when readings of it differ."""

    def __init__(self, message: str, *, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous


class MalformedRowError(MaskingInputError):
    """A row's values do not match the columns its mask was planned for."""
