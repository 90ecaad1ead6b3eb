"""Builders the store tests share: a settable clock, identities, connections, reviews, entries,
and an outage of the audit writer's store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from approvals.model import (
    AccessMode,
    Actor,
    ApproverRule,
    AuditEntry,
    Connection,
    Identity,
    IdentityKind,
    Review,
    ReviewKind,
    new_id,
)
from approvals.states import ReviewState
from store import AuditWriter, Unavailable

__all__ = [
    "ALICE",
    "ALICE_VIA_AGENTS",
    "BOB",
    "CAROL",
    "CONNECTIONS",
    "EPOCH",
    "PG_PAIR",
    "PG_PROD",
    "PG_REQUEST",
    "AuditOutage",
    "Clock",
    "approvers",
    "entry",
    "review",
]

EPOCH = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

ALICE = Identity("alice@example.com", groups=frozenset({"eng"}), email="alice@example.com")
ALICE_VIA_AGENTS = replace(ALICE, actors=(Actor("ci-runner"), Actor("sql-agent")))
BOB = Identity("bob@example.com", groups=frozenset({"dba-oncall"}))
CAROL = Identity("carol@example.com", groups=frozenset({"dba-oncall"}))

PG_PROD = Connection(
    name="pg-prod",
    type="postgres",
    allow_groups=frozenset({"eng"}),
    approvers=ApproverRule(groups=frozenset({"dba-oncall"}), channel="#dba-oncall", quorum=1),
)
PG_REQUEST = Connection(
    name="pg-request",
    type="postgres",
    access=AccessMode.REQUEST,
    approvers=ApproverRule(groups=frozenset({"dba-oncall"}), quorum=1),
    max_grant=timedelta(hours=8),
    roles=frozenset({"read"}),
)
PG_PAIR = Connection(
    name="pg-pair",
    type="postgres",
    approvers=ApproverRule(groups=frozenset({"dba-oncall"}), quorum=2),
)
CONNECTIONS = {c.name: c for c in (PG_PROD, PG_REQUEST, PG_PAIR)}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


def approvers(count: int) -> list[Identity]:
    """``count`` distinct people in the dba-oncall approver group."""
    return [
        Identity(f"approver-{i:02d}@example.com", IdentityKind.PERSON, frozenset({"dba-oncall"}))
        for i in range(count)
    ]


def review(**changes: object) -> Review:
    base = Review(
        id=new_id(),
        kind=ReviewKind.STATEMENT,
        requester=ALICE_VIA_AGENTS,
        connection="pg-prod",
        state=ReviewState.PENDING,
        quorum=1,
        created_at=EPOCH,
        expires_at=EPOCH + timedelta(minutes=15),
        statement="DROP TABLE orders;",
        risk="destructive",
        rule="ddl-drop",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def entry(n: int = 0, actor: Identity | None = ALICE_VIA_AGENTS, **changes: object) -> AuditEntry:
    base = AuditEntry(
        action="statement.run",
        actor=actor,
        target=f"session-{n}",
        outcome="ok",
        at=EPOCH + timedelta(seconds=n),
        connection="pg-prod",
        details={"statement": f"SELECT {n}", "rows": n, "ratio": 0.1, "big": 1e20},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


class AuditOutage:
    """While ``down``, every AuditWriter's transactions fail as they do when the database cannot
    be reached (Unavailable): the writer keeps its entries and retries."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, down: bool = False) -> None:
        self.down = down
        write = AuditWriter._write

        async def unreachable_while_down(writer: AuditWriter, batch: list[Any]) -> None:
            if self.down:
                raise Unavailable("the store cannot be reached")
            await write(writer, batch)

        monkeypatch.setattr(AuditWriter, "_write", unreachable_while_down)
