"""The hash-chained audit log: appends, tamper detection, search, export, batched writer."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import text

from approvals.model import Actor, Identity
from store import (
    GENESIS,
    AuditFilter,
    AuditWriter,
    Database,
    SqlRepository,
    VerifyResult,
    export_audit,
    iter_audit,
    verify,
)
from store.audit import chain_hash
from tests.store.helpers import ALICE, ALICE_VIA_AGENTS, BOB, EPOCH, entry


async def _append(repository: SqlRepository, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        async with repository.transaction() as tx:
            await tx.append_audit(entry(n))


async def test_appends_form_a_chain(repository: SqlRepository, database: Database) -> None:
    """Events get seq 1..n; each prev_hash is the previous hash; the first follows GENESIS."""
    await _append(repository, 5)
    records = await repository.list_audit(limit=100)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert records[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    first = records[0]
    fields = {k: v for k, v in first.to_dict().items() if k != "hash"}
    fields["at"] = first.at
    assert chain_hash(fields) == first.hash
    assert first.actor_chain == ("alice@example.com", "ci-runner", "sql-agent")
    assert first.details["big"] == 1e20
    result = await verify(database)
    assert (result.ok, result.checked, result.head_seq, result.head_hash) == (
        True,
        5,
        5,
        records[-1].hash,
    )


async def test_empty_log_verifies(database: Database) -> None:
    """An empty log is a valid chain of length zero."""
    assert await verify(database) == VerifyResult(ok=True, checked=0)


Tamper = Callable[[Database], Awaitable[None]]


async def _sql(database: Database, statement: str) -> None:
    async with database.write() as session:
        await session.execute(text(statement))


async def _edit(database: Database) -> None:
    await _sql(database, "UPDATE audit_event SET outcome = 'denied' WHERE seq = 4")


async def _delete(database: Database) -> None:
    await _sql(database, "DELETE FROM audit_event WHERE seq = 4")


async def _swap(database: Database) -> None:
    columns = "at, action, actor_subject, actor_chain, connection, target, outcome, details, "
    columns += "prev_hash, hash"
    await _sql(database, f"CREATE TABLE swap AS SELECT seq, {columns} FROM audit_event")
    assignments = ", ".join(
        f"{c} = (SELECT {c} FROM swap WHERE swap.seq = 9 - audit_event.seq)"
        for c in columns.split(", ")
    )
    await _sql(database, f"UPDATE audit_event SET {assignments} WHERE seq IN (4, 5)")
    await _sql(database, "DROP TABLE swap")


async def _renumber(database: Database) -> None:
    await _sql(database, "DELETE FROM audit_event WHERE seq = 4")
    for seq in range(5, 9):
        await _sql(database, f"UPDATE audit_event SET seq = {seq - 1} WHERE seq = {seq}")


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (_edit, "event 4 was altered"),
        (_delete, "event 4 is missing"),
        (_swap, "event 4 does not follow event 3"),
        (_renumber, "event 4 does not follow event 3"),
    ],
    ids=["edit", "delete", "swap", "delete-and-renumber"],
)
async def test_verify_names_the_first_bad_event(
    repository: SqlRepository, database: Database, tamper: Tamper, problem: str
) -> None:
    """Editing, deleting, swapping or renumbering event 4 of 8 is reported at event 4."""
    await _append(repository, 8)
    assert (await verify(database)).ok
    await tamper(database)
    result = await verify(database)
    assert not result.ok
    assert result.first_bad_seq == 4
    assert result.checked == 3
    assert result.problem is not None and problem in result.problem


async def test_edited_hash_is_caught_by_the_next_link(
    repository: SqlRepository, database: Database
) -> None:
    """Rewriting an event and recomputing its own hash still breaks the next event's link."""
    await _append(repository, 6)
    records = await repository.list_audit()
    forged = {k: v for k, v in records[2].to_dict().items() if k != "hash"}
    forged["outcome"], forged["at"] = "forged", records[2].at
    new_hash = chain_hash(forged)
    await _sql(database, f"UPDATE audit_event SET outcome='forged', hash='{new_hash}' WHERE seq=3")
    result = await verify(database)
    assert (result.ok, result.first_bad_seq) == (False, 4)


async def test_list_audit_filters(repository: SqlRepository) -> None:
    """Search by original subject, by anyone in the chain (agents too), connection and time."""
    bob_via_bot = replace(BOB, actors=(Actor("slack-bot"),))
    async with repository.transaction() as tx:
        await tx.append_audit(entry(0, ALICE_VIA_AGENTS))
        await tx.append_audit(entry(1, ALICE))
        await tx.append_audit(entry(2, bob_via_bot, connection="mysql-prod"))
        await tx.append_audit(entry(3, None, action="review.final"))
        await tx.append_audit(entry(4, Identity("sql-agent")))

    async def seqs(**filters: object) -> list[int]:
        return [r.seq for r in await repository.list_audit(**filters)]  # type: ignore[arg-type]

    assert await seqs(identity="alice@example.com") == [1, 2]
    assert await seqs(actor_in_chain="sql-agent") == [1, 5]
    assert await seqs(actor_in_chain="ci-runner") == [1]
    assert await seqs(actor_in_chain="slack-bot") == [3]
    assert await seqs(actor_in_chain="alice") == []
    assert await seqs(connection="mysql-prod") == [3]
    assert await seqs(since=EPOCH + timedelta(seconds=1), until=EPOCH + timedelta(seconds=3)) == [
        2,
        3,
    ]
    assert await seqs(after_seq=2, limit=2) == [3, 4]


async def test_export_jsonl_and_csv(repository: SqlRepository, database: Database) -> None:
    """Export writes every event once, as JSON Lines or as CSV with JSON cells."""
    await _append(repository, 3)
    jsonl = io.StringIO()
    assert await export_audit(database, jsonl, "jsonl") == 3
    rows = [json.loads(line) for line in jsonl.getvalue().splitlines()]
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[0]["actor_chain"] == ["alice@example.com", "ci-runner", "sql-agent"]
    table = io.StringIO()
    assert await export_audit(database, table, "csv", AuditFilter(identity="nobody")) == 0
    table = io.StringIO()
    await export_audit(database, table, "csv")
    parsed = list(csv.DictReader(io.StringIO(table.getvalue())))
    assert [r["seq"] for r in parsed] == ["1", "2", "3"]
    assert json.loads(parsed[2]["details"])["statement"] == "SELECT 2"
    streamed = [row["seq"] async for row in iter_audit(database, batch=2)]
    assert streamed == [1, 2, 3]


async def test_concurrent_appenders_never_fork_the_chain(
    repository: SqlRepository, database: Database
) -> None:
    """20 transactions appending at once still produce one gap-free, valid chain."""
    await asyncio.gather(*(_append(repository, 5, start=i * 5) for i in range(20)))
    result = await verify(database)
    assert (result.ok, result.checked) == (True, 100)


async def test_audit_writer_batches_and_drains(database: Database) -> None:
    """Thousands of submitted entries are written in few transactions; flush and close drain."""
    writer = AuditWriter(database, interval=0.02, batch_size=250)
    for n in range(1000):
        writer.submit(entry(n))
    await writer.flush()
    assert (writer.written, writer.pending) == (1000, 0)
    assert writer.batches <= 10
    for n in range(1000, 1010):
        writer.submit(entry(n))
    await writer.close()
    result = await verify(database)
    assert (result.ok, result.checked) == (True, 1010)
