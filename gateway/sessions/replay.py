"""Start-up replay: what the journal recorded and the audit trail never confirmed goes in.

``replay(directory, database)`` reads every segment in ``directory`` that no live process holds
(it takes the segment's ``flock`` without waiting; a live process holds its own), merges them
by session, and for each session writes one ``statements`` audit event with every journaled
statement beyond what the trail already holds: the larger of the journal's own confirmation and
the ``journaled`` count of the session's latest ``statements`` event in the store (so replaying
twice records once). Each statement is recorded with outcome ``unknown``: it was forwarded, and
the gateway stopped before its outcome was recorded. The event's actor is the session's whole
identity chain, its target the session id, its connection the session's. The sessions' rows
that have no end get one (the time of their last journaled statement). The segments are then
deleted. A store that cannot take the events leaves them for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from approvals import Actor, AuditEntry, Identity, IdentityKind
from gateway.sessions.journal import SUFFIX
from gateway.sessions.journal_format import Segment, SessionHead, Statement, parse
from gateway.sessions.statement_log import FIELDS
from store import Database, PlainDetails, journaled_upto, record_replayed

__all__ = ["UNKNOWN_ERROR", "Replayed", "replay"]

_log = logging.getLogger(__name__)

UNKNOWN_ERROR = "forwarded; the gateway stopped before its outcome was recorded"


@dataclass(frozen=True, slots=True)
class Replayed:
    """What a replay did: segments read (and deleted), sessions and statements written, and
    segments whose tail was cut or torn (their whole records still counted)."""

    segments: int
    sessions: int
    statements: int
    damaged: tuple[str, ...] = ()


async def replay(directory: Path, database: Database) -> Replayed:
    """Replay the segments no live process holds (see the module's docstring)."""
    held = await asyncio.to_thread(_take, directory)
    try:
        heads, pending, last_at = _merge([segment for _, _, segment in held])
        in_store = await journaled_upto(database, pending)
        entries: list[AuditEntry] = []
        written = 0
        for session_id, statements in pending.items():
            left = [s for s in statements if s.ordinal > in_store.get(session_id, 0)]
            if left:
                entries.append(_entry(heads[session_id], left))
                written += len(left)
        now = datetime.now(UTC)
        ended = {k: _time(last_at[k]) if k in last_at else now for k in heads}
        if entries or ended:
            await record_replayed(database, entries, ended)
        for path, _, _ in held:
            path.unlink(missing_ok=True)
    finally:
        for _, fd, _ in held:
            os.close(fd)
    damaged = tuple(f"{path.name}: {seg.end}" for path, _, seg in held if seg.end != "end")
    return Replayed(len(held), len(entries), written, damaged)


def _take(directory: Path) -> list[tuple[Path, int, Segment]]:
    """Lock and read each segment no process holds (still linked under its name)."""
    taken: list[tuple[Path, int, Segment]] = []
    if not directory.is_dir():
        return taken
    for path in directory.glob("*.new"):  # a segment never finished (no record is written to
        with contextlib.suppress(OSError):  # one before it has its name): gone if no one has it
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink()
            finally:
                os.close(fd)
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino != os.stat(path).st_ino:  # replaced or deleted meanwhile
                raise FileNotFoundError(path)
            with os.fdopen(os.dup(fd), "rb") as file:
                data = file.read()
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            continue
        except OSError:
            os.close(fd)
            raise
        taken.append((path, fd, parse(data)))
    return taken


def _merge(
    segments: list[Segment],
) -> tuple[dict[str, SessionHead], dict[str, list[Statement]], dict[str, int]]:
    """Every session's head, its statements the journal never saw confirmed (in order) and
    when its last journaled statement was."""
    heads: dict[str, SessionHead] = {}
    statements: dict[str, dict[int, Statement]] = {}
    confirmed: dict[str, int] = {}
    for segment in segments:
        for session_id, head in segment.sessions.items():
            heads.setdefault(session_id, head)
        for session_id, found in segment.statements.items():
            statements.setdefault(session_id, {}).update(found)
        for session_id, upto in segment.confirmed.items():
            confirmed[session_id] = max(confirmed.get(session_id, 0), upto)
    pending = {
        session_id: [by[k] for k in sorted(by) if k > confirmed.get(session_id, 0)]
        for session_id, by in statements.items()
    }
    last_at = {k: max(s.at_us for s in by.values()) for k, by in statements.items() if by}
    return heads, {k: v for k, v in pending.items() if v}, last_at


def _time(at_us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=at_us)


def _entry(head: SessionHead, statements: list[Statement]) -> AuditEntry:
    """One ``statements`` event of the statement log's shape, each statement's outcome unknown."""
    started = statements[0].at_us
    texts: dict[str, int] = {}
    rows = [
        (s.at_us - started, texts.setdefault(s.text, len(texts)), s.verdict) for s in statements
    ]
    same: dict[str, Any] = {
        "outcome": "unknown", "rule": None, "review_id": None, "rows": None, "bytes": None,
        "duration_us": None, "sqlstate": None, "error": UNKNOWN_ERROR, "masked": None,
    }  # fmt: skip
    assert set(same) | {"t_us", "text", "verdict"} == set(FIELDS)
    try:
        kind = IdentityKind(head.kind)
    except ValueError:
        kind = IdentityKind.PERSON
    actor = Identity(head.subject, kind=kind, actors=tuple(Actor(s) for s in head.actors))
    return AuditEntry(
        action="statements",
        actor=actor,
        target=head.id,
        outcome="unknown",
        at=_time(started),
        connection=head.connection,
        details=PlainDetails(
            fields=["t_us", "text", "verdict"],
            same=same,
            texts=list(texts),
            statements=rows,
            journaled=statements[-1].ordinal,
            replayed=UNKNOWN_ERROR,
        ),
    )
