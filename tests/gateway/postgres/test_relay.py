"""The relay's own duties: backpressure both ways, the buffer limit while a statement is held,
and a held statement's review when the session is ended from outside."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from approvals import ReviewState
from gateway.postgres import wire as pg
from gateway.postgres.relay import HIGH_WATER, Relay
from gateway.sessions import HOLD_BUFFER_LIMIT, Ending
from gateway.sessions.hold import ENDED
from tests.gateway.postgres.support import Env, RawClient, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path_factory.mktemp("relay")) as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: Env) -> None:
    await env.reset()


async def _client(env: Env, subject: str = "alice@example.com") -> RawClient:
    client = await RawClient.connect(env.port)
    messages = await client.login(env.gw.token(subject, ["eng"]))
    assert isinstance(messages[-1], pg.ReadyForQuery), messages
    return client


async def _ended_and_cancelled(
    env: Env, client: RawClient, sqlstate: str, review: str, reason: str | None = None
) -> None:
    """The session ended with a FATAL ``sqlstate``, the review was cancelled (saying
    ``reason`` on its card), nothing ran."""
    messages = await client.until_ready()
    fatal = [m for m in messages if isinstance(m, pg.ErrorResponse)]
    assert fatal and (fatal[-1].severity, fatal[-1].sqlstate) == ("FATAL", sqlstate), messages
    final = await env.final_review(review)
    assert final.state is ReviewState.CANCELLED
    assert final.cancel_reason == reason
    assert await env.count() == 3


@pytest.fixture
def throttles(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Every pause/resume the relay does, as (side that is behind, paused)."""
    seen: list[tuple[str, bool]] = []
    original = Relay.throttle

    def spy(self: Relay, side: str, *, pause: bool) -> None:
        seen.append((side, pause))
        original(self, side, pause=pause)

    monkeypatch.setattr(Relay, "throttle", spy)
    return seen


async def test_a_slow_client_pauses_the_server_and_gets_every_row(
    env: Env, throttles: list[tuple[str, bool]]
) -> None:
    """A result far larger than the high-water mark, to a client that does not read for a
    while: the relay stops reading the server (rather than buffering it all), then resumes;
    every row arrives, in order, and the session carries on."""
    count, width = 40_000, 1000
    assert count * width > 4 * HIGH_WATER
    client = await _client(env)
    try:
        client.send(pg.Query(f"SELECT i, repeat('x', {width}) FROM generate_series(1, {count}) i"))
        for _ in range(100):  # not reading: the kernel's buffers fill, then the gateway's
            if ("client", True) in throttles:
                break
            await asyncio.sleep(0.05)
        assert ("client", True) in throttles
        rows = 0
        while not isinstance(message := await client.read(), pg.ReadyForQuery):
            if isinstance(message, pg.DataRow):
                rows += 1
                assert message.values[0] == str(rows).encode()
        assert rows == count
        assert ("client", False) in throttles
        client.send(pg.Query("SELECT 'still here'"))
        answer = await client.until_ready()
        assert [m.values for m in answer if isinstance(m, pg.DataRow)] == [(b"still here",)]
    finally:
        client.close()


async def test_too_much_sent_while_held_ends_the_session_and_cancels_the_review(
    env: Env,
) -> None:
    """What a client pipelines behind a held statement is buffered up to a limit; beyond it
    the session ends (54000) and the review is cancelled; nothing ran."""
    client = await _client(env)
    try:
        client.send(pg.Query("DELETE FROM t"))
        review = await env.pending_review()
        filler = pg.Query("SELECT 1 /*" + "x" * (1024 * 1024) + "*/")
        for _ in range(HOLD_BUFFER_LIMIT // (1024 * 1024) + 2):
            client.send(filler)
        await _ended_and_cancelled(env, client, "54000", review.id)
    finally:
        client.close()


async def test_a_session_ended_from_outside_cancels_its_held_review(env: Env) -> None:
    """Revoking the person whose statement is held ends the session (57P01) and cancels the
    review: it does not wait for an approver who can no longer make it run."""
    client = await _client(env, "carol@example.com")
    try:
        client.send(pg.Query("DELETE FROM t"))
        review = await env.pending_review()
        async with env.gw.client(env.gw.token("root@example.com", ["airlock-admins"])) as http:
            answer = await http.post(
                "/v1/revocations/subjects",
                json={"subject": "carol@example.com", "reason": "left the team"},
            )
            assert answer.status_code < 300, answer.text
        await _ended_and_cancelled(env, client, "57P01", review.id, ENDED[Ending.REVOKED])
    finally:
        client.close()
