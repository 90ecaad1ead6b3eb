"""Fixtures for the approvals domain tests: the service wired to in-memory fakes."""

from __future__ import annotations

import pytest

from approvals.service import ApprovalService
from tests.approvals.builders import connections
from tests.approvals.fakes import FakeClock, InMemoryEventBus, InMemoryRepository


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bus() -> InMemoryEventBus:
    return InMemoryEventBus()


@pytest.fixture
def repo(bus: InMemoryEventBus) -> InMemoryRepository:
    return InMemoryRepository(bus)


@pytest.fixture
def service(repo: InMemoryRepository, bus: InMemoryEventBus, clock: FakeClock) -> ApprovalService:
    return ApprovalService(repo, bus, clock, connections())
