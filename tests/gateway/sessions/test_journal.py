"""The statement journal (gateway.sessions.journal) and its replay (gateway.sessions.replay):
records read back whole, a torn or cut tail ignored, replay idempotent, segments a live process
holds left alone, confirmed segments deleted, and a journal that cannot write refusing."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from approvals import Actor, Identity
from gateway.postgres.dialect import POSTGRES
from gateway.sessions import Journal, SessionJournal, expand, replay
from gateway.sessions.journal import SUFFIX
from gateway.sessions.journal_format import MAGIC, parse
from gateway.sessions.replay import UNKNOWN_ERROR
from store import Database, iter_audit, migrate, verify

ALICE = Identity("alice@example.com", actors=(Actor("ci-runner"), Actor("sql-agent")))


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'airlock.db'}"
    await migrate.upgrade(url)
    db = Database(url)
    try:
        yield db
    finally:
        await db.close()


def _journal(directory: Path, **kwargs: Any) -> Journal:
    journal = Journal(directory, **kwargs)
    journal.open()
    return journal


def _segments(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{SUFFIX}"))


def _run(session: SessionJournal, count: int, start: int = 0) -> list[str]:
    texts = [f"UPDATE t SET n = {k} WHERE id = 1" for k in range(start, start + count)]
    for text in texts:
        assert session.ran(text)
    return texts


async def _replayed(db: Database) -> list[dict[str, Any]]:
    """Every statement of every replayed event in the trail, in order."""
    found = []
    async for event in iter_audit(db):
        if event["action"] == "statements" and event["outcome"] == "unknown":
            found += expand(event["details"], datetime.fromisoformat(event["at"]))
    return found


def _killed(journal: Journal, directory: Path, into: Path) -> list[Path]:
    """What a killed process leaves: its segments as they are (copied before it lets go)."""
    journal.sync()
    into.mkdir()
    kept = [Path(shutil.copy(path, into / path.name)) for path in _segments(directory)]
    journal.close()
    for path in _segments(directory):
        path.unlink()
    return kept


def test_records_read_back_with_sessions_texts_and_confirmations(tmp_path: Path) -> None:
    """A segment holds each session once, each text once, every statement with its ordinal and
    verdict, and the ordinal the store confirmed."""
    journal = _journal(tmp_path / "j")
    one = journal.session("s-1", ALICE, "pg-prod")
    two = journal.session("s-2", Identity("bob@example.com"), "pg-test")
    assert one.ran("SELECT 1") and two.ran("DELETE FROM t WHERE id = 1", held=True)
    assert one.ran("SELECT 1") and one.ran("SELECT 2")
    one.confirm(2)
    found = parse(journal.current.path.read_bytes())  # type: ignore[union-attr]
    journal.close()
    assert found.end == "end"
    assert found.sessions["s-1"].actors == ("ci-runner", "sql-agent")
    assert found.sessions["s-2"].connection == "pg-test"
    assert [(s.ordinal, s.text, s.verdict) for s in found.statements["s-1"].values()] == [
        (1, "SELECT 1", "allow"), (2, "SELECT 1", "allow"), (3, "SELECT 2", "allow"),
    ]  # fmt: skip
    assert [s.verdict for s in found.statements["s-2"].values()] == ["hold"]
    assert found.confirmed == {"s-1": 2}
    # 2 sessions, 4 statements (3 of them with a text new to the segment), 1 confirmation
    assert found.records == 7


def test_a_session_journal_keeps_no_secret(tmp_path: Path) -> None:
    """Texts reach the journal's file as the dialect redacts them: a password run through an
    allowed ALTER ROLE is in no byte of the segment (replay writes what the file holds)."""
    journal = _journal(tmp_path / "j")
    session = journal.session("s-1", ALICE, "pg-prod", redact=POSTGRES.redact)
    assert session.ran("ALTER ROLE app PASSWORD 'Hunter2-secret'")
    assert session.ran("ALTER ROLE app PASSWORD 'Hunter2-secret'")  # the known text's record
    data = journal.current.path.read_bytes()  # type: ignore[union-attr]
    journal.close()
    assert b"Hunter2-secret" not in data
    texts = [s.text for s in parse(data).statements["s-1"].values()]
    assert texts == ["ALTER ROLE app PASSWORD '<redacted>'"] * 2


def test_a_torn_or_cut_last_record_is_ignored(tmp_path: Path) -> None:
    """A record whose bytes do not match its CRC (torn by a crash) or that runs past the end of
    the file (truncated) ends the reading: the records before it count, it does not."""
    journal = _journal(tmp_path / "j")
    session = journal.session("s-1", ALICE, "pg-prod")
    _run(session, 5)
    current = journal.current
    assert current is not None
    data = current.path.read_bytes()[: current.pos]
    journal.close()
    whole = parse(data)
    assert len(whole.statements["s-1"]) == 5
    torn = bytearray(data)
    torn[-3] ^= 0xFF  # inside the last statement's record
    assert (parse(bytes(torn)).end, len(parse(bytes(torn)).statements["s-1"])) == ("torn", 4)
    cut = parse(data[:-7])
    assert (cut.end, len(cut.statements["s-1"])) == ("truncated", 4)
    assert parse(data[: len(MAGIC) + 3]).end == "truncated"
    assert parse(b"not a journal").end == "not a journal"


async def test_replay_writes_what_was_never_confirmed_once(
    tmp_path: Path, database: Database
) -> None:
    """Statements beyond the journal's last confirmation are written as one event of unknown
    outcome with the session's whole chain; replaying the same segment again (its copy) adds
    nothing, because the trail already says it holds them; the chain verifies."""
    directory = tmp_path / "j"
    journal = _journal(directory)
    session = journal.session("s-1", ALICE, "pg-prod")
    texts = _run(session, 10)
    session.confirm(4)  # the trail held the first four (their event written elsewhere)
    copies = _killed(journal, directory, tmp_path / "copies")
    for path in copies:
        shutil.copy(path, directory / path.name)
    done = await replay(directory, database)
    assert (done.segments, done.sessions, done.statements) == (1, 1, 6)
    assert _segments(directory) == []
    replayed = await _replayed(database)
    assert [item["statement"] for item in replayed] == texts[4:]
    assert {item["error"] for item in replayed} == {UNKNOWN_ERROR}
    [event] = [e async for e in iter_audit(database) if e["outcome"] == "unknown"]
    assert event["actor_chain"] == ["alice@example.com", "ci-runner", "sql-agent"]
    assert (event["target"], event["connection"]) == ("s-1", "pg-prod")
    assert event["details"]["journaled"] == 10
    for path in copies:  # the same segment again: a second process, or a crash mid-replay
        shutil.copy(path, directory / path.name)
    again = await replay(directory, database)
    assert (again.segments, again.statements) == (1, 0)
    assert len(await _replayed(database)) == 6
    assert (await verify(database)).ok


async def test_replay_leaves_a_live_process_segments_alone(
    tmp_path: Path, database: Database
) -> None:
    """A segment whose lock a live journal holds is neither read nor deleted by a replay."""
    directory = tmp_path / "j"
    journal = _journal(directory)
    _run(journal.session("s-1", ALICE, "pg-prod"), 3)
    try:
        done = await replay(directory, database)
        assert done.segments == 0
        assert len(_segments(directory)) == 1
        assert await _replayed(database) == []
    finally:
        journal.close()
    assert len(_segments(directory)) == 1  # never confirmed: kept for the next start
    assert (await replay(directory, database)).statements == 3


def test_segments_rotate_and_go_once_confirmed(tmp_path: Path) -> None:
    """A full segment gives way to a new one (the session and its texts stated again there);
    a segment the process left is deleted once the store confirmed every statement in it, and
    at a clean close a confirmed current one is too."""
    directory = tmp_path / "j"
    journal = _journal(directory, segment_bytes=64 << 10)
    session = journal.session("s-1", ALICE, "pg-prod")
    _run(session, 5000)  # about 150 KB of records: three segments
    assert len(_segments(directory)) >= 3
    later = parse(_segments(directory)[-1].read_bytes())
    assert "s-1" in later.sessions
    assert min(later.statements["s-1"]) > 1
    session.confirm(session.ordinal - 1)
    assert len(_segments(directory)) == 1  # the current one still holds an unconfirmed one
    session.confirm(session.ordinal)
    session.end()
    journal.close()
    assert _segments(directory) == []


def test_a_journal_that_cannot_write_refuses_and_recovers(tmp_path: Path) -> None:
    """When no new segment can be made (here the directory was replaced by a file) ``ran``
    returns False and ``problem`` says why; once it can again, statements are recorded."""
    directory = tmp_path / "j"
    journal = _journal(directory, segment_bytes=64 << 10)
    session = journal.session("s-1", ALICE, "pg-prod")
    moved = tmp_path / "moved"
    try:
        os.rename(directory, moved)
        directory.write_text("in the way")
        refused = 0
        for k in range(5000):
            if not session.ran(f"UPDATE t SET n = {k} WHERE id = 1"):
                refused += 1
        assert refused > 0
        assert journal.problem is not None
        recorded = session.ordinal
        directory.unlink()
        os.rename(moved, directory)
        journal._retry_at = 0.0  # the next attempt now, not a second later
        assert session.ran("SELECT 1")
        assert session.ordinal == recorded + 1
        assert journal.problem is None
    finally:
        journal.close()


def test_opening_where_no_directory_can_be_made_fails(tmp_path: Path) -> None:
    """A journal whose directory cannot be made does not open (the listeners do not start)."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(Exception, match="cannot open the statement journal"):
        Journal(tmp_path / "file" / "journal").open()


async def test_replay_removes_segments_never_finished(tmp_path: Path, database: Database) -> None:
    """A segment still under its temporary name (its process died while making it) holds no
    record: a replay removes it, unless a live process holds it (it is making it now)."""
    directory = tmp_path / "j"
    directory.mkdir()
    dead, making = directory / "a.new", directory / "b.new"
    dead.write_bytes(b"\0" * 64)
    making.write_bytes(b"\0" * 64)
    fd = os.open(making, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert (await replay(directory, database)).segments == 0
        assert sorted(p.name for p in directory.iterdir()) == ["b.new"]
    finally:
        os.close(fd)
