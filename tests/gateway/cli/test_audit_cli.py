"""``airlock audit verify|export``: an intact chain verifies; editing, deleting or reordering one
row in the SQLite file makes verify exit 1 naming that row; export writes every event."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from approvals import Actor, Identity, Outcome
from gateway.config import load_settings
from gateway.runtime import open_runtime
from tests.gateway.cli.support import airlock, airlock_in_thread, write_config

CONNECTION = """
[[connections]]
name = "pg-test"
type = "postgres"
upstream = "127.0.0.1:5432"
approvers = { groups = ["dba"] }
"""

ALICE = Identity("alice@example.com", groups=frozenset({"eng"}), actors=(Actor("sql-agent"),))
BOB = Identity("bob@example.com", groups=frozenset({"dba"}))


async def make_trail(config: Path) -> int:
    """Three held statements, two of them decided: seven audit events."""
    async with open_runtime(load_settings(config)) as runtime:
        service = runtime.service
        ids = [
            (
                await service.hold_statement(
                    ALICE, "pg-test", f"DROP TABLE t{n}", risk="high", rule="ddl-destroy"
                )
            ).id
            for n in range(3)
        ]
        await service.decide(ids[0], BOB, Outcome.APPROVE)
        await service.decide(ids[1], BOB, Outcome.DENY, "no")
        return len(await runtime.repository.list_audit(limit=1000))


@pytest.fixture
def trail(tmp_path: Path) -> tuple[Path, int]:
    """An airlock.toml in the working directory whose SQLite store holds a short trail."""
    db = tmp_path / "airlock.db"
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{db}", CONNECTION)
    count = asyncio.run(make_trail(config))
    assert count == 7
    return db, count


def tamper(db: Path, *statements: str) -> None:
    with sqlite3.connect(db) as conn:
        for statement in statements:
            conn.execute(statement)


def test_verify_intact(capsys: pytest.CaptureFixture[str], trail: tuple[Path, int]) -> None:
    """An untouched chain verifies: exit 0 and the number of events checked."""
    run = airlock(capsys, "audit", "verify")
    assert run.code == 0, run.err
    assert run.out.startswith(f"audit chain intact: {trail[1]} events, head ")
    assert "checkpoints: none configured ([audit] checkpoint_file)" in run.out
    assert "reviews and decisions agree with their audit events" in run.out


def test_verify_edited_row(capsys: pytest.CaptureFixture[str], trail: tuple[Path, int]) -> None:
    """Editing one row's details breaks the chain at that row."""
    tamper(trail[0], """UPDATE audit_event SET details = '{"reason": "yes"}' WHERE seq = 5""")
    run = airlock(capsys, "audit", "verify")
    assert run.code == 1
    assert run.err.startswith("audit chain BROKEN at event 5: event 5 was altered")


def test_verify_edited_actor(capsys: pytest.CaptureFixture[str], trail: tuple[Path, int]) -> None:
    """Rewriting who did it (the chain) is caught just the same."""
    tamper(
        trail[0], """UPDATE audit_event SET actor_chain = '["alice@example.com"]' WHERE seq = 2"""
    )
    run = airlock(capsys, "audit", "verify")
    assert run.code == 1
    assert run.err.startswith("audit chain BROKEN at event 2:")


def test_verify_deleted_row(capsys: pytest.CaptureFixture[str], trail: tuple[Path, int]) -> None:
    """Deleting one row names the missing seq."""
    tamper(trail[0], "DELETE FROM audit_event WHERE seq = 3")
    run = airlock(capsys, "audit", "verify")
    assert run.code == 1
    assert run.err.startswith("audit chain BROKEN at event 3: event 3 is missing")


def test_verify_deleted_and_renumbered(
    capsys: pytest.CaptureFixture[str], trail: tuple[Path, int]
) -> None:
    """Deleting a row and closing the gap in seq is still caught at that row."""
    tamper(
        trail[0],
        "DELETE FROM audit_event WHERE seq = 3",
        "UPDATE audit_event SET seq = seq - 1 WHERE seq > 3",
    )
    run = airlock(capsys, "audit", "verify")
    assert run.code == 1
    assert run.err.startswith("audit chain BROKEN at event 3:")


def test_verify_swapped_rows(capsys: pytest.CaptureFixture[str], trail: tuple[Path, int]) -> None:
    """Swapping two rows' seq is caught at the first of them."""
    tamper(
        trail[0],
        "UPDATE audit_event SET seq = -1 WHERE seq = 2",
        "UPDATE audit_event SET seq = 2 WHERE seq = 4",
        "UPDATE audit_event SET seq = 4 WHERE seq = -1",
    )
    run = airlock(capsys, "audit", "verify")
    assert run.code == 1
    assert run.err.startswith("audit chain BROKEN at event 2:")


def test_export_jsonl(capsys: pytest.CaptureFixture[str], trail: tuple[Path, int]) -> None:
    """JSON Lines: one object per event, in seq order, with the chain and the hashes."""
    run = airlock(capsys, "audit", "export", "--format", "jsonl")
    assert run.code == 0, run.err
    events = [json.loads(line) for line in run.out.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, trail[1] + 1))
    assert events[0]["actor_chain"] == ["alice@example.com", "sql-agent"]
    assert all(e["hash"] and e["prev_hash"] for e in events)
    assert run.err.strip() == f"exported {trail[1]} audit events"


def test_export_csv_to_a_file(
    capsys: pytest.CaptureFixture[str], trail: tuple[Path, int], tmp_path: Path
) -> None:
    """CSV with a header row; the chain and details as JSON text; --output writes a file."""
    out = tmp_path / "audit.csv"
    run = airlock(capsys, "audit", "export", "--format", "csv", "--output", str(out))
    assert run.code == 0, run.err
    assert run.out == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [int(r["seq"]) for r in rows] == list(range(1, trail[1] + 1))
    assert {"seq", "at", "action", "actor_chain", "details", "hash", "prev_hash"} <= set(rows[0])
    assert json.loads(rows[0]["actor_chain"]) == ["alice@example.com", "sql-agent"]
    denied = next(r for r in rows if r["action"] == "review.decision" and r["outcome"] == "deny")
    assert json.loads(denied["details"])["reason"] == "no"


def test_export_filtered(capsys: pytest.CaptureFixture[str], trail: tuple[Path, int]) -> None:
    """--actor and --identity filter the export like the API does."""
    by_agent = airlock(capsys, "audit", "export", "--actor", "sql-agent")
    assert len(by_agent.out.splitlines()) == 3
    by_bob = airlock(capsys, "audit", "export", "--identity", "bob@example.com")
    assert {json.loads(line)["actor_subject"] for line in by_bob.out.splitlines()} == {
        "bob@example.com"
    }


async def test_verify_on_postgres(
    capsys: pytest.CaptureFixture[str], pg_database_url: str, tmp_path: Path
) -> None:
    """On PostgreSQL too: verify passes, then an edited row makes it exit 1 naming the row."""
    config = write_config(tmp_path, pg_database_url, CONNECTION)
    await airlock_in_thread(capsys, "db", "upgrade")
    assert await make_trail(config) == 7
    assert (await airlock_in_thread(capsys, "audit", "verify")).code == 0
    dsn = pg_database_url.replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE audit_event SET outcome = 'approve' WHERE seq = 6")
    finally:
        await conn.close()
    run = await airlock_in_thread(capsys, "audit", "verify")
    assert run.code == 1
    assert run.err.startswith("audit chain BROKEN at event 6: event 6 was altered")


def test_export_by_time(capsys: pytest.CaptureFixture[str], trail: tuple[Path, int]) -> None:
    """--since / --until take ISO 8601 times, UTC when they carry no offset."""
    since_past = airlock(capsys, "audit", "export", "--since", "2000-01-01")
    assert len(since_past.out.splitlines()) == trail[1]
    since_future = airlock(capsys, "audit", "export", "--since", "2999-01-01T00:00:00+02:00")
    assert (since_future.code, since_future.out) == (0, "")
    until_past = airlock(capsys, "audit", "export", "--until", "2000-01-01T00:00")
    assert until_past.out == ""
    with pytest.raises(SystemExit) as exited:
        airlock(capsys, "audit", "export", "--since", "yesterday")
    assert exited.value.code == 2
    assert "not an ISO 8601 time: 'yesterday'" in capsys.readouterr().err


def test_verify_in_the_wrong_place_says_so_and_creates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the deployment's config, verify used to create an empty store and report "intact:
    0 events"; it now says there is no store there, exit 2, and leaves no file behind."""
    monkeypatch.chdir(tmp_path)
    run = airlock(capsys, "audit", "verify")
    assert run.code == 2 and run.out == ""
    assert run.err.startswith("airlock: there is no store at airlock.db: point --config")
    assert list(tmp_path.iterdir()) == []
