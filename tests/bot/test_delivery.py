"""Card delivery through the outbox: exactly once per review across restarts and crashes,
woken by the bus, and patient with Slack's rate limits."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from approvals import (
    ApprovalService,
    ApproverRule,
    Connection,
    Identity,
    Outcome,
    Review,
    SystemClock,
)
from bot.config import ChatConfig, Person
from bot.delivery import TOPICS, Delivery
from bot.people import People
from bot.slack.client import SlackApi, web_client
from bot.slack.sink import SlackDirectory, SlackSink
from store import Database, InProcessBus, Outbox, PostgresBus, SqlRepository
from tests.bot.chatkit import CHANNEL, cards_in, chat_gateway, connection, wait_for
from tests.harness import RunningGateway
from tests.support.fake_slack import FakeSlack

ALICE = Identity("alice@example.com", groups=frozenset({"eng"}), email="alice@example.com")
BOB = Identity("bob@example.com", groups=frozenset({"dba"}), email="bob@example.com")
PG = Connection("pg", "postgres", approvers=ApproverRule(frozenset({"dba"}), channel=CHANNEL))
CONFIG = ChatConfig(
    "slack",
    "http://127.0.0.1:9",
    {"pg": PG},
    (Person("alice@example.com", frozenset({"eng"}), "U0ALICE"),),
)


def _delivery(
    fake: FakeSlack, repository: SqlRepository, database: Database, poll_interval: float = 5.0
) -> Delivery:
    api = SlackApi(web_client(fake.bot_token, fake.base_url))
    sink = SlackSink(api, SlackDirectory(api, People(CONFIG.people)))
    outbox = Outbox(database)
    return Delivery(
        sink, outbox, repository, repository.bus, SystemClock(), CONFIG, poll_interval=poll_interval
    )


def _service(repository: SqlRepository, bus: InProcessBus | PostgresBus) -> ApprovalService:
    return ApprovalService(repository, bus, SystemClock(), {"pg": PG})


async def _hold(service: ApprovalService, statement: str = "TRUNCATE t") -> Review:
    return await service.hold_statement(ALICE, "pg", statement, risk="high", rule="destructive")


async def test_redelivery_after_a_crash_redraws_instead_of_posting_again(
    fake: FakeSlack, repository: SqlRepository, database: Database, bus: InProcessBus | PostgresBus
) -> None:
    """A bot that posted and recorded a card but died before marking the event delivered gets
    the event again after its lease and redraws the card; it never posts a second one."""
    service = _service(repository, bus)
    review = await _hold(service)
    delivery = _delivery(fake, repository, database)
    outbox = Outbox(database)
    claimed = await outbox.claim_undelivered(
        delivery.consumer, TOPICS, lease=timedelta(milliseconds=200)
    )
    assert [e.key for e in claimed] == [review.id]
    await delivery.reconcile(review.id)  # posted and recorded ... then the process died
    await asyncio.sleep(0.3)
    assert await delivery.drain() is None
    assert len(cards_in(fake)) == 1 and len(fake.calls_to("chat.update")) == 1

    await service.decide(review.id, BOB, Outcome.APPROVE)
    await delivery.drain()
    await delivery.drain()
    thread = [m for m in fake.snapshot().values() if "thread_ts" in m]
    assert len(cards_in(fake)) == 1 and len(thread) == 1
    dm = fake.channel_id("U0ALICE")
    assert len([1 for (channel, _) in fake.snapshot() if channel == dm]) == 1
    refs = await repository.list_chat_messages(review.id)
    assert sorted(r.provider for r in refs) == ["slack", "slack:dm", "slack:reply"]


async def test_the_bus_wakes_the_loop_long_before_its_poll(
    fake: FakeSlack, repository: SqlRepository, database: Database, bus: InProcessBus | PostgresBus
) -> None:
    """With a 60 s poll, a new review's card still arrives within a second: the commit wakes it."""
    delivery = _delivery(fake, repository, database, poll_interval=60.0)
    stop = asyncio.Event()
    loop = asyncio.create_task(delivery.run(stop))
    try:
        await asyncio.sleep(0.1)  # the loop has drained (nothing) and sleeps
        started = time.perf_counter()
        await _hold(_service(repository, bus))
        await wait_for(lambda: cards_in(fake), within=1.0, what="the card")
        print(f"\ncard {1e3 * (time.perf_counter() - started):.0f} ms after the commit")
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5)


async def test_rate_limit_retry_after_is_honoured(
    fake: FakeSlack, repository: SqlRepository, database: Database, bus: InProcessBus | PostgresBus
) -> None:
    """Two 429s with Retry-After: 1 are each waited out (>= 1 s) before the card is posted."""
    fake.rate_limit(2, retry_after=1)
    await _hold(_service(repository, bus))
    delivery = _delivery(fake, repository, database, poll_interval=0.05)
    stop = asyncio.Event()
    loop = asyncio.create_task(delivery.run(stop))
    try:
        await wait_for(lambda: cards_in(fake), within=6.0, what="the card")
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5)
    posts = fake.calls_to("chat.postMessage")
    assert [c.status for c in posts] == [429, 429, 200]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(posts)]
    assert all(gap >= 1.0 for gap in gaps), gaps
    assert len(cards_in(fake)) == 1


@contextlib.asynccontextmanager
async def _gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeSlack | None, mode: str
) -> AsyncIterator[RunningGateway]:
    conns = [connection(access="request")]
    async with chat_gateway(tmp_path, monkeypatch, fake, connections=conns, mode=mode) as gw:
        yield gw


async def _ask(gw: RunningGateway, reason: str) -> None:
    async with gw.client(gw.token("alice@example.com", ["eng"])) as api:
        body = {"connection": "pg-test", "duration": "1h", "reason": reason}
        assert (await api.post("/v1/access-requests", json=body)).status_code == 201


async def test_bot_down_while_three_reviews_open_posts_exactly_three(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeSlack
) -> None:
    """Three access requests made while no bot runs are posted, exactly once each, when the
    bot starts; a second restart posts nothing again (a fourth request shows it caught up)."""
    async with _gateway(tmp_path, monkeypatch, None, "gateway") as gw:
        for n in range(3):
            await _ask(gw, f"INC-{n}")
    assert not fake.calls
    async with _gateway(tmp_path, monkeypatch, fake, "up"):
        await wait_for(lambda: len(cards_in(fake)) == 3, what="three cards")
    async with _gateway(tmp_path, monkeypatch, fake, "up") as gw:
        await _ask(gw, "INC-3")
        await wait_for(lambda: len(cards_in(fake)) == 4, what="the fourth card")
    posts = [c for c in fake.calls_to("chat.postMessage") if "thread_ts" not in c.params]
    reasons = sorted(str(c.params["blocks"]).count("INC-") for c in posts)
    assert len(posts) == 4 and reasons == [1, 1, 1, 1]


async def test_partial_approvals_and_a_cancel_are_told_in_the_thread(
    fake: FakeSlack, repository: SqlRepository, database: Database, bus: InProcessBus | PostgresBus
) -> None:
    """With a quorum of two, the first approval redraws the card as 1 of 2 (buttons kept) and is
    replied in the thread; the requester's cancel ends it: card redrawn, an ending reply, a DM."""
    two = Connection(
        "pg", "postgres", approvers=ApproverRule(frozenset({"dba"}), channel=CHANNEL, quorum=2)
    )
    service = ApprovalService(repository, bus, SystemClock(), {"pg": two})
    review = await _hold(service)
    delivery = _delivery(fake, repository, database)
    await delivery.drain()
    await service.decide(review.id, BOB, Outcome.APPROVE)
    await delivery.drain()
    ((channel, ts, card),) = cards_in(fake)
    assert "1 of 2 approvals" in str(card["blocks"]) and card["blocks"][-1]["type"] == "actions"
    await service.cancel(review.id, ALICE)
    await delivery.drain()
    card = fake.messages[(channel, ts)]
    assert "Cancelled" in str(card["blocks"]) and card["blocks"][-1]["type"] != "actions"
    thread = [str(m["blocks"]) for m in fake.snapshot().values() if m.get("thread_ts") == ts]
    assert len(thread) == 2 and "approved" in thread[0] and "Cancelled" in thread[1]
    dm = fake.channel_id("U0ALICE")
    assert len([1 for (c, _) in fake.snapshot() if c == dm]) == 1


async def test_a_card_slack_no_longer_has_does_not_hold_up_the_others(
    fake: FakeSlack, repository: SqlRepository, database: Database, bus: InProcessBus | PostgresBus
) -> None:
    """A redraw Slack refuses for good (the card was deleted: message_not_found) is given up at
    once; the next review's card is posted in the same drain."""
    service = _service(repository, bus)
    first = await _hold(service, "TRUNCATE a")
    delivery = _delivery(fake, repository, database)
    await delivery.drain()
    fake.messages.clear()  # someone deleted the card
    await service.decide(first.id, BOB, Outcome.APPROVE)
    await _hold(service, "TRUNCATE b")
    assert await delivery.drain() is None
    ((_, _, card),) = cards_in(fake)
    assert "TRUNCATE b" in str(card["blocks"])
    assert [c.response.get("error") for c in fake.calls_to("chat.update")] == ["message_not_found"]


async def test_a_stopping_loop_marks_what_it_delivered(
    fake: FakeSlack, repository: SqlRepository, database: Database, bus: InProcessBus | PostgresBus
) -> None:
    """Deliveries are marked by the next claim; a loop that stops first marks them itself, so a
    restarted bot finds nothing to redo, even once the lease ran out."""
    delivery = _delivery(fake, repository, database, poll_interval=60.0)
    delivery.lease = timedelta(milliseconds=300)
    stop = asyncio.Event()
    loop = asyncio.create_task(delivery.run(stop))
    try:
        await _hold(_service(repository, bus))
        await wait_for(lambda: cards_in(fake), within=5.0, what="the card")
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5)
    await asyncio.sleep(0.4)
    assert await Outbox(database).claim_undelivered(delivery.consumer, TOPICS) == []
