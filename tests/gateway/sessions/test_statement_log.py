"""The statement log's batches (gateway.sessions.statement_log): what ``flush`` writes, ``expand``
gives back, record for record, in both the current and the earlier event format."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from approvals import AuditEntry, Identity, IdentityKind
from gateway.guardrails import Redacted, Redactor
from gateway.postgres.dialect import POSTGRES
from gateway.sessions import Journal
from gateway.sessions.journal import RECENT, SessionJournal
from gateway.sessions.statement_log import StatementLog, expand
from store import Unavailable

pytestmark = pytest.mark.asyncio

ALICE = Identity("alice@example.com", IdentityKind.PERSON)


class Sink:
    """Stands in for the AuditWriter: keeps what is submitted; while ``full``, refuses it as the
    writer does when its backlog is full."""

    def __init__(self) -> None:
        self.entries: list[tuple[AuditEntry, bool]] = []
        self.full = False
        self.refused = 0
        self.offered = asyncio.Event()  # set at every submit

    async def offers(self, until: Callable[[], bool]) -> None:
        async with asyncio.timeout(2):
            while not until():
                self.offered.clear()
                await self.offered.wait()

    def submit(
        self,
        entry: AuditEntry,
        *,
        urgent: bool = False,
        on_written: Callable[[], None] | None = None,
    ) -> None:
        self.offered.set()
        if self.full:
            self.refused += 1
            raise Unavailable("audit writer backlog is full (4 waiting)")
        self.entries.append((entry, urgent))


def _log(sink: Sink) -> StatementLog:
    return StatementLog(sink, ALICE, "session-1", "pg-test", redact=POSTGRES.redact)  # type: ignore[arg-type]


def _journaled_log(
    journal: Journal, sink: Sink, session_id: str = "session-1", redact: Redactor = POSTGRES.redact
) -> tuple[SessionJournal, StatementLog]:
    """A session of ``journal`` and its statement log writing to ``sink``."""
    session = journal.session(session_id, ALICE, "pg-test", redact=redact)
    log = StatementLog(
        sink,  # type: ignore[arg-type]
        ALICE,
        session_id,
        "pg-test",
        redact=redact,
        journal=session,
    )
    return session, log


RECORDS: list[dict[str, Any]] = [
    {"text": "SELECT 1", "outcome": "ok", "verdict": "allow", "rows": 1, "size": 9},
    {"text": "SELECT 1", "outcome": "ok", "verdict": "allow", "rows": 1, "size": 9},
    {"text": "SELECT name FROM t", "outcome": "ok", "verdict": "allow", "rows": 3, "size": 40,
     "masked": {"ssn": 3}},
    {"text": "DROP TABLE t", "outcome": "block", "verdict": "block", "rule": "default/destroy",
     "sqlstate": "42501", "error": "blocked"},
]  # fmt: skip


async def test_a_batch_expands_to_the_records_written() -> None:
    sink = Sink()
    log = _log(sink)
    for record in RECORDS:
        log.add(**record, duration_us=57)
    log.flush()
    [(entry, urgent)] = sink.entries
    assert not urgent and entry.outcome == "mixed" and entry.target == "session-1"
    assert entry.details["same"]["duration_us"] == 57  # the same in all four: stored once
    assert "duration_us" not in entry.details["fields"]
    assert entry.details["texts"] == ["SELECT 1", "SELECT name FROM t", "DROP TABLE t"]
    found = expand(entry.details, entry.at)
    assert [f["statement"] for f in found] == [r["text"] for r in RECORDS]
    assert [(f["outcome"], f["rows"], f["masked"], f["rule"]) for f in found] == [
        (r["outcome"], r.get("rows", 0), r.get("masked"), r.get("rule")) for r in RECORDS
    ]
    assert all(entry.at <= f["at"] < entry.at + timedelta(seconds=1) for f in found)
    assert [f["at"] for f in found] == sorted(f["at"] for f in found)


async def test_one_statement_and_urgent_flushes() -> None:
    """A lone statement has every column in ``same``; an urgent record is submitted at once,
    marked urgent; text that was not UTF-8 is recorded with U+FFFD."""
    sink = Sink()
    log = _log(sink)
    log.add("SELECT 'caf\udce9'", "block", "block", urgent=True)
    [(entry, urgent)] = sink.entries
    assert urgent and (entry.details["fields"], entry.details["statements"]) == ([], [()])
    [found] = expand(entry.details, entry.at)
    assert (found["statement"], found["at"]) == ("SELECT 'caf\ufffd'", entry.at)


async def test_an_error_that_was_not_utf8_is_recorded_readable() -> None:
    """An upstream SQLSTATE or error message with bytes that were not UTF-8 (surrogateescape)
    is recorded with U+FFFD, as a text is: the store refuses text that is not UTF-8."""
    sink = Sink()
    log = _log(sink)
    log.add("SELECT 1", "error", "allow", sqlstate="\udcff\udcfe000", error="caf\udce9")
    log.flush()
    [(entry, _)] = sink.entries
    [found] = expand(entry.details, entry.at)
    assert (found["sqlstate"], found["error"]) == ("\ufffd\ufffd000", "caf\ufffd")


async def test_events_of_the_earlier_format_still_expand() -> None:
    """Before ``same`` and whole microseconds: every column in ``fields``, times in ``t_ms``."""
    at = datetime(2026, 11, 1, tzinfo=UTC)
    details = {
        "fields": ["t_ms", "text", "outcome", "verdict", "rule", "review_id", "rows", "bytes",
                   "duration_us", "sqlstate", "error", "masked"],
        "texts": ["SELECT 1"],
        "statements": [[0.0, 0, "ok", "allow", None, None, 1, 9, 40, None, None, None],
                       [1.5, 0, "ok", "allow", None, None, 1, 9, 41, None, None, None]],
    }  # fmt: skip
    found = expand(details, at)
    assert [(f["statement"], f["at"], f["duration_us"]) for f in found] == [
        ("SELECT 1", at, 40),
        ("SELECT 1", at + timedelta(milliseconds=1.5), 41),
    ]


async def test_a_batch_the_writer_refuses_is_kept_and_offered_again() -> None:
    """With the writer's backlog full, a batch stays in the log, is offered again every
    ``max_age`` (no new attempt per statement meanwhile), and once taken holds every record, in
    order: nothing is lost, nothing is written twice."""
    sink = Sink()
    sink.full = True
    log = StatementLog(sink, ALICE, "session-1", "pg-test", redact=POSTGRES.redact, max_age=0.05)  # type: ignore[arg-type]
    log.add("SELECT 1", "ok", "allow")
    log.add("DROP TABLE t", "block", "block", rule="default/destroy", urgent=True)
    assert (sink.refused, sink.entries) == (1, [])
    log.add("SELECT 2", "block", "block", rule="audit/backlog", urgent=True)
    assert sink.refused == 1  # the timer offers it again, not every statement
    await sink.offers(lambda: sink.refused >= 3)
    assert sink.entries == []
    sink.full = False
    await sink.offers(lambda: bool(sink.entries))
    [(entry, urgent)] = sink.entries
    assert urgent
    found = expand(entry.details, entry.at)
    assert [f["statement"] for f in found] == ["SELECT 1", "DROP TABLE t", "SELECT 2"]
    assert [f["rule"] for f in found] == [None, "default/destroy", "audit/backlog"]
    log.add("SELECT 3", "ok", "allow", urgent=True)  # no longer stalled: written at once
    assert len(sink.entries) == 2
    assert [f["statement"] for f in expand(sink.entries[1][0].details, entry.at)] == ["SELECT 3"]
    await asyncio.sleep(0.15)
    assert len(sink.entries) == 2  # nothing offered twice


def _lane_columns(first: int, count: int, at: float) -> list[list[Any]]:
    """``count`` lane records numbered from ``first``, answered 1 ms apart from ``at``."""
    numbers = range(first, first + count)
    return [
        [at + n / 1000 for n in numbers],
        [f"SELECT {n % 3}" for n in numbers],
        ["allow"] * count,
        [None if n % 2 else "default/read" for n in numbers],
        [n % 4 for n in numbers],
        [10 + n for n in numbers],
        [100 + n for n in numbers],
    ]


def _recorded(sink: Sink) -> list[dict[str, Any]]:
    return [found for entry, _ in sink.entries for found in expand(entry.details, entry.at)]


async def test_lane_records_fill_batch_after_batch_in_order() -> None:
    """Lane records handed over column by column, more than a batch at once: every one is
    written, in order, each with its own values, in batches of ``max_batch``."""
    sink = Sink()
    log = StatementLog(sink, ALICE, "session-1", "pg-test", redact=POSTGRES.redact, max_batch=5)  # type: ignore[arg-type]
    at = time.monotonic()
    log.record_lane(*_lane_columns(0, 12, at))
    log.record_lane(*_lane_columns(12, 2, at))
    assert [len(entry.details["statements"]) for entry, _ in sink.entries] == [5, 5]
    log.flush()
    found = _recorded(sink)
    assert len(found) == log.recorded == 14
    assert [f["statement"] for f in found] == [f"SELECT {n % 3}" for n in range(14)]
    assert [(f["rule"], f["rows"], f["bytes"], f["duration_us"]) for f in found] == [
        (None if n % 2 else "default/read", n % 4, 10 + n, 100 + n) for n in range(14)
    ]
    assert {(f["outcome"], f["verdict"], f["error"]) for f in found} == {("ok", "allow", None)}
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(found)]
    assert all(timedelta(microseconds=990) <= gap <= timedelta(microseconds=1010) for gap in gaps)


async def test_lane_and_general_records_keep_their_order() -> None:
    """Records from the compiled lane and from the general path, interleaved, are written in
    the order they were handed over; a refusal still flushes at once."""
    sink = Sink()
    log = _log(sink)
    log.record_lane(*_lane_columns(0, 3, time.monotonic()))
    log.add("DELETE FROM t", "held", "hold", review_id="R-1")
    log.record_lane(*_lane_columns(3, 2, time.monotonic()))
    log.add("DROP TABLE t", "block", "block", rule="default/destroy", urgent=True)
    [(entry, urgent)] = sink.entries
    assert urgent and entry.outcome == "mixed"
    assert [f["statement"] for f in _recorded(sink)] == [
        "SELECT 0", "SELECT 1", "SELECT 2", "DELETE FROM t", "SELECT 0", "SELECT 1",
        "DROP TABLE t",
    ]  # fmt: skip
    assert [f["review_id"] for f in _recorded(sink)][3] == "R-1"


async def test_lane_records_wait_with_a_stalled_batch() -> None:
    """While the writer refuses, lane records join the waiting batch beyond ``max_batch``;
    once taken, all of them are there, in order, once."""
    sink = Sink()
    sink.full = True
    log = StatementLog(
        sink,  # type: ignore[arg-type]
        ALICE,
        "session-1",
        "pg-test",
        redact=POSTGRES.redact,
        max_batch=4,
        max_age=0.05,
    )
    log.record_lane(*_lane_columns(0, 4, time.monotonic()))
    assert sink.refused == 1
    log.record_lane(*_lane_columns(4, 6, time.monotonic()))
    assert sink.refused == 1
    sink.full = False
    await sink.offers(lambda: bool(sink.entries))
    assert [f["statement"] for f in _recorded(sink)] == [f"SELECT {n % 3}" for n in range(10)]


async def test_texts_are_written_redacted() -> None:
    """A recorded statement's secret (here an allowed ALTER ROLE ... PASSWORD, recorded by the
    general path and by the fast lane) is written as the dialect redacts it, once per text."""
    sink = Sink()
    log = _log(sink)
    secret = "ALTER ROLE app PASSWORD 'hunter2'"
    log.add(secret, "ok", "allow")
    log.record_lane(
        [time.monotonic()] * 2,
        [secret, "SELECT 'postgres://u:pw2@h/d'"],
        ["allow", "allow"],
        [None, None],
        [0, 1],
        [0, 10],
        [5, 5],
    )
    log.flush()
    [(entry, _)] = sink.entries
    assert entry.details["texts"] == [
        "ALTER ROLE app PASSWORD '<redacted>'",
        "SELECT 'postgres://u:<redacted>@h/d'",
    ]
    assert [f["statement"] for f in expand(entry.details, entry.at)] == [
        "ALTER ROLE app PASSWORD '<redacted>'",
        "ALTER ROLE app PASSWORD '<redacted>'",
        "SELECT 'postgres://u:<redacted>@h/d'",
    ]
    assert "hunter2" not in repr(entry) and "pw2" not in repr(entry)


async def test_a_text_the_journal_redacted_is_not_redacted_again(tmp_path: Path) -> None:
    """The journal redacts a text new to the session when it is forwarded; the statement log
    writes that redaction (each text redacted once), and redacts what the journal did not."""
    asked: list[str] = []

    def counting(text: str, params: Sequence[bytes | None] = ()) -> Redacted:
        asked.append(text)
        return POSTGRES.redact(text, params)

    journal = Journal(tmp_path)
    journal.open()
    try:
        sink = Sink()
        session, log = _journaled_log(journal, sink, redact=counting)
        secret = "ALTER ROLE app PASSWORD 'hunter2'"
        assert log.forwarding(secret) and log.forwarding("SELECT 1")
        log.add(secret, "ok", "allow")
        log.add("SELECT 1", "ok", "allow")
        log.add("SELECT 2", "block", "block")  # refused: never journaled
        log.flush()
        [(entry, _)] = sink.entries
        assert entry.details["texts"] == [
            "ALTER ROLE app PASSWORD '<redacted>'",
            "SELECT 1",
            "SELECT 2",
        ]
        assert sorted(asked) == sorted([secret, "SELECT 1", "SELECT 2"])  # once each
        assert session.shown == {}  # taken when written
    finally:
        journal.close()


async def test_statements_never_answered_are_recorded_at_the_end(tmp_path: Path) -> None:
    """A session that ends with statements forwarded and not answered (revoked mid-statement,
    a pipeline cut short) records them at its end, outcome unknown, in the order they were
    forwarded, a held and approved one as held; the event counts them as journaled, so the
    replay at the next start does not write them again."""
    journal = Journal(tmp_path)
    journal.open()
    try:
        sink = Sink()
        session, log = _journaled_log(journal, sink)
        assert log.forwarding("SELECT 1")
        log.add("SELECT 1", "ok", "allow", rows=1)
        assert log.forwarding("SELECT pg_sleep(60)")
        assert log.forwarding("DELETE FROM t WHERE id = 7", True)  # held, approved, pipelined
        log.end()
        [(entry, urgent)] = sink.entries
        assert urgent
        records = expand(entry.details, entry.at)
        assert [(r["statement"], r["outcome"], r["verdict"]) for r in records] == [
            ("SELECT 1", "ok", "allow"),
            ("SELECT pg_sleep(60)", "unknown", "allow"),
            ("DELETE FROM t WHERE id = 7", "unknown", "hold"),
        ]
        assert records[1]["error"] == "forwarded; the session ended before the server answered"
        assert entry.details["journaled"] == 3 == session.ordinal
    finally:
        journal.close()


async def test_more_unanswered_statements_than_kept_are_left_to_the_replay(
    tmp_path: Path,
) -> None:
    """The journal keeps the texts of its session's last RECENT statements: when more than that
    were never answered, the end records none of them (they are the replay's, as a killed
    process's are) and the event does not count them as journaled."""
    journal = Journal(tmp_path)
    journal.open()
    try:
        sink = Sink()
        _, log = _journaled_log(journal, sink)
        for i in range(RECENT + 1):
            assert log.forwarding(f"SELECT {i}")
        log.add("SELECT 0", "ok", "allow")
        log.end()  # RECENT unanswered: all recorded
        [(entry, _)] = sink.entries
        assert entry.details["journaled"] == RECENT + 1
        assert len(expand(entry.details, entry.at)) == RECENT + 1

        sink = Sink()
        _, log = _journaled_log(journal, sink, "session-2")
        for i in range(RECENT + 1):
            assert log.forwarding(f"SELECT {i}")
        log.end()  # RECENT + 1 unanswered: left to the replay
        assert sink.entries == []
    finally:
        journal.close()
