"""Column types shared by the tables and the migrations.

- :class:`UTCDateTime`: aware UTC datetimes in, aware UTC datetimes out, on both backends.
  PostgreSQL stores ``timestamptz``; SQLite stores SQLAlchemy's fixed-width text form of the naive
  UTC value, so text order is time order and comparisons in SQL stay correct.
- :data:`JSON_DOC`: JSON documents; ``jsonb`` on PostgreSQL (indexable, ``@>``).
- :data:`JSON_EXACT`: JSON kept as written (``json`` on PostgreSQL), for values that are hashed
  and must read back identically (``jsonb`` would rewrite ``1e20`` as ``100000000000000000000``).
- :data:`BIGID`: a 64-bit surrogate key that is SQLite's rowid alias there (``INTEGER PRIMARY
  KEY``), so it autoincrements on both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

__all__ = ["BIGID", "JSON_DOC", "JSON_EXACT", "UTCDateTime"]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime; naive datetimes are refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSON_DOC = JSON().with_variant(JSONB(), "postgresql")
JSON_EXACT = JSON()
BIGID = BigInteger().with_variant(Integer(), "sqlite")
