"""Real ``airlock`` processes for end-to-end tests: write a configuration, start ``airlock
gateway`` / ``bot`` / ``scheduler`` / ``up`` as subprocesses, wait until they say they listen,
stop them (SIGTERM, or SIGKILL for a crash), and run one-shot commands (``db upgrade``,
``audit verify``).

    config = write_config(tmp_path / "a.toml", store_url, api_port=free_port(), pg_port=...)
    await run_airlock("db", "upgrade", "--config", str(config))
    async with started(gateway(config, name="A")) as a:
        ... psql -h 127.0.0.1 -p a.pg_port ...

Each process's stdout and stderr are read continuously (a full pipe would block it) and kept,
so a failing test can show what the process said.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness import config_toml, pg_connection

__all__ = [
    "AIRLOCK",
    "START_S",
    "STOP_S",
    "AirlockProcess",
    "Finished",
    "bot",
    "child_env",
    "gateway",
    "run_airlock",
    "scheduler",
    "started",
    "up_config",
    "write_config",
]

AIRLOCK = str(Path(sys.executable).parent / "airlock")
START_S = 60.0  # generous: the machine may be busy with other suites
STOP_S = 30.0


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the caller's ``AIRLOCK_*`` settings (the test ones,
    ``AIRLOCK_TEST_*``, stay), plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AIRLOCK_") or k.startswith("AIRLOCK_TEST_")
    }
    env.update(extra or {})
    return env


def write_config(
    path: Path,
    store_url: str,
    *,
    api_port: int,
    pg_port: int | None = None,
    connections: Iterable[Mapping[str, Any]] = (),
    people: Iterable[Mapping[str, Any]] = (),
    sections: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """An airlock.toml at ``path`` (:func:`tests.harness.config_toml`: the PostgreSQL listener
    only when ``pg_port`` is given: bot and scheduler listen on nothing but their API)."""
    text = config_toml(
        store_url, api_port=api_port, pg_port=pg_port, sections=sections,
        connections=connections, people=people,
    )  # fmt: skip
    path.write_text(text, encoding="utf-8")
    return path


def up_config(
    path: Path,
    store_url: str,
    database: str,
    *,
    api_port: int,
    pg_port: int,
    gateway: Mapping[str, Any] | None = None,
) -> Path:
    """The end-to-end tests' ``airlock up``: one connection ``pg-prod`` to ``database`` on the
    local server (its password from ``PG_PROD_PASSWORD``, unused with trust auth; approvers the
    dba group; the default review timeout), the scheduler off, and ``gateway`` options."""
    connection = pg_connection(
        database, "pg-prod", password_env="PG_PROD_PASSWORD", review_timeout="15m"
    )
    sections = {"scheduler": {"enabled": False}, "gateway": dict(gateway or {})}
    return write_config(
        path, store_url, api_port=api_port, pg_port=pg_port, sections=sections,
        connections=[connection],
    )  # fmt: skip


@dataclass
class AirlockProcess:
    """One running ``airlock`` subprocess and what it printed so far."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    ready: Sequence[str]  # texts that each appear in a stdout line once it serves
    api_url: str | None = None
    pg_port: int | None = None
    proc: asyncio.subprocess.Process | None = None
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    stopped_in: float | None = None  # seconds from SIGTERM to exit, once stop() ran
    _readers: list[asyncio.Task[None]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    def said(self) -> str:
        """Everything it printed, for an assertion message."""
        return (
            f"--- {self.name} stdout\n"
            + "\n".join(self.out)
            + (f"\n--- {self.name} stderr\n" + "\n".join(self.err))
        )

    async def start(self) -> AirlockProcess:
        """Start it and wait until every ``ready`` text was printed; fail with its output if
        it ends first or takes longer than :data:`START_S`."""
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            env=dict(self.env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self.proc.stdout, self.out)),
            asyncio.create_task(self._read(self.proc.stderr, self.err)),
        ]
        try:
            await self.wait_for_output(*self.ready, within=START_S)
        except BaseException:
            await self.kill()
            raise
        return self

    async def _read(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        while line := await stream.readline():
            into.append(line.decode(errors="replace").rstrip("\n"))
            self._changed.set()
        self._changed.set()

    async def wait_for_output(self, *wanted: str, within: float = 10.0) -> list[str]:
        """Wait until each ``wanted`` text appears in a stdout line; the lines so far."""
        async with asyncio.timeout(within):
            while True:
                self._changed.clear()  # before the check, so no line is missed
                if all(any(w in line for line in self.out) for w in wanted):
                    break
                if self._readers and all(r.done() for r in self._readers):
                    raise AssertionError(
                        f"{self.name} ended before printing {wanted}\n{self.said()}"
                    )
                await self._changed.wait()
        return list(self.out)

    async def stop(self, within: float = STOP_S) -> int:
        """SIGTERM, then its exit code (SIGKILL and an AssertionError after ``within``)."""
        if self.proc is None or self.proc.returncode is not None:
            return await self._finish()
        self.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        try:
            await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"{self.name} did not stop in {within}s\n{self.said()}") from None
        self.stopped_in = time.monotonic() - sent
        return await self._finish()

    async def kill(self) -> int:
        """SIGKILL (a crash: no shutdown code runs), then its exit code."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
        return await self._finish()

    async def _finish(self) -> int:
        assert self.proc is not None
        code = await self.proc.wait()
        if self._readers:
            await asyncio.wait(self._readers, timeout=5)
        return code


def _process(
    command: str, config: Path, name: str, ready: Sequence[str], env: Mapping[str, str] | None
) -> AirlockProcess:
    return AirlockProcess(
        name=name,
        argv=(AIRLOCK, command, "--config", str(config)),
        env=child_env(env),
        ready=ready,
    )


def gateway(
    config: Path,
    *,
    name: str = "gateway",
    api_port: int,
    pg_port: int,
    env: Mapping[str, str] | None = None,
) -> AirlockProcess:
    """``airlock gateway``: ready once its API and its PostgreSQL listener are up."""
    ready = (f"HTTP API on http://127.0.0.1:{api_port}", f"listener on 127.0.0.1:{pg_port}")
    process = _process("gateway", config, name, ready, env)
    process.api_url, process.pg_port = f"http://127.0.0.1:{api_port}", pg_port
    return process


def bot(
    config: Path, *, name: str = "bot", api_port: int, env: Mapping[str, str] | None = None
) -> AirlockProcess:
    """``airlock bot`` (set ``AIRLOCK_URL`` in ``env`` to the gateway it records through):
    ready once its own HTTP API is up."""
    ready = (f"HTTP API on http://127.0.0.1:{api_port}",)
    process = _process("bot", config, name, ready, env)
    process.api_url = f"http://127.0.0.1:{api_port}"
    return process


def scheduler(
    config: Path, *, name: str = "scheduler", env: Mapping[str, str] | None = None
) -> AirlockProcess:
    """``airlock scheduler``: ready once its jobs are scheduled."""
    return _process("scheduler", config, name, ("airlock: scheduler every",), env)


@contextlib.asynccontextmanager
async def started(*processes: AirlockProcess) -> AsyncIterator[tuple[AirlockProcess, ...]]:
    """Start ``processes`` together; on the way out stop those still running (SIGTERM)."""
    results = await asyncio.gather(*(p.start() for p in processes), return_exceptions=True)
    try:
        for result in results:
            if isinstance(result, BaseException):
                raise result
        yield processes
    finally:
        await asyncio.gather(*(p.stop() for p in processes if p.proc is not None))


@dataclass(frozen=True)
class Finished:
    code: int
    out: str
    err: str


async def run_airlock(
    *argv: str, env: Mapping[str, str] | None = None, within: float = START_S
) -> Finished:
    """``airlock ARGV`` to completion as a subprocess."""
    proc = await asyncio.create_subprocess_exec(
        AIRLOCK,
        *argv,
        env=child_env(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), within)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Finished(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))
