"""The core's hold, protocol-free: a held command's review, what the client is told, and how
the wait ends (decided, cancelled, the client gone), over the in-memory approvals fakes."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import timedelta

import pytest

from approvals import ApprovalService, Outcome, ReviewEnding, ReviewState
from gateway.guardrails import Action, Verdict
from gateway.metrics import Metrics
from gateway.postgres.dialect import POSTGRES
from gateway.sessions import ClientGone, Held, HoldOutcome, Session
from gateway.sessions import hold as hold_module
from gateway.sessions.hold import held_sha256, hold
from store import Unavailable
from tests.approvals.builders import ALICE, BOB, PG_PROD, connections
from tests.approvals.fakes import FakeClock, InMemoryEventBus, InMemoryRepository

VERDICT = Verdict(Action.HOLD, "default/destroy", "DROP TABLE destroys data", "high")
FAST = replace(PG_PROD, name="pg-fast", review_timeout=timedelta(seconds=0.2))


@pytest.fixture
def repo() -> InMemoryRepository:
    return InMemoryRepository(InMemoryEventBus())


@pytest.fixture
def service(repo: InMemoryRepository) -> ApprovalService:
    """A service whose clock follows real time (await_decision's timeouts come from it)."""
    return ApprovalService(repo, repo.bus, FakeClock(ticking=True), connections(FAST))


def session(connection: str = "pg-prod") -> Session:
    return Session(id="S-1", identity=ALICE, connection=connection, delegation=None)


async def held_review(s: Session) -> str:
    """The review id, once the hold has opened it."""
    for _ in range(200):
        if s.holding:
            return s.holding
        await asyncio.sleep(0.005)
    raise AssertionError("the hold never opened its review")


async def run_hold(
    service: ApprovalService, s: Session, left: asyncio.Event, told: list[str]
) -> Held:
    return await hold(
        s, service, Metrics(), left=left, text="DROP TABLE t", verdict=VERDICT,
        params=(b"1", None), notify=told.append, redact=POSTGRES.redact,
    )  # fmt: skip


async def test_an_approved_hold_tells_the_client_where_it_waits(service: ApprovalService) -> None:
    """The client is told the review, the channel and the timeout; approval returns APPROVED."""
    s, told = session(), list[str]()
    waiting = asyncio.create_task(run_hold(service, s, asyncio.Event(), told))
    review_id = await held_review(s)
    await service.decide(review_id, BOB, Outcome.APPROVE)
    held = await asyncio.wait_for(waiting, 2)
    assert held == Held(review_id, HoldOutcome.APPROVED)
    assert held.approved
    assert told == [
        f"held for approval: review {review_id} posted to #dba-oncall, waiting up to 15m "
        "(DROP TABLE destroys data)"
    ]
    assert (s.held, s.holding) == (1, None)
    review = await service.repository.get_review(review_id)
    assert review is not None
    assert review.statement == "DROP TABLE t\n-- parameters: '1', NULL"


async def test_a_denied_hold_names_the_approver_and_the_reason(service: ApprovalService) -> None:
    """A denial comes back with the approver's subject, their reason and the review."""
    s = session()
    waiting = asyncio.create_task(run_hold(service, s, asyncio.Event(), []))
    review_id = await held_review(s)
    await service.decide(review_id, BOB, Outcome.DENY, "not during the freeze")
    held = await asyncio.wait_for(waiting, 2)
    assert held.outcome is HoldOutcome.DENIED and not held.approved
    assert held.message == "denied by bob@example.com: not during the freeze"
    assert held.detail == f"review {review_id}"


async def test_a_cancel_from_the_client_cancels_the_review(service: ApprovalService) -> None:
    """Setting the session's cancel_hold ends the wait as CANCELLED and cancels the review."""
    s = session()
    waiting = asyncio.create_task(run_hold(service, s, asyncio.Event(), []))
    review_id = await held_review(s)
    s.cancel_hold.set()
    held = await asyncio.wait_for(waiting, 2)
    assert held.outcome is HoldOutcome.CANCELLED
    assert held.message == "canceling statement due to user request"
    review = await service.repository.get_review(review_id)
    assert review is not None and review.state is ReviewState.CANCELLED


async def test_a_client_that_leaves_cancels_the_review(service: ApprovalService) -> None:
    """The client going away raises ClientGone; the review does not stay pending."""
    s, left = session(), asyncio.Event()
    waiting = asyncio.create_task(run_hold(service, s, left, []))
    review_id = await held_review(s)
    left.set()
    with pytest.raises(ClientGone):
        await asyncio.wait_for(waiting, 2)
    review = await service.repository.get_review(review_id)
    assert review is not None and review.state is ReviewState.CANCELLED


async def test_a_hold_nobody_decides_expires(service: ApprovalService) -> None:
    """Past the connection's review timeout the outcome is EXPIRED, saying how long it waited."""
    held = await asyncio.wait_for(run_hold(service, session("pg-fast"), asyncio.Event(), []), 5)
    assert held.outcome is HoldOutcome.EXPIRED
    assert held.message.startswith(f"review {held.review_id} was expired: nobody decided within")


async def test_a_held_secret_is_stored_redacted_and_bound_by_its_hash(
    service: ApprovalService,
) -> None:
    """The review stores the dialect's redaction of the text and of the values in secret
    positions, and the SHA-256 of the exact text and values (Bind's encoding)."""
    s = session()
    text = "ALTER ROLE app PASSWORD 'hunter2'; SELECT pgp_sym_encrypt($1, $2)"
    params = (b"data", b"k3y")
    waiting = asyncio.create_task(
        hold(
            s,
            service,
            Metrics(),
            left=asyncio.Event(),
            text=text,
            verdict=VERDICT,
            params=params,
            notify=lambda _: None,
            redact=POSTGRES.redact,
        )
    )
    review_id = await held_review(s)
    review = await service.repository.get_review(review_id)
    assert review is not None
    assert review.statement == (
        "ALTER ROLE app PASSWORD '<redacted>'; SELECT pgp_sym_encrypt($1, $2)\n"
        "-- parameters: 'data', '<redacted>'"
    )
    exact = text.encode() + b"\x00\x00\x00\x04data" + b"\x00\x00\x00\x03k3y"
    assert review.statement_sha256 == hashlib.sha256(exact).hexdigest()
    assert held_sha256(text, params) == review.statement_sha256
    assert (
        held_sha256("SELECT $1", (None,))
        == hashlib.sha256(b"SELECT $1\xff\xff\xff\xff").hexdigest()
    )
    await service.decide(review_id, BOB, Outcome.APPROVE)
    assert (await asyncio.wait_for(waiting, 2)).approved


async def test_a_store_that_stops_answering_mid_wait_is_asked_again(
    service: ApprovalService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait survives an outage of the store: the decision taken meanwhile is read when the
    store answers again (the session is not ended by the outage)."""
    monkeypatch.setattr(hold_module, "STORE_RETRY_S", 0.01)
    real, failures = service.await_ending, [3]

    async def flaky(review_id: str) -> ReviewEnding:
        if failures[0]:
            failures[0] -= 1
            await asyncio.sleep(0)
            raise Unavailable("connection refused")
        return await real(review_id)

    monkeypatch.setattr(service, "await_ending", flaky)
    s = session()
    waiting = asyncio.create_task(run_hold(service, s, asyncio.Event(), []))
    review_id = await held_review(s)
    await service.decide(review_id, BOB, Outcome.APPROVE)
    held = await asyncio.wait_for(waiting, 2)
    assert held == Held(review_id, HoldOutcome.APPROVED)
    assert failures == [0]


async def test_a_store_still_out_past_the_deadline_refuses_the_command(
    service: ApprovalService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the review's deadline (and the grace) with the store still out, the command is
    refused as UNAVAILABLE naming the review, not run, and the hold returns (no exception)."""
    monkeypatch.setattr(hold_module, "STORE_RETRY_S", 0.01)
    monkeypatch.setattr(hold_module, "STORE_GRACE", timedelta(0))

    async def out(review_id: str) -> ReviewEnding:
        await asyncio.sleep(0)
        raise Unavailable("connection refused")

    monkeypatch.setattr(service, "await_ending", out)
    held = await asyncio.wait_for(run_hold(service, session("pg-fast"), asyncio.Event(), []), 5)
    assert held.outcome is HoldOutcome.UNAVAILABLE and not held.approved
    assert held.review_id is not None
    assert f"the outcome of review {held.review_id} cannot be read" in held.message
