"""Running ``airlock`` in-process (``gateway.cli.main``) and capturing what it printed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.cli.main import main

__all__ = ["Run", "airlock", "airlock_in_thread", "write_config"]


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def airlock(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """``airlock ARGV`` in this thread (for commands that open no running gateway)."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return Run(code, out, err)


async def airlock_in_thread(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """``airlock ARGV`` in a worker thread, so the gateway in this event loop can answer it."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return Run(code, out, err)


def write_config(directory: Path, store_url: str, body: str = "") -> Path:
    path = directory / "airlock.toml"
    path.write_text(f'[store]\nurl = "{store_url}"\n{body}', encoding="utf-8")
    return path
