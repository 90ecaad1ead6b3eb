"""``GET /v1/audit``: auditors only; filter by identity, anyone in the chain, connection, time
(on SQLite and on the real PostgreSQL, whose chain search is a jsonb containment)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from approvals import Actor
from tests.conftest import fresh_pg_database
from tests.gateway.api.world import ALICE, ApiWorld, api_world, error_code

AGENTS = (Actor("ci-runner"), Actor("sql-agent"))


@pytest.fixture(params=["sqlite", "postgres"])
async def trail(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiWorld]:
    """A world with a small trail: alice holds a statement on pg-test; alice through her agents
    asks for pg-req (over the API, with a token minted with actors); bob approves both."""
    if request.param == "sqlite":
        async with api_world(tmp_path) as world:
            await _make_trail(world)
            yield world
        return
    async with fresh_pg_database() as url, api_world(tmp_path, url) as world:
        await _make_trail(world)
        yield world


async def _make_trail(world: ApiWorld) -> None:
    held = await world.hold(ALICE)
    agent_token = world.token("alice@example.com", ["eng"], actors=AGENTS)
    async with world.client(agent_token) as http:
        asked = await http.post(
            "/v1/access-requests", json={"connection": "pg-req", "duration": "1h", "reason": "x"}
        )
    assert asked.status_code == 201, asked.text
    async with world.client(world.token("bob@example.com", ["dba"])) as http:
        for review_id in (held.id, asked.json()["id"]):
            decided = await http.post(
                f"/v1/reviews/{review_id}/decisions", json={"outcome": "approve"}
            )
            assert decided.status_code == 200, decided.text


async def audit(world: ApiWorld, **params: Any) -> list[dict[str, Any]]:
    async with world.client(world.token("sec@example.com", ["security"])) as http:
        response = await http.get("/v1/audit", params=params)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


def actions(events: list[dict[str, Any]]) -> list[str]:
    return [e["action"] for e in events]


async def test_only_auditors_read(trail: ApiWorld) -> None:
    """security, auditors and admins read the trail; others (an admin through an agent too)
    get 403 forbidden."""
    allowed = [
        trail.token("sec@example.com", ["security"]),
        trail.token("aud@example.com", ["auditors"]),
        trail.token("root@example.com", ["airlock-admins"]),
    ]
    refused = [
        trail.token("mallory@example.com", ["eng"]),
        trail.token("bob@example.com", ["dba"]),
        trail.token("carol@example.com"),
        trail.token("root@example.com", ["airlock-admins"], actors=(Actor("agent"),)),
    ]
    for token in allowed:
        async with trail.client(token) as http:
            assert (await http.get("/v1/audit")).status_code == 200
    for token in refused:
        async with trail.client(token) as http:
            response = await http.get("/v1/audit")
        assert (response.status_code, error_code(response)) == (403, "forbidden")


async def test_whole_trail_in_order(trail: ApiWorld) -> None:
    """Every event comes back in seq order with its chain and hashes."""
    events = await audit(trail)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert actions(events) == [
        "statement.held",
        "access.requested",
        "review.decision",
        "review.final",
        "review.decision",
        "review.final",
        "delegation.granted",
    ]
    assert all(e["hash"] and e["prev_hash"] for e in events)


async def test_filter_by_identity(trail: ApiWorld) -> None:
    """?identity= matches the chain's original subject."""
    alice = await audit(trail, identity="alice@example.com")
    assert actions(alice) == ["statement.held", "access.requested"]
    bob = await audit(trail, identity="bob@example.com")
    assert set(actions(bob)) == {"review.decision", "review.final", "delegation.granted"}


async def test_filter_by_actor_anywhere_in_the_chain(trail: ApiWorld) -> None:
    """?actor= finds what an agent did for anyone, wherever it sits in the chain."""
    for agent in ("ci-runner", "sql-agent"):
        (event,) = await audit(trail, actor=agent)
        assert event["action"] == "access.requested"
        assert event["actor_chain"] == ["alice@example.com", "ci-runner", "sql-agent"]
    assert len(await audit(trail, actor="alice@example.com")) == 2
    assert await audit(trail, actor="nobody") == []


async def test_filter_by_connection(trail: ApiWorld) -> None:
    """?connection= keeps one connection's events."""
    pg_test = await audit(trail, connection="pg-test")
    assert actions(pg_test) == ["statement.held", "review.decision", "review.final"]
    assert all(e["connection"] == "pg-req" for e in await audit(trail, connection="pg-req"))


async def test_filter_by_time(trail: ApiWorld) -> None:
    """?since= / ?until= bound the time (ISO 8601; without an offset, UTC)."""
    everything = await audit(trail)
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    assert await audit(trail, since=(now - hour).isoformat()) == everything
    assert await audit(trail, since=(now + hour).isoformat()) == []
    assert await audit(trail, until=(now - hour).isoformat()) == []
    naive = (now - hour).replace(tzinfo=None).isoformat()
    assert await audit(trail, since=naive) == everything
    middle = datetime.fromisoformat(everything[3]["at"])
    later = await audit(trail, since=middle.isoformat())
    assert later == [e for e in everything if datetime.fromisoformat(e["at"]) >= middle]


async def test_paging(trail: ApiWorld) -> None:
    """limit and after_seq page through the trail."""
    first = await audit(trail, limit=3)
    rest = await audit(trail, after_seq=first[-1]["seq"])
    assert first + rest == await audit(trail)
    async with trail.client(trail.token("sec@example.com", ["security"])) as http:
        response = await http.get("/v1/audit", params={"limit": 0})
    assert (response.status_code, error_code(response)) == (422, "invalid_request")
