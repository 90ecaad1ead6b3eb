"""The session core alone, with no protocol in front of it: what any listener gets by calling
authenticate, authorize, start, attach, detach and end, and revocation ending a live session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from approvals import Identity, new_id
from gateway.config import load_settings
from gateway.postgres.dialect import POSTGRES
from gateway.runtime import Runtime, open_runtime
from gateway.sessions import (
    AccessRefused,
    AuthRefused,
    Ending,
    Journal,
    Session,
    SessionCore,
    SessionGuard,
    expand,
)
from store import AuditWriter

CONFIG = """
[store]
url = "sqlite+aiosqlite:///{db}"
[[connections]]
name = "db-core"
type = "mysql"
upstream = "127.0.0.1:3306"
username = "root"
password_env = "AIRLOCK_TEST_UPSTREAM_PASSWORD"
access = "standing"
allow_groups = ["eng"]
approvers = {{ groups = ["dba"], quorum = 1 }}
"""


@dataclass
class FakeLive:
    """A listener's running session as the core sees it: ended from outside, nothing else."""

    session: Session
    ended: list[tuple[Ending, str]] = field(default_factory=list)
    told: asyncio.Event = field(default_factory=asyncio.Event)

    def end(self, why: Ending, message: str) -> None:
        self.ended.append((why, message))
        self.told.set()


@pytest.fixture
async def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Runtime]:
    monkeypatch.setenv("AIRLOCK_TEST_UPSTREAM_PASSWORD", "unused")
    path = tmp_path / "airlock.toml"
    path.write_text(CONFIG.format(db=tmp_path / "airlock.db"))
    async with open_runtime(load_settings(path), upgrade=True) as opened:
        yield opened


@pytest.fixture
async def core(runtime: Runtime, tmp_path: Path) -> AsyncIterator[SessionCore]:
    guard = SessionGuard(
        runtime.service, runtime.identity.authenticator, runtime.identity.store, runtime.metrics
    )
    journal = Journal(tmp_path / "journal")
    journal.open()
    try:
        async with AuditWriter(runtime.database, interval=0.05) as audit:
            yield SessionCore(
                edge="core-test",
                service=runtime.service,
                repository=runtime.repository,
                audit=audit,
                metrics=runtime.metrics,
                guard=guard,
                journal=journal,
            )
    finally:
        journal.close()


async def open_session(runtime: Runtime, core: SessionCore, subject: str) -> FakeLive:
    identity = await core.authenticate(runtime.tokens.mint(subject, groups=["eng"]))
    delegation = await core.authorize(identity, "db-core", roles=())
    session = Session(id=new_id(), identity=identity, connection="db-core", delegation=delegation)
    session.log = core.statement_log(session, POSTGRES.redact)
    await core.start(session, ("127.0.0.1", 50000))
    live = FakeLive(session)
    await core.attach(live)
    return live


async def test_a_session_is_recorded_from_start_to_end(runtime: Runtime, core: SessionCore) -> None:
    """start writes the row, the log records a command, end writes the tally and the outcome."""
    live = await open_session(runtime, core, "alice@example.com")
    session = live.session
    assert session.log is not None
    session.log.add("SELECT 1", "ok", "allow", rule="default/read", rows=1)
    session.statements_seen, session.rows = 1, 1
    await core.detach(live)
    await core.end(session, "closed")
    record = await runtime.repository.get_session(session.id)
    assert record is not None and record.ended_at is not None
    assert record.client_addr == "127.0.0.1:50000"
    assert record.stats["statements"] == 1 and record.stats["end"] == "closed"
    for _ in range(100):  # the audit writer writes every 0.05 s
        events = await runtime.repository.list_audit(target=session.id)
        if any(e.action == "statements" for e in events):
            break
        await asyncio.sleep(0.05)
    [batch] = [e for e in events if e.action == "statements"]
    [statement] = expand(batch.details, batch.at)
    assert statement["statement"] == "SELECT 1" and statement["rule"] == "default/read"
    assert live.ended == []


async def test_a_bad_token_and_a_stranger_are_refused(runtime: Runtime, core: SessionCore) -> None:
    """A token the gateway did not mint is AuthRefused; one outside allow_groups AccessRefused."""
    with pytest.raises(AuthRefused):
        await core.authenticate("not-a-token")
    stranger = await core.authenticate(runtime.tokens.mint("eve@example.com", groups=["ops"]))
    with pytest.raises(AccessRefused) as refused:
        await core.authorize(stranger, "db-core", roles=())
    assert "db-core" in refused.value.message


async def test_revoking_the_identity_ends_its_live_session(
    runtime: Runtime, core: SessionCore
) -> None:
    """The guard hears identity.revoked on the bus and ends the session with REVOKED."""
    watcher = asyncio.create_task(core.guard.run())
    try:
        live = await open_session(runtime, core, "alice@example.com")
        await asyncio.sleep(0.05)  # the guard subscribes
        admin = Identity("admin@example.com", groups=frozenset({"admin"}))
        await runtime.identity.revoke_subject(
            "alice@example.com", "left the team", admin, datetime.now(UTC)
        )
        await asyncio.wait_for(live.told.wait(), 1)
        [(why, message)] = live.ended
        assert why is Ending.REVOKED
        assert message == "access revoked: alice@example.com was revoked: left the team"
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
