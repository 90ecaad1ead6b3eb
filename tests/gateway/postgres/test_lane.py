"""The fast lane (gateway.postgres.lane): what it takes, what it hands to the general path, and
that either way the client, the upstream and the audit see the same thing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from gateway.postgres import fastlane
from gateway.postgres import wire as pg
from gateway.postgres.fastlane import CompiledLane
from gateway.postgres.lane import Lane
from gateway.postgres.relay import INTERNAL_ERROR, Relay
from tests.gateway.postgres.support import (
    MASKING,
    Env,
    RawClient,
    StatementEvent,
    gateway_env,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    masked = {"name": "pg-masked", "masking": MASKING}
    async with gateway_env(tmp_path_factory.mktemp("lane"), connections=[masked]) as env:
        yield env


_started = [datetime.min.replace(tzinfo=UTC)]  # the running test's start: what _audited reads


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: Env) -> None:
    await env.reset()
    _started[0] = datetime.now(UTC)


SLOW = "SELECT count(*) FROM generate_series(1, 3000000)"  # long enough to send behind it


@dataclass
class Counts:
    """What the lanes of the sessions started since the fixture did, read live, from the last
    ``restart`` on (``_client`` restarts once its session answered its first query)."""

    kind: str
    relays: list[Relay] = field(default_factory=list)
    zero: tuple[int, int] = (0, 0)

    @property
    def taken(self) -> int:
        return sum(relay.lane.taken for relay in self.relays) - self.zero[0]

    @property
    def spilled(self) -> int:
        return sum(relay.lane.spilled for relay in self.relays) - self.zero[1]

    def restart(self) -> None:
        self.zero = (0, 0)
        self.zero = (self.taken, self.spilled)


_counting: list[Counts] = []  # the running test's (use_lane)


LANES = ["compiled", "python"]


def use_lane(kind: str, monkeypatch: pytest.MonkeyPatch) -> Counts:
    """Sessions started from now on run the compiled lane or the Python one; counted."""
    if kind == "python":
        monkeypatch.setattr(fastlane, "AVAILABLE", False)
    else:
        assert fastlane.AVAILABLE, "the compiled lane is not built: pip install -e ."
    counts = Counts(kind)
    _counting[:] = [counts]
    init = Relay.__init__

    def spy(self: Relay, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        counts.relays.append(self)
        assert isinstance(self.lane, Lane if kind == "python" else CompiledLane)

    monkeypatch.setattr(Relay, "__init__", spy)
    return counts


@pytest.fixture(params=LANES)
def lane(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counts]:
    """How many requests the lane completed and how many it handed over, for each lane."""
    yield use_lane(request.param, monkeypatch)
    _counting.clear()


async def _client(env: Env, database: str = "pg-test") -> RawClient:
    client = await RawClient.connect(env.port)
    messages = await client.login(env.gw.token("alice@example.com", ["eng"]), database)
    assert isinstance(messages[-1], pg.ReadyForQuery), messages
    # What arrives before the relay runs goes the general way, and whether the first query
    # does depends on how soon the session starts: count from after one answer.
    await _query(client, "SHOW server_version")
    for counts in _counting:
        counts.restart()
    return client


async def _query(client: RawClient, sql: str) -> list[pg.BackendMessage]:
    client.send(pg.Query(sql))
    return await client.until_ready()


async def _audited(env: Env, needle: str, count: int) -> list[StatementEvent]:
    """The audited statements of this test containing ``needle``, once ``count`` of them are
    written (the session's log is flushed when it ends, then the audit writer commits it)."""
    async with asyncio.timeout(10):
        while True:
            found = [
                e
                for e in await env.audit()
                if needle in e.details["statement"] and e.details["at"] >= _started[0]
            ]
            if len(found) >= count:
                return found


def _rows(messages: list[pg.BackendMessage]) -> list[tuple[bytes | None, ...]]:
    return [m.values for m in messages if isinstance(m, pg.DataRow)]


def _error(messages: list[pg.BackendMessage]) -> pg.ErrorResponse | None:
    errors = [m for m in messages if isinstance(m, pg.ErrorResponse)]
    return errors[0] if errors else None


async def test_repeated_query_shapes_take_the_lane_and_are_audited(env: Env, lane: Counts) -> None:
    client = await _client(env)
    try:
        for ident, name in ((1, b"alice"), (2, b"bob"), (3, b"carol")):
            answer = await _query(client, f"SELECT name FROM t WHERE id = {ident}")
            assert _rows(answer) == [(name,)]
        assert lane.taken == 3 and lane.spilled == 0
    finally:
        client.close()
    events = await _audited(env, "SELECT name FROM t WHERE id =", 3)
    assert [(e.details["rows"], e.outcome, e.details["verdict"]) for e in events] == [
        (1, "ok", "allow")
    ] * 3
    assert all(e.details["bytes"] > 0 and e.details["duration_us"] >= 0 for e in events)


QUIET = "SELECT name FROM t WHERE id = 3 AND 'quiet' <> ''"


async def test_a_quiet_session_still_records_its_last_statement(env: Env, lane: Counts) -> None:
    """With the session left open and idle, a statement the lane answered is audited once its
    batch is a second old, with the time it ran."""
    client = await _client(env)
    try:
        before = datetime.now(UTC)
        assert _rows(await _query(client, QUIET)) == [(b"carol",)]
        after = datetime.now(UTC)
        assert lane.taken == 1
        await asyncio.sleep(1.1)  # the statement log's batch age
        [event] = await _audited(env, QUIET, 1)
        assert (event.outcome, event.details["rows"]) == ("ok", 1)
        assert before - timedelta(milliseconds=5) <= event.details["at"] <= after
    finally:
        client.close()


ORDER = [
    "SELECT name FROM t WHERE id = 1 AND 'order' <> ''",
    "COPY t TO PROGRAM 'order'",
    "SELECT name FROM t WHERE id = 2 AND 'order' <> ''",
]


async def test_records_keep_the_order_statements_ran_in(env: Env, lane: Counts) -> None:
    """A lane statement, a refused one, a lane one again: recorded in that order."""
    client = await _client(env)
    try:
        for sql in ORDER:
            await _query(client, sql)
        assert lane.taken == 2
    finally:
        client.close()
    events = await _audited(env, "'order'", 3)
    assert [e.details["statement"] for e in events] == ORDER
    assert [e.outcome for e in events] == ["ok", "block", "ok"]


async def test_text_that_is_not_utf8_is_refused_even_in_a_known_shape(
    env: Env, lane: Counts
) -> None:
    """Bytes that are not UTF-8 inside a string literal leave the literal shape as it was; the
    lane still does not take them: the client gets 22021 and the session carries on."""
    client = await _client(env)
    try:
        await _query(client, "SELECT name FROM t WHERE name = 'carol'")
        assert lane.taken == 1
        body = b"SELECT name FROM t WHERE name = 'caf\xe9'\x00"
        client.send_raw(b"Q" + (len(body) + 4).to_bytes(4, "big") + body)
        answer = await client.until_ready()
        error = _error(answer)
        assert error is not None and (error.severity, error.sqlstate) == ("ERROR", "22021")
        assert _rows(await _query(client, "SELECT name FROM t WHERE name = 'bob'")) == [(b"bob",)]
        assert (lane.taken, lane.spilled) == (2, 0)
    finally:
        client.close()


async def test_error_is_handed_to_the_general_path(env: Env, lane: Counts) -> None:
    """A statement the lane takes that fails upstream: the client gets the error, the session
    stays in sync, the audit records the failure."""
    client = await _client(env)
    try:
        answer = await _query(client, "SELECT 10 / (id - 1) FROM t WHERE id = 1")
        error = _error(answer)
        assert error is not None and error.sqlstate == "22012", answer
        assert lane.spilled == 1
        assert _rows(await _query(client, "SELECT 10 / (id - 1) FROM t WHERE id = 2")) == [(b"10",)]
        assert lane.taken == 1
    finally:
        client.close()
    outcomes = [(e.outcome, e.details["sqlstate"]) for e in await _audited(env, "SELECT 10 /", 2)]
    assert outcomes == [("error", "22012"), ("ok", None)]


async def test_a_literal_that_matters_is_never_shared_by_shape(env: Env) -> None:
    """Same shape, different verdicts: naming a harmless setting runs, naming the role is held."""
    client = await _client(env)
    try:
        answer = await _query(client, "SELECT set_config('application_name', 'x', false)")
        assert _error(answer) is None and _rows(answer) == [(b"x",)]
        client.send(pg.Query("SELECT set_config('role', 'x', false)"))
        review = await env.pending_review()
        await env.decide(review.id, "deny", "not today")
        error = _error(await client.until_ready())
        assert error is not None and error.sqlstate == "42501"
    finally:
        client.close()


async def test_prepared_statement_takes_the_lane(env: Env, lane: Counts) -> None:
    client = await _client(env)
    try:
        client.send(pg.Parse("by_id", "SELECT name, balance FROM t WHERE id = $1", ()), pg.Sync())
        await client.until_ready()
        for ident, name in ((b"1", b"alice"), (b"3", b"carol")):
            client.send(
                pg.Bind("", "by_id", (), (ident,), ()),
                pg.Describe("P", ""),
                pg.Execute("", 0),
                pg.Sync(),
            )
            answer = await client.until_ready()
            assert _rows(answer) == [(name, ident + b"0")]
            assert isinstance(answer[0], pg.BindComplete)
        assert lane.taken == 2 and lane.spilled == 0
        # The portal the lane bound is the session's: a bad Execute is refused as usual.
        client.send(pg.Execute("nope", 0), pg.Sync())
        error = _error(await client.until_ready())
        assert error is not None and error.sqlstate == "34000"
    finally:
        client.close()
    events = await _audited(env, "WHERE id = $1", 2)
    assert [(e.outcome, e.details["rows"]) for e in events] == [("ok", 1), ("ok", 1)]


async def test_pipelined_request_spills_and_every_answer_arrives(env: Env, lane: Counts) -> None:
    client = await _client(env)
    try:
        client.send(pg.Query(SLOW))
        await asyncio.sleep(0.1)  # the lane has it in flight when the next arrives
        client.send(pg.Query("SELECT name FROM t WHERE id = 2"))
        first = await client.until_ready()
        second = await client.until_ready()
        assert _rows(first) == [(b"3000000",)] and _rows(second) == [(b"bob",)]
        assert lane.spilled == 1
    finally:
        client.close()
    slow, then = await _audited(env, SLOW, 1), await _audited(env, "WHERE id = 2", 1)
    assert slow[-1].details["at"] <= then[-1].details["at"]


async def test_result_over_many_reads_is_handed_over(env: Env, lane: Counts) -> None:
    client = await _client(env)
    try:
        answer = await _query(client, "SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g")
        rows = _rows(answer)
        assert len(rows) == 20000 and rows[-1][0] == b"20000"
        assert lane.spilled == 1 and lane.taken == 0
    finally:
        client.close()
    events = await _audited(env, "repeat('x', 200)", 1)
    assert [e.details["rows"] for e in events] == [20000]


async def test_masked_results_never_take_the_lane(env: Env, lane: Counts) -> None:
    client = await _client(env, "pg-masked")
    try:
        for _ in range(2):
            answer = await _query(client, "SELECT ssn, card_number FROM t WHERE id = 1")
            ((ssn, card),) = _rows(answer)
            assert ssn is not None and b"078-05-1121" not in ssn
            assert card is not None and b"4111111111111111" not in card
        assert lane.taken == 0
        # A result with nothing a rule or detector could mask does take it (detectors look at
        # text and at numbers long enough to be a card or an SSN: most results do not).
        assert _rows(await _query(client, "SELECT id > 1 FROM t WHERE id = 1")) == [(b"f",)]
        assert lane.taken == 1
    finally:
        client.close()


async def test_transaction_status_follows_the_lane(env: Env, lane: Counts) -> None:
    client = await _client(env)
    try:
        await _query(client, "BEGIN")
        answer = await _query(client, "SELECT name FROM t WHERE id = 1")
        assert _rows(answer) == [(b"alice",)]
        assert isinstance(answer[-1], pg.ReadyForQuery) and answer[-1].status == "T"
        assert lane.taken == 1
        failed = await _query(client, "SELECT 10 / (id - 1) FROM t WHERE id = 1")
        assert _error(failed) is not None and failed[-1] == pg.ReadyForQuery("E")
        aborted = await _query(client, "SELECT name FROM t WHERE id = 2")
        error = _error(aborted)
        assert error is not None and error.sqlstate == "25P02", aborted
        await _query(client, "ROLLBACK")
        assert _rows(await _query(client, "SELECT name FROM t WHERE id = 2")) == [(b"bob",)]
    finally:
        client.close()


@pytest.mark.parametrize("kind", LANES)
async def test_lane_disagreeing_with_the_general_path_ends_the_session(
    env: Env, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Should the lane ever take what the general path would not (a bug), the session ends at
    the next hand-over instead of carrying on with a tracker that does not match the server; the
    client is told so with a FATAL internal error (no details)."""
    use_lane(kind, monkeypatch)

    def careless(self: Lane, text: str, key: str) -> tuple[str, str | None]:
        return ("allow", None)

    def careless_compiled(
        self: CompiledLane, text: str
    ) -> tuple[tuple[str, str | None] | None, bool]:
        return ("allow", None), True

    monkeypatch.setattr(Lane, "_learn", careless)
    monkeypatch.setattr(CompiledLane, "_learn", careless_compiled)
    client = await _client(env)
    try:
        client.send(pg.Query("SELECT pg_read_file('/nonexistent/airlock')"))
        messages = []
        with pytest.raises(ConnectionError):
            while True:
                messages.append(await client.read())
        assert not any(isinstance(m, pg.ReadyForQuery) for m in messages), messages
        last = messages[-1]
        assert isinstance(last, pg.ErrorResponse), messages
        assert (last.severity, last.sqlstate, last.message) == ("FATAL", "XX000", INTERNAL_ERROR)
    finally:
        client.close()


async def test_requests_split_across_reads_go_the_general_way(env: Env, lane: Counts) -> None:
    """Pieces of a Bind or Query (a header cut short, a body still arriving) are not the lane's;
    the general path waits for the rest and answers as usual."""
    client = await _client(env)
    try:
        client.send(pg.Parse("by_id", "SELECT name FROM t WHERE id = $1", ()), pg.Sync())
        await client.until_ready()
        request = b"".join(
            pg.encode(m)
            for m in (pg.Bind("", "by_id", (), (b"2",), ()), pg.Execute("", 0), pg.Sync())
        )
        query = pg.encode(pg.Query("SELECT name FROM t WHERE id = 3"))
        for data in (request, query):
            for piece in (data[:3], data[3:9], data[9:]):
                client.send_raw(piece)
                await client.writer.drain()
                await asyncio.sleep(0.02)
            answer = await client.until_ready()
            assert _error(answer) is None and len(_rows(answer)) == 1, answer
        assert lane.taken == 0 and lane.spilled == 0
    finally:
        client.close()
