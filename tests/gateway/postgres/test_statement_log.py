"""The statement log's batches (gateway.postgres.statement_log): what ``flush`` writes, ``expand``
gives back, record for record, in both the current and the earlier event format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from approvals import AuditEntry, Identity, IdentityKind
from gateway.postgres.statement_log import StatementLog, expand

pytestmark = pytest.mark.asyncio

ALICE = Identity("alice@example.com", IdentityKind.PERSON)


class Sink:
    """Stands in for the AuditWriter: keeps what is submitted."""

    def __init__(self) -> None:
        self.entries: list[tuple[AuditEntry, bool]] = []

    def submit(self, entry: AuditEntry, *, urgent: bool = False) -> None:
        self.entries.append((entry, urgent))


def _log(sink: Sink) -> StatementLog:
    return StatementLog(sink, ALICE, "session-1", "pg-test")  # type: ignore[arg-type]


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
