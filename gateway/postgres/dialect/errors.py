"""Errors of the PostgreSQL dialect: results it cannot mask safely.

The guardrails' errors (``gateway.guardrails.errors``) and the masking configuration's
(``gateway.masking.errors``) are the dialect-neutral ones; these extend the latter::

    MaskingInputError (gateway.masking)     the row must not be forwarded (drop the session)
    ├── InvalidColumnDescriptionError       a RowDescription field out of range
    └── MalformedDataRowError               a DataRow whose structure is inconsistent, or a
                                            binary value that does not fit its type
"""

from __future__ import annotations

from gateway.masking import MaskingInputError

__all__ = ["InvalidColumnDescriptionError", "MalformedDataRowError"]


class InvalidColumnDescriptionError(MaskingInputError):
    """A column description (from RowDescription) has an out-of-range field."""


class MalformedDataRowError(MaskingInputError):
    """A DataRow body is structurally inconsistent (count, lengths, trailing bytes)."""
