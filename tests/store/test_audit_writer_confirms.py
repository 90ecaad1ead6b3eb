"""``AuditWriter.submit(on_written=...)``: the statement journal learns from it which
statements the trail holds, so it must fire only once an entry is committed, and never for one
the store refused (dropped)."""

from __future__ import annotations

import functools

import pytest

from store import AuditWriter, Database, verify
from tests.store.helpers import entry

pytestmark = pytest.mark.asyncio


async def test_on_written_fires_once_committed_and_never_for_a_dropped_entry(
    database: Database,
) -> None:
    """Callbacks run after their entries are committed, in order; an entry whose details the
    store refuses is dropped and its callback never runs; the others' still do."""
    writer = AuditWriter(database, interval=0.02, batch_size=4)
    fired: list[int] = []
    for n in range(6):
        bad = {"text": "\ud800"} if n == 3 else None  # a lone surrogate: refused
        item = entry(n) if bad is None else entry(n, details=bad)
        writer.submit(item, on_written=functools.partial(fired.append, n))
        assert fired == []  # nothing is committed at submit
    await writer.flush()
    assert fired == [0, 1, 2, 4, 5]
    assert (writer.written, writer.dropped) == (5, 1)
    await writer.close()
    assert (await verify(database)).checked == 5
