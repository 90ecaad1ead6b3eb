"""A session keeps nothing once it ended: no object of its own stays reachable, and every
registry that holds sessions (the listener's, the core's timers and cap slots, the guard's, the
bus's subscriptions of holds) is empty again, whatever way the session went (relayed and
closed, held and denied, refused by a cap, left in the middle of its start-up)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from gateway.postgres import listener as listener_module
from gateway.postgres.client_side import ClientSide
from gateway.postgres.context import Shared
from gateway.postgres.counting import Counter, InSession
from gateway.postgres.listener import PostgresListener
from gateway.postgres.relay import LiveSession, Relay
from gateway.postgres.server_side import ServerSide
from gateway.sessions import SessionCore, SessionJournal, Slot, StatementLog, Ticket
from tests.gateway.postgres.support import Env, RawClient, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

PER_SESSION = (
    Shared,
    LiveSession,
    Relay,
    ClientSide,
    ServerSide,
    Counter,
    InSession,
    StatementLog,
    SessionJournal,
    Slot,
    Ticket,
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    directory = tmp_path_factory.mktemp("release")
    async with gateway_env(
        directory,
        masking={"columns": ["ssn"], "detectors": ["email"]},
        gateway_options={"max_sessions_per_identity": 2},
    ) as env:
        yield env


def listener_of(env: Env) -> PostgresListener:
    """This gateway's listener (a gateway of an earlier module may not be collected yet)."""
    gc.collect()
    [found] = [o for o in gc.get_objects() if type(o) is PostgresListener and o.port == env.port]
    return found


def alive() -> dict[str, int]:
    """Objects of the per-session classes still reachable, by class."""
    gc.collect()
    counts: dict[str, int] = {}
    for obj in gc.get_objects():
        if isinstance(obj, PER_SESSION):
            counts[type(obj).__name__] = counts.get(type(obj).__name__, 0) + 1
    return counts


async def released(env: Env) -> None:
    """Wait (5 s at most) until no per-session object and no registry entry is left."""
    listener = listener_of(env)
    core = listener.core
    assert isinstance(core, SessionCore)
    bus = env.gw.runtime.service.bus
    async with asyncio.timeout(5):
        while True:
            left = alive()
            registries = {
                "listener.live": len(listener.live),
                "listener.handlers": len(listener._handlers),
                "core.expiry": len(core._expiry),
                "core.slots": len(core._slots),
                "guard.sessions": len(core.guard._sessions),
                "limits.open": core.limits.open,
                "limits.connections": core.limits.connections,
                "limits.by_identity": len(core.limits.by_identity),
                "limits.by_connection": len(core.limits.by_connection),
                "bus.review_topics": sum(
                    topic.startswith("review.decided")
                    for topic in getattr(getattr(bus, "_fanout", None), "_subscribers", {})
                ),
            }
            if not left and not any(registries.values()):
                return
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                raise AssertionError(
                    f"left after the sessions ended: {left} {registries}"
                ) from None


async def test_sessions_leave_nothing_behind(env: Env) -> None:
    """Relayed, masked, held-and-denied, capped and abandoned sessions all release everything
    they held once they end."""
    await released(env)  # nothing before (the fixture's start-up checks)
    plain = await env.asyncpg()
    assert await plain.fetchval("SELECT 1") == 1
    assert len(await plain.fetch("SELECT * FROM t")) == 3
    second = await env.asyncpg()
    assert alive().get("Shared") == 2  # the census sees live sessions
    with pytest.raises(asyncpg.TooManyConnectionsError):  # the third of alice's is refused
        await env.asyncpg()
    held = asyncio.create_task(second.execute("DELETE FROM t"))
    review = await env.pending_review()
    await env.decide(review.id, "deny", "not now")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await held
    await asyncio.gather(plain.close(), second.close())
    abandoned = await RawClient.connect(env.port)  # gone in the middle of its start-up
    abandoned.send_raw(b"\x00\x00\x00\x08")
    abandoned.writer.close()
    await released(env)


async def test_ended_sessions_are_collected_without_waiting_for_the_collector(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ended session's objects are freed by the cyclic collector only; `airlock up` runs it
    rarely, so the listener runs it every COLLECT_EVERY ended sessions: with the automatic
    collector off, at most that many ended sessions are ever left waiting."""
    monkeypatch.setattr(listener_module, "COLLECT_EVERY", 10)
    gc.collect()
    gc.disable()
    try:
        for _ in range(35):
            conn = await env.asyncpg()
            assert await conn.fetchval("SELECT 1") == 1
            await conn.close()
        await asyncio.sleep(0.2)
        waiting = sum(type(o) is Shared for o in gc.get_objects())
    finally:
        gc.enable()
    assert waiting <= 10, waiting
