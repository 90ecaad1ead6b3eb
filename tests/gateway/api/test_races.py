"""50 approvers click at once: exactly one decision wins, through the HTTP API on a real port,
on the real PostgreSQL store (row lock) and on SQLite (BEGIN IMMEDIATE)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from approvals import Identity
from tests.harness import RunningGateway, pg_connection, running_gateway

CALLERS = 50


async def race(gw: RunningGateway) -> None:
    requester = Identity("alice@example.com", groups=frozenset({"eng"}))
    review = await gw.runtime.service.hold_statement(
        requester, "pg-test", "DROP TABLE orders", risk="high", rule="ddl-destroy"
    )
    limits = httpx.Limits(max_connections=CALLERS)
    async with httpx.AsyncClient(base_url=gw.api_url, timeout=60, limits=limits) as http:

        async def click(n: int) -> httpx.Response:
            token = gw.token(f"approver-{n:02d}@example.com", ["dba"])
            body = {"outcome": "deny", "reason": f"no ({n})"} if n % 2 else {"outcome": "approve"}
            return await http.post(
                f"/v1/reviews/{review.id}/decisions",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )

        responses = await asyncio.gather(*(click(n) for n in range(CALLERS)))

    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [(r.status_code, r.text) for r in responses if r.status_code != 409]
    final = winners[0].json()
    assert final["state"] in {"approved", "denied"}
    decider = final["decided_by"]
    losers = [r for r in responses if r is not winners[0]]
    assert len(losers) == CALLERS - 1
    for loser in losers:
        assert loser.status_code == 409, loser.text
        error = loser.json()["error"]
        assert error["code"] == "already_decided"
        assert error["details"] == {"state": final["state"], "decided_by": decider}
        assert decider in error["message"]

    stored = await gw.runtime.repository.get_review(review.id)
    assert stored is not None
    assert stored.state.value == final["state"]
    assert [d.approver.subject for d in stored.decisions] == [decider]
    trail = await gw.runtime.repository.list_audit(connection="pg-test", limit=1000)
    assert [e.action for e in trail] == ["statement.held", "review.decision", "review.final"]


@pytest.mark.timeout(90)
async def test_fifty_deciders_on_postgres(tmp_path: Path, pg_database_url: str) -> None:
    """On PostgreSQL one of 50 concurrent approve/deny calls wins; 49 get already_decided."""
    async with running_gateway(
        tmp_path, connections=[pg_connection("postgres")], store_url=pg_database_url
    ) as gw:
        await race(gw)


@pytest.mark.timeout(90)
async def test_fifty_deciders_on_sqlite(tmp_path: Path) -> None:
    """On SQLite likewise: the write lock serialises the deciders, none fails as 'locked'."""
    async with running_gateway(tmp_path, connections=[pg_connection("postgres")]) as gw:
        await race(gw)
