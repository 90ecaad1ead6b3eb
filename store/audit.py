"""The append-only, hash-chained audit log.

Each event has a ``seq`` (1, 2, 3, ... with no gaps), the previous event's hash (``prev_hash``;
:data:`GENESIS` for the first) and its own ``hash``: SHA-256 over the canonical JSON (sorted keys,
no whitespace, UTF-8) of all its fields, ``seq`` and ``prev_hash`` included. Editing, deleting,
inserting or reordering an event therefore breaks the chain at that event, and :func:`verify`
names the first event where it breaks. The chain alone cannot show a rewrite by someone who
recomputes every hash after an edit, nor events cut off the *end*: signed checkpoints of the
head, kept outside the store (:mod:`store.checkpoints`, :mod:`store.anchor`), show both.

Appends are serialised so ``seq`` and ``prev_hash`` never fork: on PostgreSQL every appender takes
``pg_advisory_xact_lock(AUDIT_LOCK)`` in its transaction before it reads the chain head; on SQLite
the write transaction began ``IMMEDIATE`` and already holds the database's write lock. The
transaction of :mod:`store.transaction` appends its entries last, just before it commits, so the
lock is held only for the inserts and the commit, and is always the last lock a transaction takes.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson
from sqlalchemy import ColumnElement, exists, func, insert, select, text, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from approvals.model import AuditEntry
from store.chain import (
    EVENT_FIELDS,
    GENESIS,
    ChainWalk,
    VerifyResult,
    _canonical_text,
    _time,
    chain_hash,
)
from store.columns import JSONText
from store.engine import Database
from store.errors import InvalidRecord
from store.mapping import audit_from_row
from store.records import AuditRecord
from store.tables import AuditEventRow, metadata

__all__ = [
    "AUDIT_LOCK",
    "GENESIS",
    "AuditFilter",
    "PlainDetails",
    "VerifyResult",
    "append_entries",
    "chain_hash",
    "event_fields",
    "export_audit",
    "hashes_at",
    "iter_audit",
    "select_audit",
    "verify",
]

AUDIT_LOCK = 0x4149524C4F434B01  # "AIRLOCK" + 1: the audit chain's advisory lock key
AUDIT_TABLE = "audit_event"
_ROW_FIELDS = (*EVENT_FIELDS, "hash")
_CSV_FIELDS = list(AuditRecord.__slots__)


# The stored fields around ``details``, in canonical (sorted) order: _spliced_hash writes the
# canonical JSON of an event from the details' canonical text without encoding them again.
_BEFORE_DETAILS = ("action", "actor_chain", "actor_subject", "at", "connection")
_AFTER_DETAILS = ("outcome", "prev_hash", "seq", "target")
_FIELDS = (*_BEFORE_DETAILS, "details", *_AFTER_DETAILS)
if sorted(_FIELDS) != list(_FIELDS):  # pragma: no cover - a guard on the constants above
    raise AssertionError("audit fields are not in canonical order")


def _spliced_hash(fields: dict[str, Any], details_text: str) -> str:
    """``chain_hash(fields)`` where ``details_text`` is the canonical text of the details."""
    before = _canonical_text(
        {k: _time(fields[k]) if k == "at" else fields[k] for k in _BEFORE_DETAILS}
    )
    after = _canonical_text({k: fields[k] for k in _AFTER_DETAILS})
    body = f'{before[:-1]},"details":{details_text},{after[1:]}'
    try:
        return hashlib.sha256(body.encode("utf-8")).hexdigest()
    except UnicodeEncodeError as exc:
        raise InvalidRecord(f"audit event is not UTF-8 text: {exc}") from exc


# Digits enough to be an integer beyond 64 bits, which orjson would read as a float: with every
# digit made a 9, a run of 19 nines (a bytes search, ~30x faster than a regular expression).
_NINES = bytes.maketrans(b"0123456789", b"9" * 10)
_LONG_NUMBER = b"9" * 19


def _has_long_number(json_text: str) -> bool:
    return _LONG_NUMBER in json_text.encode("utf-8").translate(_NINES)


def _read(json_text: str) -> Any:
    """JSON text read back as the database's reader would (exact integers of any size)."""
    return (json.loads if _has_long_number(json_text) else orjson.loads)(json_text)


class PlainDetails(dict[str, Any]):
    """Audit details that already are JSON as they stand: string keys at every level, values
    that are str, int, float, bool, None, lists, tuples and such dicts. A JSON round trip
    changes nothing of their canonical text (tuples read back as lists, which encode alike), so
    it is encoded once instead of read back first: a producer of many large events (the
    statement log) builds its details as these. Anything else stays a plain dict, read back
    before it is hashed: a non-string key, say, sorts as itself here but as its text there."""

    __slots__ = ()


def _details(details: dict[str, Any], *, read_back: bool) -> tuple[dict[str, Any] | None, str]:
    """The details' canonical text (one text, written to the row and hashed) and, with
    ``read_back``, the details as they read back from the database (plain JSON types)."""
    try:
        if type(details) is PlainDetails:
            text = _canonical_text(details)
            plain = _read(text) if read_back else None
        else:
            plain = _read(json.dumps(details, default=str, allow_nan=False))  # ASCII
            text = _canonical_text(plain)
        text.encode("utf-8")
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError, JSONDecodeError included
        raise InvalidRecord(f"audit details are not JSON: {exc}") from exc
    return plain, text


def event_fields(entry: AuditEntry, seq: int, prev_hash: str) -> dict[str, Any]:
    """The stored fields of ``entry`` at ``seq`` after ``prev_hash`` (all but ``hash``)."""
    return _event(entry, seq, prev_hash)[0]


def _event(
    entry: AuditEntry, seq: int, prev_hash: str, *, read_back: bool = True
) -> tuple[dict[str, Any], str]:
    """The stored fields of ``entry`` (details as read back, or None without ``read_back``) and
    the details' canonical text."""
    if entry.at.tzinfo is None:
        raise InvalidRecord(f"audit entry {entry.action} has a naive time; the log keeps UTC")
    actor = entry.actor
    details, text = _details(entry.details, read_back=read_back)
    fields = {
        "seq": seq,
        "at": entry.at.astimezone(UTC),
        "action": entry.action,
        "actor_subject": actor.subject if actor else None,
        "actor_chain": list(actor.chain) if actor else [],
        "connection": entry.connection,
        "target": entry.target,
        "outcome": entry.outcome,
        "details": details,
        "prev_hash": prev_hash,
    }
    return fields, text


async def append_entries(
    session: AsyncSession, entries: Sequence[AuditEntry], *, postgres: bool
) -> None:
    """Append ``entries`` to the chain inside the session's (write) transaction."""
    if not entries:
        return
    if postgres:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK})
    head = (
        await session.execute(
            select(col(AuditEventRow.seq), col(AuditEventRow.hash))
            .order_by(col(AuditEventRow.seq).desc())
            .limit(1)
        )
    ).first()
    seq, prev = (head[0], head[1]) if head else (0, GENESIS)
    written: list[dict[str, Any]] = []
    for entry in entries:
        seq += 1
        fields, details = _event(entry, seq, prev, read_back=False)
        prev = fields["hash"] = _spliced_hash(fields, details)
        # The details go in as the text that was hashed (one encoding, not one per use).
        fields["details"] = JSONText(details)
        written.append(fields)
    # Core INSERT of plain dicts: building ORM instances would cost more than the insert.
    await session.execute(insert(metadata.tables[AUDIT_TABLE]), written)


# -- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events to read: by the chain's original subject (``identity``), by anyone anywhere
    in the chain (``actor_in_chain``), by connection, by time (``since`` <= at < ``until``), by
    what it is about (``target``: a review, a delegation, a session id)."""

    identity: str | None = None
    actor_in_chain: str | None = None
    connection: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    target: str | None = None


def select_audit(
    where: AuditFilter, *, postgres: bool, after_seq: int = 0, limit: int = 100
) -> Any:
    """The SELECT for ``where``, in chain order, ``seq > after_seq``, at most ``limit`` rows."""
    conditions: list[ColumnElement[bool]] = [col(AuditEventRow.seq) > after_seq]
    if where.identity is not None:
        conditions.append(col(AuditEventRow.actor_subject) == where.identity)
    if where.actor_in_chain is not None:
        conditions.append(_in_chain(where.actor_in_chain, postgres=postgres))
    if where.connection is not None:
        conditions.append(col(AuditEventRow.connection) == where.connection)
    if where.since is not None:
        conditions.append(col(AuditEventRow.at) >= where.since)
    if where.until is not None:
        conditions.append(col(AuditEventRow.at) < where.until)
    if where.target is not None:
        conditions.append(col(AuditEventRow.target) == where.target)
    return select(AuditEventRow).where(*conditions).order_by(col(AuditEventRow.seq)).limit(limit)


def _in_chain(subject: str, *, postgres: bool) -> ColumnElement[bool]:
    chain = col(AuditEventRow.actor_chain)
    if postgres:  # jsonb containment, served by the GIN index
        return type_coerce(chain, JSONB).contains([subject])
    members = func.json_each(chain).table_valued("value")
    return exists().select_from(members).where(members.c.value == subject)


async def iter_audit(
    database: Database, where: AuditFilter | None = None, *, after_seq: int = 0, batch: int = 1000
) -> AsyncIterator[dict[str, Any]]:
    """Every matching event in chain order as a JSON-ready dict, read in batches."""
    where = where or AuditFilter()
    while True:
        async with database.read() as session:
            query = select_audit(
                where, postgres=database.is_postgres, after_seq=after_seq, limit=batch
            )
            rows = list((await session.scalars(query)).all())
        for row in rows:
            yield audit_from_row(row).to_dict()
        if len(rows) < batch:
            return
        after_seq = rows[-1].seq


async def export_audit(
    database: Database,
    out: TextIO,
    fmt: Literal["jsonl", "csv"] = "jsonl",
    where: AuditFilter | None = None,
) -> int:
    """Write the events to ``out`` as JSON Lines or CSV (chain and details as JSON text)."""
    writer = csv.DictWriter(out, fieldnames=_CSV_FIELDS) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    count = 0
    async for row in iter_audit(database, where):
        if writer is None:
            out.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        else:
            row["actor_chain"] = json.dumps(row["actor_chain"], ensure_ascii=False)
            row["details"] = json.dumps(row["details"], ensure_ascii=False, sort_keys=True)
            writer.writerow(row)
        count += 1
    return count


# -- verifying --------------------------------------------------------------------------------


async def verify(
    database: Database, *, batch: int = 2000, after_seq: int = 0, after_hash: str = GENESIS
) -> VerifyResult:
    """Walk the chain in ``seq`` order and check every link and every hash
    (:class:`store.chain.ChainWalk`): the whole chain, or (``after_seq``, ``after_hash``: a
    checkpoint's head) the part after that head, whose first event must follow it. ``checked``
    counts the events walked, ``head_seq`` is the last good one's seq."""
    walk = ChainWalk(after_seq, after_hash)
    async with database.read() as session:
        while True:
            query = (
                select(AuditEventRow)
                .where(col(AuditEventRow.seq) >= walk.expected_seq)
                .order_by(col(AuditEventRow.seq))
                .limit(batch)
            )
            rows = list((await session.scalars(query)).all())
            for row in rows:
                failed = walk.feed({name: getattr(row, name) for name in _ROW_FIELDS})
                if failed is not None:
                    return failed
            if len(rows) < batch:
                return walk.result()


async def hashes_at(database: Database, seqs: Sequence[int]) -> dict[int, str]:
    """The stored ``hash`` of each event in ``seqs`` that exists (seq 0: :data:`GENESIS`)."""
    found = {0: GENESIS} if 0 in seqs else {}
    wanted = sorted({s for s in seqs if s > 0})
    async with database.read() as session:
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            query = select(col(AuditEventRow.seq), col(AuditEventRow.hash)).where(
                col(AuditEventRow.seq).in_(part)
            )
            found.update({seq: digest for seq, digest in (await session.execute(query)).all()})
    return found
