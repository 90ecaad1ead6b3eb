"""``AuditWriter``: batched appends for high-rate producers (a session's statements).

``submit`` never waits: it queues the entry. A background task writes what is queued in one
transaction (one chain-lock, one head read, one multi-row INSERT) as soon as ``batch_size``
entries are waiting or an urgent one is submitted, else ``interval`` seconds after the first of
them arrived. Session events submitted alongside are written in the same transaction, and so are
the ends of sessions the store could not record when they ended (``submit_session_end``).
``flush()`` waits until everything submitted so far is committed; ``close()`` drains and stops.

A store that cannot write never costs a record: when a batch fails for any reason but one of its
own entries (the store unreachable, its disk full, read-only, an I/O error, an error nobody
classified) the batch is kept and retried with backoff (up to 2 s), for as long as it takes. The
store's :class:`~store.health.StoreHealth` (``database.health``) hears of every attempt: it logs
one line when writes start failing and one when they work again, and /healthz, /readyz and the
metrics read it. Only an entry the store refuses for what it is (a constraint: a session event
whose ``seq`` already exists, a session end without its session; an invalid record: details
that are not JSON) is dropped, logged and counted in ``dropped``, after the others of its batch
were written one by one. ``written``, ``dropped`` and ``batches`` (committed transactions) are
counters for metrics.

``submit(entry, on_written=f)`` calls ``f()`` once the entry is committed (in the writer's
task; never for an entry that was dropped, nor when the writer stops before writing it): the
statement journal learns this way which statements the trail holds.

The backlog is bounded: ``submit`` raises Unavailable once ``max_pending`` entries wait. Before
that, from ``refuse_at`` entries on, ``behind`` is true: producers stop doing what they would
have to record (the gateway refuses new statements), and what they still must record (those
refusals, sessions' last statements) fits in the room left below ``max_pending``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from sqlalchemy import insert, update

from approvals.model import AuditEntry
from store.audit import append_entries
from store.engine import Database
from store.errors import IntegrityError, InvalidRecord, StaleWrite, StoreError, Unavailable
from store.mapping import session_event_values
from store.records import SessionEvent
from store.tables import metadata

__all__ = ["AuditWriter", "SessionEnd"]

_log = logging.getLogger(__name__)
# What an entry may be refused for by itself; anything else is the store's condition.
_REFUSED = (IntegrityError, InvalidRecord)
MAX_BACKOFF_S = 2.0


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """The end of a session whose row the store could not update when it ended."""

    session_id: str
    ended_at: datetime
    stats: dict[str, Any]


_Item = AuditEntry | SessionEvent | SessionEnd


class AuditWriter:
    def __init__(
        self,
        database: Database,
        *,
        interval: float = 0.025,
        batch_size: int = 500,
        max_pending: int = 100_000,
        refuse_at: int | None = None,
    ) -> None:
        self.database = database
        self.health = database.health
        self.health.track(self)
        self.interval = interval
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.refuse_at = max_pending * 9 // 10 if refuse_at is None else refuse_at
        if not 0 < self.refuse_at <= max_pending:
            raise ValueError("refuse_at must be between 1 and max_pending")
        self.behind = False  # refuse_at entries or more wait: see the module's docstring
        self.written = 0
        self.dropped = 0
        self.batches = 0
        self._buffer: list[_Item] = []
        self._submitted = 0
        self._removed = 0  # items taken off the buffer's front (written or dropped)
        self._written_calls: deque[tuple[int, Callable[[], None]]] = deque()
        self._has_data = asyncio.Event()
        self._hurry = asyncio.Event()
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def submit(
        self,
        entry: AuditEntry,
        *,
        urgent: bool = False,
        on_written: Callable[[], None] | None = None,
    ) -> None:
        """Queue an audit entry; raises Unavailable when ``max_pending`` entries are waiting.
        ``urgent``: write it (and what waits with it) now, not ``interval`` seconds later;
        ``on_written``: called once it is committed."""
        index = self._submitted
        self._queue(entry)
        if on_written is not None:
            self._written_calls.append((index, on_written))
        if urgent:
            self._hurry.set()

    def submit_session_event(self, event: SessionEvent) -> None:
        """Queue a session event, written with the next batch."""
        self._queue(event)

    def submit_session_end(self, end: SessionEnd) -> None:
        """Queue the end of a session (its row's ``ended_at`` and ``stats``), written at once
        or, while the store cannot write, as soon as it can."""
        self._queue(end)
        self._hurry.set()

    def _queue(self, item: _Item) -> None:
        if self._closed:
            raise StoreError("the audit writer is closed")
        if len(self._buffer) >= self.max_pending:
            raise Unavailable(f"audit writer backlog is full ({self.max_pending} waiting)")
        self._buffer.append(item)
        self._submitted += 1
        if not self.behind and len(self._buffer) >= self.refuse_at:
            self.behind = True
            _log.error(
                "audit writer: %d entries wait to be written; refusing new work until they are",
                len(self._buffer),
            )
            self.health.behind(
                f"the audit trail is behind: {len(self._buffer)} entries wait; new statements "
                "are refused until they are written"
            )
        self._has_data.set()
        if len(self._buffer) >= self.batch_size:
            self._hurry.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="airlock-audit-writer")

    async def flush(self) -> None:
        """Wait until every entry submitted before this call is committed."""
        target = self._submitted
        if self._task is None or self.written + self.dropped >= target:
            return
        self._hurry.set()
        async with self._progress:
            await self._progress.wait_for(
                lambda: self.written + self.dropped >= target or self._task is None
            )

    async def close(self, grace: float | None = 10.0) -> None:
        """Write what is queued and stop; raises Unavailable if that takes over ``grace`` s."""
        self._closed = True
        task = self._task
        if task is None:
            return
        self._hurry.set()
        self._has_data.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError as exc:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise Unavailable(f"{len(self._buffer)} audit entries could not be written") from exc

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- the background task --------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.05
        try:
            while self._buffer or not self._closed:
                await self._has_data.wait()
                if not self._hurry.is_set() and not self._closed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._hurry.wait(), self.interval)
                self._hurry.clear()
                batch = self._buffer[: self.batch_size]
                if not batch:
                    self._has_data.clear()
                    continue
                try:
                    await self._write_batch(batch)
                except Exception as exc:  # the store cannot write (or a bug): keep and retry
                    if self.health.failed(exc) and not isinstance(exc, StoreError):
                        _log.error("audit writer: a batch failed", exc_info=exc)  # once
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                    continue
                self.health.wrote()
                backoff = 0.05
        finally:
            self._task = None
            async with self._progress:
                self._progress.notify_all()

    async def _done(self, count: int, *, written: bool) -> None:
        del self._buffer[:count]
        self._removed += count
        calls = self._written_calls
        while calls and calls[0][0] < self._removed:
            _, call = calls.popleft()
            if written:
                try:
                    call()
                except Exception:  # a producer's bug must not stop the writer
                    _log.exception("audit writer: an on_written callback failed")
        if self.behind and len(self._buffer) < self.refuse_at:
            self.behind = False
            self.health.behind(None)
            _log.warning("audit writer: caught up (%d entries wait)", len(self._buffer))
        if not self._buffer:
            self._has_data.clear()
        async with self._progress:
            self._progress.notify_all()

    async def _write_batch(self, batch: list[_Item]) -> None:
        """Write ``batch`` (the front of the buffer) and take it off the buffer."""
        try:
            await self._write(batch)
        except Unavailable:
            raise
        except StoreError:  # maybe one entry is refused: find it
            await self._write_one_by_one(batch)
            return
        self.written += len(batch)
        await self._done(len(batch), written=True)

    async def _write_one_by_one(self, batch: list[_Item]) -> None:
        """Write the entries one at a time; drop only those refused for what they are (a
        constraint, an invalid record). Any other error is the store's: it is raised, and what
        is left of the batch is kept and retried."""
        for item in batch:
            try:
                await self._write([item])
                self.written += 1
                written = True
            except _REFUSED as exc:
                _log.error("audit writer: dropping %r: %s", item, exc)
                self.dropped += 1
                written = False
            await self._done(1, written=written)

    async def _write(self, batch: list[_Item]) -> None:
        entries = [item for item in batch if isinstance(item, AuditEntry)]
        events: list[dict[str, Any]] = [
            session_event_values(item) for item in batch if isinstance(item, SessionEvent)
        ]
        ends = [item for item in batch if isinstance(item, SessionEnd)]
        async with self.database.write() as session:
            if events:
                await session.execute(insert(metadata.tables["session_event"]), events)
            await append_entries(session, entries, postgres=self.database.is_postgres)
            for end in ends:
                table = metadata.tables["session"]
                result = await session.execute(
                    update(table)
                    .where(table.c.id == end.session_id)
                    .values(ended_at=end.ended_at, stats=dict(end.stats))
                )
                if int(getattr(result, "rowcount", 0) or 0) != 1:
                    raise StaleWrite(f"no session {end.session_id} to end")
        self.batches += 1
