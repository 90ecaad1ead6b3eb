"""A SQLite store's audit chain, reviews and decisions read with the standard library's
:mod:`sqlite3`, for ``airlock audit verify``: the command then starts without SQLAlchemy, the
ORM and Alembic (about a second of imports; docs/benchmarks.md, "Approvals and the command
line"). Only the reading is here: the rows go through the same checks as the store's own
reading (:class:`store.chain.ChainWalk`, :func:`store.anchor_check.anchor_report`,
:func:`store.agreement_check.compare`).

The values are read back as SQLAlchemy reads these columns on SQLite: a time is
``datetime.fromisoformat`` of the stored text, taken as UTC when naive (``UTCDateTime``); a JSON
column is ``json.loads`` of its text, a number stored there is that number (SQLAlchemy's
SQLite JSON type); a boolean is ``bool`` of the stored integer. A value that cannot be read so
breaks the chain at its event (the store's reading raises there instead).

All reads run in one read transaction: one snapshot of the file, even while a gateway writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.agreement_check import (
    EVENT_COLUMNS,
    REVIEW_ACTIONS,
    StoredDecision,
    StoredReview,
    compare,
)
from store.anchor_check import AnchorReport, anchor_report, checkpointed_seqs
from store.chain import EVENT_FIELDS, GENESIS, ChainWalk, VerifyResult
from store.errors import StoreError

if TYPE_CHECKING:
    from store.checkpoints import CheckpointLine

__all__ = ["FileVerdict", "store_revision", "verify_file"]

_CHAIN_COLUMNS = (*EVENT_FIELDS, "hash")
_REVIEW_COLUMNS = (
    "id", "kind", "state", "requester_subject", "connection", "statement", "access_role",
    "access_duration_s", "access_reason",
)  # fmt: skip
_DECISION_COLUMNS = (
    "id", "review_id", "position", "approver_subject", "outcome", "reason", "break_glass",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FileVerdict:
    """What ``airlock audit verify`` reports: the chain's walk, its checkpoints' verdict (None
    when none are configured) and the disagreements of reviews and decisions with their events."""

    chain: VerifyResult
    anchor: AnchorReport | None
    disagreements: list[str]


@contextmanager
def _opened(path: str) -> Iterator[sqlite3.Connection]:
    """The file, opened for reading and writing as the store opens it, never created; the
    driver's errors become StoreErrors, as the store's reading turns them."""
    uri = Path(path).absolute().as_uri() + "?mode=rw"
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)) as conn:
            yield conn
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the store {path}: {exc}") from exc


def store_revision(path: str) -> str | None:
    """The Alembic revision the file's schema is at (None: never migrated)."""
    with _opened(path) as conn:
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:  # no such table
            return None
    return None if row is None else str(row[0])


def verify_file(
    path: str, lines: Sequence[CheckpointLine] | None, *, batch: int = 2000
) -> FileVerdict:
    """Walk the chain, check it against ``lines`` (None: no checkpoints configured) and compare
    the reviews and decisions with their events, all in one snapshot of the file."""
    with _opened(path) as conn:
        conn.execute("BEGIN")
        try:
            chain = _walk(conn, batch)
            anchor = None
            if lines is not None:
                stored = _hashes_at(conn, checkpointed_seqs(lines))
                anchor = anchor_report(chain, lines, stored)
            found = compare(*_review_rows(conn))
        finally:
            conn.execute("ROLLBACK")
    return FileVerdict(chain, anchor, found)


def _walk(conn: sqlite3.Connection, batch: int) -> VerifyResult:
    walk = ChainWalk()
    query = (
        f"SELECT {', '.join(_CHAIN_COLUMNS)} FROM audit_event "  # noqa: S608  (constants)
        "WHERE seq >= ? ORDER BY seq LIMIT ?"
    )
    while True:
        rows = conn.execute(query, (walk.expected_seq, batch)).fetchall()
        for values in rows:
            row = dict(zip(_CHAIN_COLUMNS, values, strict=True))
            try:
                row["at"] = _utc(row["at"])
                row["actor_chain"] = _json(row["actor_chain"])
                row["details"] = _json(row["details"])
            except (TypeError, ValueError) as exc:
                return walk.unreadable(row["seq"], str(exc))
            failed = walk.feed(row)
            if failed is not None:
                return failed
        if len(rows) < batch:
            return walk.result()


def _hashes_at(conn: sqlite3.Connection, seqs: Sequence[int]) -> dict[int, str]:
    """The stored ``hash`` of each event in ``seqs`` that exists (seq 0: GENESIS), as
    :func:`store.audit.hashes_at` reads it."""
    found = {0: GENESIS} if 0 in seqs else {}
    wanted = sorted({s for s in seqs if s > 0})
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        marks = ", ".join("?" * len(part))
        query = f"SELECT seq, hash FROM audit_event WHERE seq IN ({marks})"  # noqa: S608
        found.update({seq: digest for seq, digest in conn.execute(query, part)})
    return found


def _review_rows(
    conn: sqlite3.Connection,
) -> tuple[list[StoredReview], list[StoredDecision], list[tuple[Any, ...]]]:
    """The rows :func:`store.agreement.disagreements` reads, in the order it reads them."""
    reviews = [
        StoredReview(*row)
        for row in conn.execute(f"SELECT {', '.join(_REVIEW_COLUMNS)} FROM review")  # noqa: S608
    ]
    decisions = [
        StoredDecision(ident, review, position, approver, outcome, reason, _bool(glass))
        for ident, review, position, approver, outcome, reason, glass in conn.execute(
            f"SELECT {', '.join(_DECISION_COLUMNS)} FROM decision"  # noqa: S608  (constants)
        )
    ]
    marks = ", ".join("?" * len(REVIEW_ACTIONS))
    query = (
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM audit_event "  # noqa: S608  (constants)
        f"WHERE action IN ({marks}) ORDER BY seq"
    )
    events = [(*row[:-1], _json(row[-1])) for row in conn.execute(query, REVIEW_ACTIONS)]
    return reviews, decisions, events


def _utc(value: Any) -> datetime:
    """A stored time as ``UTCDateTime`` reads it on SQLite."""
    if not isinstance(value, str):
        raise TypeError(f"a time stored as {type(value).__name__}")
    at = datetime.fromisoformat(value)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _bool(value: Any) -> bool:
    """A stored boolean as SQLAlchemy's Boolean reads it on SQLite (NULL stays None)."""
    return None if value is None else bool(value)  # type: ignore[return-value]


def _json(value: Any) -> Any:
    """A stored JSON column as SQLAlchemy's SQLite JSON type reads it."""
    if value is None or isinstance(value, int | float):
        return value
    return json.loads(value)
