"""Support for the chat tests: Slack users and [[people]], a gateway with the Slack (or console)
chat wired in, requests signed like Slack's, psql against a fresh database through the gateway,
and polling helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import fresh_pg_database
from tests.harness import RunningGateway, pg_connection, running_gateway
from tests.support.fake_slack import FakeSlack, SlackUser, sign_slack_request

__all__ = [
    "CHANNEL",
    "PEOPLE",
    "SLACK_USERS",
    "GatewayAddress",
    "Psql",
    "block_action",
    "cards_in",
    "chat_gateway",
    "command_body",
    "connection",
    "event_body",
    "interaction_body",
    "post_signed",
    "table_database",
    "view_submission",
    "wait_for",
    "wait_until",
]

T = TypeVar("T")


class GatewayAddress(Protocol):
    """Where a gateway answers: what :class:`Psql` and :func:`post_signed` need (a
    :class:`RunningGateway`, or an ``airlock up`` subprocess in the benchmarks)."""

    @property
    def api_url(self) -> str: ...

    @property
    def pg_port(self) -> int: ...


CHANNEL = "#dba-oncall"
SLACK_USERS = (
    SlackUser("U0ALICE", "alice", email="alice@example.com", real_name="Alice"),
    SlackUser("U0BOB", "bob", email="bob@example.com", real_name="Bob"),
    SlackUser("U0CAROL", "carol", email="carol@example.com", real_name="Carol"),
    SlackUser("U0DAVE", "dave", email="dave@example.com", real_name="Dave"),
)
# alice asks, bob approves (dba), carol is an engineer but no approver; dave is mapped by e-mail.
PEOPLE = (
    {"email": "alice@example.com", "groups": ["eng"], "slack_id": "U0ALICE"},
    {"email": "bob@example.com", "groups": ["dba"], "slack_id": "U0BOB"},
    {"email": "carol@example.com", "groups": ["eng"], "slack_id": "U0CAROL"},
    {"email": "dave@example.com", "groups": ["dba"]},
)


def connection(database: str = "postgres", **overrides: Any) -> dict[str, Any]:
    """pg-test: engineers connect, dba approves in #dba-oncall; access requests allowed."""
    conn = pg_connection(
        database,
        approvers={"groups": ["dba"], "channel": CHANNEL, "quorum": 1},
        owners={"channel": "#db-owners", "identities": ["carol@example.com"]},
        review_timeout="60s",
    )
    conn.update(overrides)
    return conn


@contextlib.asynccontextmanager
async def chat_gateway(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeSlack | None,
    *,
    connections: Iterable[Mapping[str, Any]] | None = None,
    store_url: str | None = None,
    mode: str = "up",
    dev_mode: bool = True,
    socket_mode: bool = False,
) -> AsyncIterator[RunningGateway]:
    """The whole gateway; with ``fake``, chat.provider is slack and SLACK_* point at the fake
    (with ``socket_mode``, SLACK_APP_TOKEN too)."""
    chat = f"[chat]\ndev_mode = {'true' if dev_mode else 'false'}\n"
    if fake is not None:
        monkeypatch.setenv("SLACK_BOT_TOKEN", fake.bot_token)
        monkeypatch.setenv("SLACK_SIGNING_SECRET", fake.signing_secret)
        monkeypatch.setenv("AIRLOCK_SLACK_API_URL", fake.base_url)
        if socket_mode:
            monkeypatch.setenv("SLACK_APP_TOKEN", fake.app_token)
        else:
            monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
        chat += 'provider = "slack"\n'
    async with running_gateway(
        tmp_path,
        connections=list(connections) if connections is not None else [connection()],
        people=PEOPLE,
        store_url=store_url,
        extra_toml=chat,
        mode=mode,
    ) as gw:
        yield gw


# -- Slack requests -----------------------------------------------------------------------


def command_body(
    text: str,
    *,
    user: str = "U0ALICE",
    channel: str = "C0GENERAL",
    trigger_id: str = "0.trigger",
    response_url: str = "",
) -> bytes:
    """A slash command as Slack posts it (form-encoded)."""
    return urlencode(
        {
            "token": "unused",
            "team_id": "T0AIRLOCK",
            "channel_id": channel,
            "user_id": user,
            "user_name": user.lower(),
            "command": "/access",
            "text": text,
            "response_url": response_url,
            "trigger_id": trigger_id,
            "api_app_id": "A0AIRLOCK",
        }
    ).encode()


def interaction_body(payload: Mapping[str, Any]) -> bytes:
    """An interaction (block_actions, view_submission) as Slack posts it."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def event_body(event: Mapping[str, Any], event_id: str = "Ev0AIRLOCK") -> bytes:
    """An Events API callback (JSON) carrying ``event``."""
    return json.dumps(
        {
            "token": "unused",
            "team_id": "T0AIRLOCK",
            "api_app_id": "A0AIRLOCK",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": dict(event),
        }
    ).encode()


def block_action(
    user: str, review_id: str, action_id: str, ref: tuple[str, str], trigger_id: str = "0.t"
) -> dict[str, Any]:
    """A click on a card's button (``ref`` is the card's channel id and ts)."""
    channel, ts = ref
    return {
        "type": "block_actions",
        "team": {"id": "T0AIRLOCK"},
        "user": {"id": user, "team_id": "T0AIRLOCK"},
        "api_app_id": "A0AIRLOCK",
        "trigger_id": trigger_id,
        "container": {"type": "message", "message_ts": ts, "channel_id": channel},
        "channel": {"id": channel},
        "message": {"ts": ts},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "airlock_actions",
                "value": review_id,
                "action_ts": str(time.time()),
            }
        ],
    }


def view_submission(
    user: str, callback_id: str, private_metadata: str, values: Mapping[str, str]
) -> dict[str, Any]:
    """A modal submission whose input blocks ``block_id == action_id`` hold ``values``."""
    state = {key: {key: {"type": "plain_text_input", "value": v}} for key, v in values.items()}
    return {
        "type": "view_submission",
        "team": {"id": "T0AIRLOCK"},
        "user": {"id": user, "team_id": "T0AIRLOCK"},
        "api_app_id": "A0AIRLOCK",
        "view": {
            "id": "V0MODAL",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": state},
        },
    }


async def post_signed(
    gw: GatewayAddress,
    fake: FakeSlack,
    body: bytes,
    *,
    timestamp: int | None = None,
    secret: str | None = None,
    retry: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> httpx.Response:
    """POST ``body`` to the gateway's /slack/events signed the way Slack signs it."""
    headers = fake.sign(body, timestamp) if secret is None else _sign(secret, body, timestamp)
    headers["Content-Type"] = content_type
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(f"{gw.api_url}/slack/events", content=body, headers=headers)


def _sign(secret: str, body: bytes, timestamp: int | None) -> dict[str, str]:
    return sign_slack_request(secret, body, timestamp)


# -- what the fake saw --------------------------------------------------------------------


def cards_in(fake: FakeSlack, channel: str = CHANNEL) -> list[tuple[str, str, dict[str, Any]]]:
    """Cards posted to ``channel`` (top-level messages): (channel id, ts, current message)."""
    channel_id = fake.channel_id(channel)
    return [
        (c, ts, message)
        for (c, ts), message in sorted(fake.snapshot().items(), key=lambda kv: kv[0][1])
        if c == channel_id and "thread_ts" not in message
    ]


async def wait_for(probe: Callable[[], T], within: float = 10.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; return that."""
    deadline = time.monotonic() + within
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return value


async def wait_until(
    probe: Callable[[], Awaitable[T]], within: float = 10.0, what: str = "condition"
) -> T:
    """Poll the coroutine function ``probe`` until it returns something truthy."""
    deadline = time.monotonic() + within
    while not (value := await probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return value


# -- PostgreSQL -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def table_database() -> AsyncIterator[str]:
    """A fresh database holding ``t (id int)`` with three rows; yields its name."""
    async with fresh_pg_database() as url:
        parsed = make_url(url)
        dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2), (3)")
        finally:
            await conn.close()
        assert parsed.database is not None
        yield parsed.database


class Psql:
    """One ``psql -c`` through the gateway, started in the background."""

    def __init__(self, gw: GatewayAddress, token: str, sql: str) -> None:
        self.gw, self.token, self.sql = gw, token, sql
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Psql:
        env = dict(os.environ, PGPASSWORD=self.token, PGSSLMODE="disable")
        self.proc = await asyncio.create_subprocess_exec(
            "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose",
            "-h", "127.0.0.1", "-p", str(self.gw.pg_port), "-U", "alice", "-d", "pg-test",
            "-c", self.sql,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return self

    async def result(self, within: float = 20.0) -> tuple[int, str, str]:
        assert self.proc is not None
        out, err = await asyncio.wait_for(self.proc.communicate(), within)
        return self.proc.returncode or 0, out.decode(), err.decode()

    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None
