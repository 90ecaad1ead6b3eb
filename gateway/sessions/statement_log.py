"""A session's statement log: every statement recorded, written to the audit chain in batches.

Writing one hash-chained audit row per statement costs more than relaying the statement (the
benchmark showed a quarter of the gateway's CPU going there), so a session buffers compact
records and submits one ``statements`` audit event per batch: at most ``max_batch`` statements
or ``max_age`` seconds old, and at the session's end. Within the event each statement keeps its
own record — ``fields`` names the columns of each row of ``statements`` (``t_us``: microseconds
after the event's ``at``), ``same`` holds the columns whose value is the same in every statement
of the batch (most of them, most of the time: a steady session's statements differ in time,
duration and size), ``text`` indexes ``texts``, where a text repeated within the batch is stored
once. A refused or held statement is flushed at once (with what came before it) and written at
once, as is a session's last batch.

Nothing that ran is lost when the process dies before that, though: a listener calls
``forwarding(text)`` before it forwards a statement, which records it in the session's
:class:`~gateway.sessions.journal.SessionJournal` (and forwards it only when that returns
True). Each ``statements`` event says how many of the session's journaled statements the trail
holds with it (``journaled``): a record whose outcome is in ``RAN`` (``ok``, ``error``,
``unknown``) is a statement that was forwarded, the next journaled one, as statements are
answered in the order they were forwarded; ``block`` and ``denied`` were refused by the
gateway, never journaled. Statements forwarded and never answered (the session ended first)
are recorded at its end, ``unknown``: the journal keeps the last texts for that.
Once the writer committed the event the journal is told (``confirm``); at the next start what
was never confirmed is replayed into the trail (gateway.sessions.replay).

Texts are written as the session's dialect redacts them (``redact``: secrets replaced; a text
that cannot hold one costs a pattern search), once per distinct text of a batch, when the batch
is flushed: an allowed ``ALTER ROLE ... PASSWORD`` is recorded without its password. A text the
journal redacted when it was forwarded (one new to the session) is taken from the journal
(``SessionJournal.shown``): redacted once, not twice.

When the audit writer's backlog is full (the store has been unreachable for long) ``submit``
refuses the batch: the log keeps its records and offers them again every ``max_age`` seconds,
also after its session has ended (the timer holds it), and the records that arrive meanwhile
join them. The gateway refuses new statements well before that point (``AuditWriter.behind``),
so what waits here is what ran before, and those refusals.

A store that cannot write at all (its disk full, read-only) costs none of these records: the
audit writer keeps what it was handed and retries until the store takes it. A session the store
cannot record at its start is refused, and its refusal is one ``session.refused`` event
(:func:`refused_session`) written the same way, once the store is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from approvals import AuditEntry, Identity
from gateway.guardrails import Redactor
from gateway.sessions.journal import SessionJournal
from gateway.sessions.text import readable
from store import AuditWriter, PlainDetails, Unavailable

__all__ = ["FIELDS", "RAN", "StatementLog", "expand", "refused_session"]

_log = logging.getLogger(__name__)

FIELDS = (
    "t_us", "text", "outcome", "verdict", "rule", "review_id", "rows", "bytes", "duration_us",
    "sqlstate", "error", "masked",
)  # fmt: skip


# The outcomes of statements that were forwarded upstream (the server answered, failed or
# skipped them); any other outcome is the gateway's refusal. An outcome missing here would
# only make the journal replay a statement the trail already holds, never lose one.
RAN = frozenset({"ok", "error", "unknown"})
# The error of a statement forwarded and never answered: its session ended first (revoked,
# expired, shut down, the client or the server gone), so whether it ran is not known.
UNANSWERED = "forwarded; the session ended before the server answered"


class StatementLog:
    def __init__(
        self,
        audit: AuditWriter,
        identity: Identity,
        session_id: str,
        connection: str,
        *,
        redact: Redactor,
        max_batch: int = 500,
        max_age: float = 1.0,
        journal: SessionJournal | None = None,
    ) -> None:
        self.audit, self.identity, self.redact = audit, identity, redact
        self.journal = journal
        # Journal a statement about to be forwarded upstream: forwarding(text, held=False),
        # held: after its approval; False when it cannot be, and then it is not forwarded.
        # The journal's own method (no frame in between: the fast lanes call it per request).
        self.forwarding: Callable[..., bool] = journal.ran if journal is not None else _unjournaled
        self.ran = 0  # records whose outcome is in RAN (the journal's ordinals 1..ran)
        self.session_id, self.connection = session_id, connection
        self.max_batch, self.max_age = max_batch, max_age
        self.recorded = 0
        self._texts: dict[str, int] = {}
        self._columns: list[list[Any]] = [[] for _ in FIELDS]  # one list per FIELDS entry
        self._started = 0.0
        self._batch_at = datetime.now(UTC)
        self._timer: asyncio.TimerHandle | None = None
        self._stalled = False  # the writer refused the last batch: the timer offers it again

    def add(
        self,
        text: str | None,
        outcome: str,
        verdict: str,
        *,
        rule: str | None = None,
        review_id: str | None = None,
        rows: int = 0,
        size: int = 0,
        duration_us: int = 0,
        sqlstate: str | None = None,
        error: str | None = None,
        masked: dict[str, int] | None = None,
        urgent: bool = False,
    ) -> None:
        """Record one finished statement (a few list appends); ``urgent`` flushes at once.
        Its outcome says whether it was forwarded (``RAN``), so journaled.

        The upstream's SQLSTATE and an error message can hold text that was not UTF-8 (a
        server's bytes, decoded with surrogateescape): they are recorded readable, as texts
        are, or the store would refuse the whole batch."""
        at = time.monotonic()
        if sqlstate is not None:
            sqlstate = readable(sqlstate)
        if error is not None:
            error = readable(error)
        columns = self._columns
        if not columns[0]:
            self._start(at)
        columns[0].append(int((at - self._started) * 1_000_000))
        columns[1].append(self._texts.setdefault(text or "", len(self._texts)))
        for column, value in zip(
            columns[2:],
            (outcome, verdict, rule, review_id, rows, size, duration_us, sqlstate, error, masked),
            strict=True,
        ):
            column.append(value)
        self.recorded += 1
        if outcome in RAN:
            self.ran += 1
        if (urgent or len(columns[0]) >= self.max_batch) and not self._stalled:
            self.flush(urgent=urgent)

    def record_lane(
        self,
        ats: list[float],
        texts: list[str],
        verdicts: list[str],
        rules: list[str | None],
        rows: list[int],
        sizes: list[int],
        durations_us: list[int],
    ) -> None:
        """Record the statements the compiled fast lane answered (outcome ``ok``), column by
        column (one entry
        per statement, in the order they ran; ``ats``: the time.monotonic() each was answered,
        a little earlier than now: the lane hands its records over in batches). Each column is
        extended at once, not one statement at a time."""
        count, done = len(ats), 0
        while done < count:
            columns = self._columns  # a new batch's after a flush
            if not columns[0]:
                self._start(ats[done])
            room = count - done
            if not self._stalled:  # a stalled log keeps what arrives until the writer takes it
                room = min(room, max(1, self.max_batch - len(columns[0])))
            upto = done + room
            started, index = self._started, self._texts
            columns[0] += [int((at - started) * 1_000_000) for at in ats[done:upto]]
            columns[1] += [index.setdefault(text, len(index)) for text in texts[done:upto]]
            columns[2] += ["ok"] * room
            columns[3] += verdicts[done:upto]
            columns[4] += rules[done:upto]
            columns[6] += rows[done:upto]
            columns[7] += sizes[done:upto]
            columns[8] += durations_us[done:upto]
            for k in (5, 9, 10, 11):  # review_id, sqlstate, error, masked
                columns[k] += [None] * room
            self.recorded += room
            self.ran += room
            done = upto
            if len(columns[0]) >= self.max_batch and not self._stalled:
                self.flush()

    def _shown(self, text: str) -> str:
        """``text`` as the dialect shows it: as the journal redacted it when it was forwarded
        (a text new to the session), else redacted now."""
        if text.isascii():
            journal = self.journal
            if journal is not None:
                shown = journal.shown.pop(text, None)
                if shown is not None:
                    return shown
            return self.redact(text).text
        return self.redact(readable(text)).text

    def _start(self, at: float) -> None:
        """A batch begins with a statement answered at ``at`` (its time.monotonic())."""
        self._started = at
        # The batch's wall-clock start: now, less how long ago ``at`` was.
        self._batch_at = datetime.now(UTC) - timedelta(seconds=time.monotonic() - at)
        self._timer = asyncio.get_running_loop().call_later(self.max_age, self.flush)

    def flush(self, *, urgent: bool = False) -> None:
        """Submit what is buffered as one audit event; ``urgent``: to be written at once."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        columns = self._columns
        count = len(columns[0])
        if not count:
            return
        texts = [self._shown(text) for text in self._texts]
        same: dict[str, Any] = {}
        fields: list[str] = []
        varying: list[list[Any]] = []
        for name, column in zip(FIELDS, columns, strict=True):
            first = column[0]
            # Most columns that vary do by the last row; count() scans the ones that may not.
            if column[-1] == first and column.count(first) == count:
                same[name] = first
            else:
                fields.append(name)
                varying.append(column)
        statements = list(zip(*varying, strict=True)) if varying else [()] * count
        outcomes = set(columns[2])
        entry = AuditEntry(
            action="statements",
            actor=self.identity,
            target=self.session_id,
            outcome="ok" if outcomes == {"ok"} else "mixed" if len(outcomes) > 1 else columns[2][0],
            at=self._batch_at,
            connection=self.connection,
            # JSON as it stands (str keys; str, int, None, tuples): encoded once when written
            details=PlainDetails(
                fields=fields, same=same, texts=texts, statements=statements, journaled=self.ran
            ),
        )
        journal = self.journal
        confirm = None if journal is None else partial(journal.confirm, self.ran)
        try:
            self.audit.submit(entry, urgent=urgent, on_written=confirm)
        except Unavailable as exc:
            if not self._stalled:
                _log.error("session %s: %d statement records wait: %s", self.session_id, count, exc)
            self._stalled = True
            self._timer = asyncio.get_running_loop().call_later(self.max_age, self._retry)
            return
        if self._stalled:
            _log.warning("session %s: %d waiting statement records taken", self.session_id, count)
            self._stalled = False
        self._columns, self._texts = [[] for _ in FIELDS], {}

    def end(self) -> None:
        """The session ended: its last records are submitted at once; the journal forgets it
        once they are confirmed. Statements forwarded and never answered (the journal has
        more than the log recorded: they were answered in order, so they are its last) are
        recorded first, outcome ``unknown``, as the replay would record them at the next
        start: the trail holds the statement a revocation interrupted from the moment the
        session ends."""
        journal = self.journal
        if journal is not None:
            for text, held in journal.unanswered(journal.ordinal - self.ran):
                self.add(text, "unknown", "hold" if held else "allow", error=UNANSWERED)
        self.flush(urgent=True)
        if journal is not None:
            journal.end()

    def _retry(self) -> None:
        self._timer = None
        self.flush(urgent=True)


def _unjournaled(text: str, held: bool = False) -> bool:
    """A log without a journal forwards nothing."""
    return False


def expand(details: dict[str, Any], at: datetime) -> list[dict[str, Any]]:
    """The statements of one ``statements`` audit event, each as a dict with its own ``at``."""
    fields, texts, same = details["fields"], details["texts"], details.get("same", {})
    found = []
    for row in details["statements"]:
        item = dict(same)
        item.update(zip(fields, row, strict=True))
        item["statement"] = texts[item.pop("text")]
        if "t_us" in item:
            item["at"] = at + timedelta(microseconds=item.pop("t_us"))
        else:  # events written before times were kept in whole microseconds
            item["at"] = at + timedelta(milliseconds=item.pop("t_ms"))
        found.append(item)
    return found


def refused_session(
    identity: Identity, connection: str, *, target: str, outcome: str, details: dict[str, Any]
) -> AuditEntry:
    """The audit event of a session the gateway refused (``session.refused``): past a cap
    (``outcome`` refused), or because the store could not record its start (unavailable)."""
    return AuditEntry(
        action="session.refused",
        actor=identity,
        target=target,
        outcome=outcome,
        at=datetime.now(UTC),
        connection=connection,
        details=details,
    )
