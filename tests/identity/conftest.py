"""Fixtures of the identity tests: a clean ``AIRLOCK_*`` environment and config home, the local
OIDC issuer, and a fresh upstream database."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.identity.support import Target, target_database
from tests.support.oidc_issuer import OidcIssuer


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ``AIRLOCK_*`` variable or cached login of the caller's shell leaks in."""
    for name in list(os.environ):
        if name.startswith("AIRLOCK_") and not name.startswith("AIRLOCK_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    async with target_database() as db:
        yield db
