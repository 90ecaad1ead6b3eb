"""Errors of the store package.

Everything the store raises for a storage problem is a :class:`StoreError`; the driver's and
SQLAlchemy's exceptions are turned into the most specific class below at the store's boundary
(``raise ... from exc``), so callers never catch ``sqlalchemy`` or ``asyncpg`` types. Domain errors
(:mod:`approvals.errors`) raised inside a transaction pass through untouched, after the rollback::

    StoreError                  code
    ├── Unavailable             store_unavailable   cannot reach the database, or it stayed
    │                                               busy/locked past the timeout
    ├── IntegrityError          store_integrity     a write broke a constraint: a duplicate id,
    │   │                                           an unknown parent row, a second vote
    │   └── StaleWrite          store_stale_write   an update found its row gone or changed
    │                                               since it was read (lost update prevented)
    ├── MigrationError          store_migration     the schema could not be brought to the
    │                                               wanted revision
    └── CheckpointError         audit_checkpoint    an audit checkpoint cannot be made, read or
                                                    trusted (key, file, or the chain under it)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy.exc

__all__ = [
    "CheckpointError",
    "IntegrityError",
    "MigrationError",
    "StaleWrite",
    "StoreError",
    "Unavailable",
    "translate_errors",
]


class StoreError(Exception):
    """Base of the store's errors; ``code`` is stable and machine-readable."""

    code = "store_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unavailable(StoreError):
    code = "store_unavailable"


class IntegrityError(StoreError):
    code = "store_integrity"


class StaleWrite(IntegrityError):
    code = "store_stale_write"


class MigrationError(StoreError):
    code = "store_migration"


class CheckpointError(StoreError):
    code = "audit_checkpoint"


_UNAVAILABLE_TEXT = (
    "database is locked",
    "could not connect",
    "connection refused",
    "connection was closed",
    "connection is closed",
    "connection reset",
    "terminating connection",
    "server closed",
    "the database system is",
    "timeout",
    "timed out",
)


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn SQLAlchemy / driver / socket exceptions raised in the block into StoreErrors."""
    try:
        yield
    except StoreError:
        raise
    except sqlalchemy.exc.IntegrityError as exc:
        raise IntegrityError(_first_line(exc)) from exc
    except sqlalchemy.exc.TimeoutError as exc:
        raise Unavailable(f"no database connection free in time: {exc}") from exc
    except sqlalchemy.exc.DBAPIError as exc:
        text = str(exc.orig).lower()
        lost = exc.connection_invalidated or isinstance(exc, sqlalchemy.exc.InterfaceError)
        if lost or any(part in text for part in _UNAVAILABLE_TEXT):
            raise Unavailable(_first_line(exc)) from exc
        raise StoreError(_first_line(exc)) from exc
    except (OSError, ConnectionError) as exc:
        raise Unavailable(f"database unreachable: {exc}") from exc
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StoreError(_first_line(exc)) from exc


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
