"""Fixtures of the HTTP API tests: a clean ``AIRLOCK_*`` environment and an in-process world."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.gateway.api.world import ApiWorld, api_world


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``AIRLOCK_*`` variable of the caller's shell leaks into the settings under test."""
    for name in list(os.environ):
        if name.startswith("AIRLOCK_") and not name.startswith("AIRLOCK_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[ApiWorld]:
    async with api_world(tmp_path) as built:
        yield built
