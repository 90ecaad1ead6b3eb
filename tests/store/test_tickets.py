"""Single-use approval tickets on the real repository, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from approvals.model import Outcome
from approvals.service import ApprovalService
from store import InProcessBus, PostgresBus, SqlRepository
from tests.store.helpers import ALICE_VIA_AGENTS, BOB, CONNECTIONS, Clock

TTL = timedelta(minutes=10)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(
    repository: SqlRepository, bus: InProcessBus | PostgresBus, clock: Clock
) -> ApprovalService:
    return ApprovalService(repository, bus, clock, CONNECTIONS)


async def _approved(service: ApprovalService, ticket: str) -> str:
    held = await service.hold_statement(
        ALICE_VIA_AGENTS, "pg-prod", "DELETE FROM orders", risk="high", rule="write_unbounded",
        via="MCP", ticket=ticket,
    )  # fmt: skip
    await service.decide(held.id, BOB, Outcome.APPROVE)
    return held.id


async def test_a_ticket_is_redeemed_once(
    service: ApprovalService, repository: SqlRepository
) -> None:
    """An approved ticket is redeemed once, audited; the second redemption finds nothing."""
    review_id = await _approved(service, "t" * 64)
    assert await service.redeem_approval(ALICE_VIA_AGENTS, "u" * 64, ttl=TTL) is None
    first = await service.redeem_approval(ALICE_VIA_AGENTS, "t" * 64, ttl=TTL)
    assert first is not None and first.id == review_id and first.redeemed_at is not None
    assert first.via == "MCP"
    assert await service.redeem_approval(ALICE_VIA_AGENTS, "t" * 64, ttl=TTL) is None
    actions = [r.action for r in await repository.list_audit(limit=100)]
    assert actions.count("statement.ticket_redeemed") == 1


async def test_concurrent_redemptions_have_one_winner(service: ApprovalService) -> None:
    """Eight redemptions of one ticket at once: exactly one gets the review."""
    await _approved(service, "c" * 64)
    results = await asyncio.gather(
        *(service.redeem_approval(ALICE_VIA_AGENTS, "c" * 64, ttl=TTL) for _ in range(8))
    )
    assert sum(r is not None for r in results) == 1


async def test_a_ticket_lapses_after_its_ttl(service: ApprovalService, clock: Clock) -> None:
    """An approval not used within the ttl of its decision redeems nothing."""
    await _approved(service, "l" * 64)
    clock.advance(TTL + timedelta(seconds=1))
    assert await service.redeem_approval(ALICE_VIA_AGENTS, "l" * 64, ttl=TTL) is None


async def test_a_pending_or_denied_review_redeems_nothing(service: ApprovalService) -> None:
    """Only an approval is a ticket: a pending or denied review redeems nothing."""
    held = await service.hold_statement(
        ALICE_VIA_AGENTS, "pg-prod", "DELETE FROM orders", risk="high", rule="r", ticket="p" * 64
    )
    assert await service.redeem_approval(ALICE_VIA_AGENTS, "p" * 64, ttl=TTL) is None
    await service.decide(held.id, BOB, Outcome.DENY, "not now")
    assert await service.redeem_approval(ALICE_VIA_AGENTS, "p" * 64, ttl=TTL) is None
