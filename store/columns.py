"""Column types shared by the tables and the migrations.

- :class:`UTCDateTime`: aware UTC datetimes in, aware UTC datetimes out, on both backends.
  PostgreSQL stores ``timestamptz``; SQLite stores SQLAlchemy's fixed-width text form of the naive
  UTC value, so text order is time order and comparisons in SQL stay correct.
- :data:`JSON_DOC`: JSON documents; ``jsonb`` on PostgreSQL (indexable, ``@>``).
- :data:`JSON_EXACT`: JSON kept as written (``json`` on PostgreSQL), for values that are hashed
  and must read back identically (``jsonb`` would rewrite ``1e20`` as ``100000000000000000000``).
- :class:`JSONText` and :func:`json_serializer`: a value for a JSON column that already is JSON
  text is written as it is (the audit chain encodes its details once, for the hash and the row);
  any other value is encoded as SQLAlchemy would (``json.dumps``). Engines are made with this
  serializer (:mod:`store.engine`).
- :data:`BIGID`: a 64-bit surrogate key that is SQLite's rowid alias there (``INTEGER PRIMARY
  KEY``), so it autoincrements on both backends.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

__all__ = ["BIGID", "JSON_DOC", "JSON_EXACT", "JSONText", "UTCDateTime", "json_serializer"]


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


class JSONText(str):
    """JSON text, for a JSON column: written as it is, not encoded again."""

    __slots__ = ()


def json_serializer(value: Any) -> str:
    """The engines' JSON encoder: JSONText as it is, anything else as ``json.dumps`` would."""
    return value if type(value) is JSONText else json.dumps(value)


JSON_DOC = JSON().with_variant(JSONB(), "postgresql")
JSON_EXACT = JSON()
BIGID = BigInteger().with_variant(Integer(), "sqlite")
