"""Fixtures of the CLI tests: a clean ``AIRLOCK_*`` environment, a working directory of its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ``AIRLOCK_*`` variable of the caller's shell leaks in; ./airlock.toml is tmp_path's."""
    for name in list(os.environ):
        if name.startswith("AIRLOCK_") and not name.startswith("AIRLOCK_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
