"""Run a whole Airlock gateway in-process for end-to-end tests: the real composition
(`gateway.cli.compose.services_for`), real uvicorn and listeners on free loopback ports, a SQLite or
PostgreSQL store, and a helper to mint tokens.

    async with running_gateway(tmp_path, connections=[pg_connection(db)]) as gw:
        token = gw.token("alice@example.com", groups=["eng"])
        ... psql -h 127.0.0.1 -p gw.pg_port -d pg-test ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Self

import httpx

from approvals import IdentityKind, Review, ReviewState
from gateway.cli.compose import services_for
from gateway.config import load_settings
from gateway.runtime import Runtime, open_runtime, serve

__all__ = [
    "RawStream",
    "RunningGateway",
    "config_toml",
    "finish",
    "free_port",
    "pg_connection",
    "running_gateway",
    "toml_value",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def toml_value(value: Any) -> str:
    """A Python value as TOML (strings, numbers, booleans, lists and inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Iterable):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


async def finish(
    proc: asyncio.subprocess.Process, stdin: bytes | None = None, within: float = 30
) -> tuple[int, str, str]:
    """Feed ``stdin`` to a client process and wait for its end, killing it past ``within``
    seconds: (exit status, stdout, stderr)."""
    try:
        async with asyncio.timeout(within):
            out, err = await proc.communicate(stdin)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, (out or b"").decode(), (err or b"").decode()


class RawStream:
    """A test's protocol client over a plain socket: the transport part every protocol's raw
    client shares. A subclass reads its own protocol (``read``, raising ConnectionError when
    the gateway closed the connection)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Self:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def read(self, within: float = 10) -> object:
        raise NotImplementedError

    async def closed(self, within: float = 5) -> bool:
        """True once the gateway closed the connection (what it sent before that is dropped)."""
        try:
            while True:
                await self.read(within)
        except ConnectionError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.writer.close()


def pg_connection(database: str, name: str = "pg-test", **overrides: Any) -> dict[str, Any]:
    """A postgres connection to the local server (trust auth) with test-friendly defaults."""
    conn: dict[str, Any] = {
        "name": name,
        "type": "postgres",
        "upstream": "127.0.0.1:5432",
        "database": database,
        "username": "postgres",
        "password_env": "AIRLOCK_TEST_UPSTREAM_PASSWORD",
        "upstream_tls": "disable",
        "access": "standing",
        "allow_groups": ["eng"],
        "approvers": {"groups": ["dba"], "quorum": 1},
        "review_timeout": "30s",
    }
    conn.update(overrides)
    return conn


@dataclass
class RunningGateway:
    runtime: Runtime
    api_url: str
    pg_port: int
    config_path: Path

    def token(
        self,
        subject: str,
        groups: Iterable[str] = (),
        *,
        kind: IdentityKind = IdentityKind.PERSON,
        ttl: timedelta = timedelta(hours=1),
    ) -> str:
        return self.runtime.tokens.mint(subject, groups=groups, kind=kind, ttl=ttl)

    async def pending_review(self, connection: str, within: float = 10) -> Review:
        """Wait for the newest pending review on ``connection``."""
        repository = self.runtime.repository
        async with asyncio.timeout(within):
            while True:
                found = await repository.list_reviews(
                    state=ReviewState.PENDING, connection=connection, limit=1
                )
                if found:
                    return found[0]
                await asyncio.sleep(0.02)

    async def review(self, review_id: str) -> Review:
        """The review as the store has it now."""
        review = await self.runtime.repository.get_review(review_id)
        assert review is not None
        return review

    def client(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


def config_toml(
    store_url: str,
    *,
    api_port: int,
    pg_port: int | None = None,
    listeners: Mapping[str, Any] | None = None,
    sections: Mapping[str, Mapping[str, Any]] | None = None,
    connections: Iterable[Mapping[str, Any]] = (),
    people: Iterable[Mapping[str, Any]] = (),
) -> str:
    """An airlock.toml: the store, the API on 127.0.0.1:``api_port``, the PostgreSQL listener on
    ``pg_port`` (none when None) with ``listeners`` options, any other ``sections``
    (``{"gateway": {...}}``), the connections and the people."""
    lines = ["[store]", f"url = {toml_value(store_url)}", "[api]"]
    lines.append(f'listen = "127.0.0.1:{api_port}"')
    lines.append("[listeners]")
    if pg_port is not None:
        lines.append(f'postgres = "127.0.0.1:{pg_port}"')
    lines += [f"{k} = {toml_value(v)}" for k, v in (listeners or {}).items()]
    for section, values in (sections or {}).items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    for conn in connections:
        lines.append("[[connections]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in conn.items()]
    for person in people:
        lines.append("[[people]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in person.items()]
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def running_gateway(
    tmp_path: Path,
    *,
    connections: Iterable[Mapping[str, Any]] = (),
    people: Iterable[Mapping[str, Any]] = (),
    store_url: str | None = None,
    extra_toml: str = "",
    monkeypatch_env: Mapping[str, str] | None = None,
    listener_options: Mapping[str, Any] | None = None,
    mode: str = "up",
    gateway_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[RunningGateway]:
    """Start `airlock up`'s parts in this event loop; stop them cleanly afterwards.

    ``listener_options`` are extra keys of ``[listeners]`` (e.g. ``tls_cert``, ``tls_key``);
    ``mode`` is the ``services_for`` mode (``up``: listeners and chat; ``gateway``: no chat);
    ``gateway_options`` are keys of ``[gateway]`` (the statement journal: in ``tmp_path`` unless
    they say otherwise)."""
    import os

    os.environ.setdefault("AIRLOCK_TEST_UPSTREAM_PASSWORD", "unused-with-trust-auth")
    for key, value in (monkeypatch_env or {}).items():
        os.environ[key] = value
    api_port, pg_port = free_port(), free_port()
    url = store_url or f"sqlite+aiosqlite:///{tmp_path / 'airlock.db'}"
    path = tmp_path / "airlock.toml"
    options = {"journal_dir": str(tmp_path / "airlock-journal"), **(gateway_options or {})}
    text = config_toml(
        url, api_port=api_port, pg_port=pg_port, listeners=listener_options,
        sections={"gateway": options}, connections=connections, people=people,
    )  # fmt: skip
    path.write_text(text + extra_toml)
    settings = load_settings(path)
    async with open_runtime(settings, upgrade=True) as runtime:
        stop = asyncio.Event()
        task = asyncio.create_task(serve(runtime, services_for(mode, runtime), stop=stop))
        api_url = f"http://127.0.0.1:{api_port}"
        try:
            await _wait_healthy(api_url, task)
            if any(c.type == "postgres" for c in settings.connections):
                await _wait_listening(pg_port, task)
            yield RunningGateway(runtime, api_url, pg_port, path)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def _wait_listening(port: int, task: asyncio.Task[None]) -> None:
    """The PostgreSQL listener starts beside the API: wait until it accepts connections."""
    for _ in range(200):
        if task.done():
            task.result()
            raise RuntimeError("the gateway stopped during start-up")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise RuntimeError("the PostgreSQL listener did not start")


async def _wait_healthy(api_url: str, task: asyncio.Task[None]) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(200):
            if task.done():
                task.result()
                raise RuntimeError("the gateway stopped during start-up")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{api_url}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError("the gateway did not become healthy")
