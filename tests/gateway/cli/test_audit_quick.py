"""``airlock audit verify`` on a SQLite file at the current schema reads it with the standard
library (store.sqlite_audit) and loads no ORM; what it finds is what the store's own reading
finds, on an intact trail and on every kind of tampering."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from gateway.store_schema import HEAD_REVISION, current_sqlite_file
from store import Database, VerifyResult, disagreements, verify
from store.migrate import alembic_config, migrate_sync
from store.sqlite_audit import verify_file
from tests.gateway.cli.support import airlock
from tests.gateway.cli.test_audit_cli import trail  # noqa: F401  (the fixture)

ORM = ("sqlalchemy", "sqlmodel", "alembic", "aiosqlite", "asyncpg", "store.engine", "store.tables")

# One tampering each, as someone with the file could do it (an empty tuple: none).
TAMPERINGS: dict[str, tuple[str, ...]] = {
    "intact": (),
    "details edited": (
        "UPDATE audit_event SET details = json_set(details, '$.statement', 'SELECT 1') "
        "WHERE seq = 2",
    ),
    "time moved": ("UPDATE audit_event SET at = '2020-01-01 00:00:00.000000' WHERE seq = 3",),
    "time rewritten alike": (
        "UPDATE audit_event SET at = replace(at, ' ', 'T') || '+00:00' WHERE seq = 3",
    ),
    "time unreadable": ("UPDATE audit_event SET at = 'yesterday' WHERE seq = 4",),
    "time a number": ("UPDATE audit_event SET at = 17 WHERE seq = 4",),
    "chain edited": ("UPDATE audit_event SET actor_chain = '[\"mallory\"]' WHERE seq = 1",),
    "details a number": ("UPDATE audit_event SET details = 5 WHERE seq = 5",),
    "row deleted": ("DELETE FROM audit_event WHERE seq = 4",),
    "last rows deleted": ("DELETE FROM audit_event WHERE seq >= 6",),
    "rows swapped": (
        "UPDATE audit_event SET seq = -1 WHERE seq = 2",
        "UPDATE audit_event SET seq = 2 WHERE seq = 3",
        "UPDATE audit_event SET seq = 3 WHERE seq = -1",
    ),
    "decision flipped": ("UPDATE decision SET outcome = 'approve' WHERE outcome = 'deny'",),
    "break-glass set": ("UPDATE decision SET break_glass = 1",),
    "review state": ("UPDATE review SET state = 'approved' WHERE state = 'pending'",),
    "review deleted": (
        "DELETE FROM decision WHERE review_id = (SELECT MIN(id) FROM review)",
        "DELETE FROM review WHERE id = (SELECT MIN(id) FROM review)",
    ),
}


def test_head_revision_is_the_newest_migration() -> None:
    """HEAD_REVISION names the migrations' head: update it with every new migration."""
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


def test_only_a_current_plain_sqlite_file_is_read_directly(tmp_path: Path) -> None:
    """A missing file, a file never migrated, a URL with a query and PostgreSQL take the
    store's path; a file at the head revision is read directly."""
    db = tmp_path / "a.db"
    url = f"sqlite+aiosqlite:///{db}"
    assert current_sqlite_file(url) is None
    sqlite3.connect(db).close()
    assert current_sqlite_file(url) is None
    migrate_sync(url)
    assert current_sqlite_file(url) == str(db)
    assert current_sqlite_file(f"sqlite:///{db}") == str(db)
    assert current_sqlite_file(url + "?mode=ro") is None
    assert current_sqlite_file("postgresql+asyncpg://postgres@127.0.0.1/x") is None
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    assert current_sqlite_file(url) is None


async def _through_the_store(db: Path) -> tuple[VerifyResult, list[str]]:
    async with Database(f"sqlite+aiosqlite:///{db}") as database:
        return await verify(database), await disagreements(database)


def _outcome(read: Callable[[], tuple[VerifyResult, list[str]]]) -> object:
    """What a reading gives: its verdicts, or the type of what it raised."""
    try:
        return read()
    except (TypeError, ValueError) as exc:
        return type(exc)


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_both_readings_find_the_same(
    name: str,
    trail: tuple[Path, int],  # noqa: F811
    tmp_path: Path,
) -> None:
    """The file read directly and through the store give the same chain verdict and the same
    disagreements (where the store's reading cannot read a value at all, the direct one
    reports the chain broken at that event)."""
    original, _ = trail
    db = tmp_path / f"{name.replace(' ', '-')}.db"
    shutil.copy(original, db)
    with sqlite3.connect(db) as conn:
        for statement in TAMPERINGS[name]:
            conn.execute(statement)

    def directly() -> tuple[VerifyResult, list[str]]:
        verdict = verify_file(str(db), None)
        assert verdict.anchor is None
        return verdict.chain, verdict.disagreements

    direct = _outcome(directly)
    stored = _outcome(lambda: asyncio.run(_through_the_store(db)))
    if stored in (TypeError, ValueError) and isinstance(direct, tuple):
        # the store's reading could not read a value; the direct one names the event instead
        assert "cannot be read" in (direct[0].problem or ""), direct
        return
    assert direct == stored
    if isinstance(stored, tuple):
        intact = stored[0].ok and not stored[1]
        assert intact == (name in {"intact", "time rewritten alike"})


def test_audit_verify_loads_no_orm(trail: tuple[Path, int]) -> None:  # noqa: F811
    """`airlock audit verify` on the trail's SQLite file exits 0 and imports no SQLAlchemy,
    SQLModel, Alembic, database driver or store engine."""
    code = (
        "import sys\n"
        "from gateway.cli.main import main\n"
        "code = main(['audit', 'verify'])\n"
        "print('MODULES', ' '.join(sys.modules))\n"
        "sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
        cwd=trail[0].parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "audit chain intact: 7 events" in done.stdout
    loaded = set(done.stdout.splitlines()[-1].removeprefix("MODULES ").split())
    assert not {m for m in loaded if m.split(".")[0] in ORM or m in ORM}, sorted(loaded)


def test_an_unreadable_file_is_a_store_error(
    capsys: pytest.CaptureFixture[str],
    trail: tuple[Path, int],  # noqa: F811
) -> None:
    """A file whose decision table is gone: `airlock: cannot read the store ...`, exit 2."""
    with sqlite3.connect(trail[0]) as conn:
        conn.execute("DROP TABLE decision")
    run = airlock(capsys, "audit", "verify")
    assert run.code == 2
    assert run.err.startswith("airlock: cannot read the store"), run.err
    assert "no such table: decision" in run.err
