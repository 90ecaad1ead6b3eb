"""Errors of the store package.

Everything the store raises for a storage problem is a :class:`StoreError`; the driver's and
SQLAlchemy's exceptions are turned into the most specific class below at the store's boundary
(``raise ... from exc``), so callers never catch ``sqlalchemy`` or ``asyncpg`` types. Domain errors
(:mod:`approvals.errors`) raised inside a transaction pass through untouched, after the rollback::

    StoreError                  code
    ├── Unavailable             store_unavailable   the store cannot take a write now: it cannot
    │   │                                           be reached, it stayed busy/locked past the
    │   │                                           timeout, it is read-only, or it fails to
    │   │                                           read or write its files (I/O error)
    │   └── StoreFull           store_full          its disk is full (SQLite "database or disk is
    │                                               full", PostgreSQL 53100 / "could not extend
    │                                               file" / "No space left on device")
    ├── IntegrityError          store_integrity     a write broke a constraint: a duplicate id,
    │   │                                           an unknown parent row, a second vote
    │   └── StaleWrite          store_stale_write   an update found its row gone or changed
    │                                               since it was read (lost update prevented)
    ├── InvalidRecord           store_invalid       a record the store cannot keep as it is:
    │                                               details that are not JSON, text that is not
    │                                               UTF-8, a value its column refuses
    ├── MigrationError          store_migration     the schema could not be brought to the
    │                                               wanted revision
    └── CheckpointError         audit_checkpoint    an audit checkpoint cannot be made, read or
                                                    trusted (key, file, or the chain under it)

An :class:`Unavailable` is a condition of the store, not of what was written: the same write may
succeed later, so a writer keeps what it could not write and tries again. Its ``reason`` says
which condition in a few words a client may be shown (no address, no path): "disk full",
"read-only", "I/O error", "cannot open its file", "busy", "unreachable".

The driver's own error codes decide first (sqlite3's ``sqlite_errorcode``, the SQLSTATE asyncpg
reports), the message text where there is no code or the code does not say (docs/operations.md,
"Store outage").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by translate_errors: `airlock audit verify` reads without it
    import sqlalchemy.exc

__all__ = [
    "CheckpointError",
    "IntegrityError",
    "InvalidRecord",
    "MigrationError",
    "StaleWrite",
    "StoreError",
    "StoreFull",
    "Unavailable",
    "outage",
    "translate_errors",
]


class StoreError(Exception):
    """Base of the store's errors; ``code`` is stable and machine-readable."""

    code = "store_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unavailable(StoreError):
    """The store cannot take a write now; ``reason`` says why in a few words."""

    code = "store_unavailable"

    def __init__(self, message: str, *, reason: str = "unreachable") -> None:
        super().__init__(message)
        self.reason = reason


class StoreFull(Unavailable):
    code = "store_full"

    def __init__(self, message: str, *, reason: str = "disk full") -> None:
        super().__init__(message, reason=reason)


class IntegrityError(StoreError):
    code = "store_integrity"


class StaleWrite(IntegrityError):
    code = "store_stale_write"


class InvalidRecord(StoreError):
    code = "store_invalid"


class MigrationError(StoreError):
    code = "store_migration"


class CheckpointError(StoreError):
    code = "audit_checkpoint"


# SQLite's primary result codes (https://www.sqlite.org/rescode.html) that say the store cannot
# write now, whatever was written; an extended code carries its primary one in the low byte.
_SQLITE_OUTAGE = {
    5: "busy",  # SQLITE_BUSY: "database is locked" past the busy timeout
    6: "busy",  # SQLITE_LOCKED: "database table is locked"
    8: "read-only",  # SQLITE_READONLY: "attempt to write a readonly database"
    10: "I/O error",  # SQLITE_IOERR: "disk I/O error"
    13: "disk full",  # SQLITE_FULL: "database or disk is full"
    14: "cannot open its file",  # SQLITE_CANTOPEN: "unable to open database file"
    15: "busy",  # SQLITE_PROTOCOL: a WAL lock race that lasted too long
}

# SQLSTATEs (PostgreSQL Appendix A, "PostgreSQL Error Codes") that say the same: an exact code
# first, then its class (the first two characters).
_SQLSTATE_OUTAGE = {
    "53100": "disk full",  # disk_full
    "25006": "read-only",  # read_only_sql_transaction: a standby, or a read-only database
    "57P01": "unreachable",  # admin_shutdown
    "57P02": "unreachable",  # crash_shutdown
    "57P03": "unreachable",  # cannot_connect_now: starting up, shutting down, in recovery
    "58030": "I/O error",  # io_error
    "55P03": "busy",  # lock_not_available
    "57014": "busy",  # query_canceled: a statement timeout
}
_SQLSTATE_CLASS_OUTAGE = {
    "08": "unreachable",  # connection exception
    "53": "busy",  # insufficient resources: out of memory, too many connections, a limit
}

# The message text, for errors that carry no code (lower case; the first match decides).
_OUTAGE_TEXT = (
    ("database or disk is full", "disk full"),
    ("no space left on device", "disk full"),
    ("could not extend file", "disk full"),
    ("disk quota exceeded", "disk full"),
    ("attempt to write a readonly database", "read-only"),
    ("read-only transaction", "read-only"),
    ("read-only file system", "read-only"),
    ("disk i/o error", "I/O error"),
    ("input/output error", "I/O error"),
    ("unable to open database file", "cannot open its file"),
    ("database is locked", "busy"),
    ("database table is locked", "busy"),
    ("could not connect", "unreachable"),
    ("connection refused", "unreachable"),
    ("connect call failed", "unreachable"),
    ("connection was closed", "unreachable"),
    ("connection is closed", "unreachable"),
    ("connection reset", "unreachable"),
    ("terminating connection", "unreachable"),
    ("server closed", "unreachable"),
    ("the database system is", "unreachable"),
    ("timeout", "busy"),
    ("timed out", "busy"),
)


def outage(exc: BaseException) -> str | None:
    """Why ``exc`` (a driver's exception, or SQLAlchemy's around one) says the store cannot
    write now, in a few words ("disk full", "read-only", ...); None when it says something
    else (a constraint, a bad statement, corruption)."""
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _SQLITE_OUTAGE:
        return _SQLITE_OUTAGE[code & 0xFF]
    state = getattr(orig, "sqlstate", None) or getattr(orig.__cause__, "sqlstate", None)
    if isinstance(state, str) and len(state) == 5:
        found = _SQLSTATE_OUTAGE.get(state) or _SQLSTATE_CLASS_OUTAGE.get(state[:2])
        if found is not None:
            return found
    # No code, or one that does not say (PostgreSQL reports a file it cannot write for an
    # errno it does not map as XX000, EROFS as 42501): the words do.
    text = str(orig).lower()
    return next((reason for part, reason in _OUTAGE_TEXT if part in text), None)


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn SQLAlchemy / driver / socket exceptions raised in the block into StoreErrors."""
    import sqlalchemy.exc  # noqa: PLC0415  (loaded already wherever a block can raise one)

    try:
        yield
    except StoreError:
        raise
    except sqlalchemy.exc.IntegrityError as exc:
        raise IntegrityError(_first_line(exc)) from exc
    except sqlalchemy.exc.TimeoutError as exc:
        raise Unavailable(f"no database connection free in time: {exc}", reason="busy") from exc
    except sqlalchemy.exc.DBAPIError as exc:
        raise _dbapi_error(exc) from exc
    except (OSError, ConnectionError) as exc:
        raise Unavailable(f"database unreachable: {exc}") from exc
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StoreError(_first_line(exc)) from exc


def _dbapi_error(exc: sqlalchemy.exc.DBAPIError) -> StoreError:
    """The StoreError a driver's error stands for: the store's condition first (its code, then
    its text), then a lost connection, then a value the database refused."""
    import sqlalchemy.exc  # noqa: PLC0415  (see translate_errors)

    message = _first_line(exc)
    reason = outage(exc)
    if reason == "disk full":
        return StoreFull(message)
    if reason is not None:
        return Unavailable(message, reason=reason)
    if exc.connection_invalidated or isinstance(exc, sqlalchemy.exc.InterfaceError):
        return Unavailable(message)
    if _invalid(exc):
        return InvalidRecord(message)
    return StoreError(message)


def _invalid(exc: sqlalchemy.exc.DBAPIError) -> bool:
    """The database refused a value as it is: too big, or not of its column's type."""
    import sqlalchemy.exc  # noqa: PLC0415  (see translate_errors)

    if isinstance(exc, sqlalchemy.exc.DataError):
        return True
    orig = exc.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (18, 20)  # SQLITE_TOOBIG, SQLITE_MISMATCH
    state = getattr(orig, "sqlstate", None)
    return isinstance(state, str) and state.startswith("22")  # data exception


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
