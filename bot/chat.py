"""Assembling the chat side from what the composition root hands over: the routers to mount on
the gateway's FastAPI app and the services to run beside it.

- ``provider == "slack"`` with credentials: the Slack app (HTTP at ``/slack/events``, or Socket
  Mode with an app token) and the outbox delivery loop ``chat:slack``;
- ``provider == "teams"`` with credentials: ``/api/messages`` and the outbox delivery loop
  ``chat:teams`` (:mod:`bot.teams.wiring`);
- otherwise the console chat at ``/chat``, which reads the store and the bus directly (the page
  is a view of the store, so it needs no outbox consumer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import APIRouter

from approvals import Clock, EventBus, Identity
from bot.api import AirlockApi
from bot.config import ChatConfig, SlackCredentials, TeamsCredentials
from bot.console.app import ConsoleChat
from bot.delivery import Delivery
from bot.notices import ChatNotices
from bot.people import People
from bot.slack.app import build_app, events_router, socket_mode
from bot.slack.client import SlackApi, SlackSessions, web_client
from bot.slack.context import Reader, SlackContext
from bot.slack.notices import SlackNoticeSink
from bot.slack.sink import SlackDirectory, SlackSink
from bot.teams.wiring import build_teams
from store import Database, DigestStore, Outbox

__all__ = ["ChatParts", "ChatStore", "build_chat"]

Service = Callable[[asyncio.Event], Awaitable[None]]


class ChatStore(Reader, Protocol):
    """The store the chat side uses (``store.SqlRepository``)."""


@dataclass
class ChatParts:
    provider: str
    routers: list[APIRouter] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    url: str | None = None  # the console chat page, when that is the chat


def build_chat(
    config: ChatConfig,
    *,
    store: ChatStore,
    database: Database,
    bus: EventBus,
    clock: Clock,
    api_token: Callable[[], str],
    authenticate: Callable[[str], Awaitable[Identity | None]],
    slack: SlackCredentials | None,
    say: Callable[[str], None] = print,
    digests: DigestStore | None = None,
    teams: TeamsCredentials | None = None,
) -> ChatParts:
    """``digests``: where the scheduler's digests are kept (without it, digests, reminders and
    expiry notices are not delivered); ``authenticate``: the gateway's full token check (the
    console chat's sign-in)."""
    api = AirlockApi(config.api_url, api_token)
    if config.provider == "slack" and slack is not None:
        return _slack(config, slack, store, database, bus, clock, api, say, digests)
    if config.provider == "teams" and teams is not None:
        built = build_teams(
            config, teams, store=store, database=database, bus=bus, clock=clock, api=api,
            say=say, digests=digests,
        )  # fmt: skip
        return ChatParts("teams", [built.router], [built.service])
    console = ConsoleChat(config, store, bus, clock, api, authenticate)

    async def run_console(stop: asyncio.Event) -> None:
        await console.run(stop, say)

    return ChatParts("console", [console.router()], [run_console], console.url)


def _slack(
    config: ChatConfig,
    credentials: SlackCredentials,
    store: ChatStore,
    database: Database,
    bus: EventBus,
    clock: Clock,
    api: AirlockApi,
    say: Callable[[str], None],
    digests: DigestStore | None,
) -> ChatParts:
    people = People(config.people)
    sessions = SlackSessions()  # both clients share kept-alive connections to Slack
    interactive = SlackApi(
        web_client(credentials.bot_token, credentials.api_url, retry_rate_limits=1), sessions
    )
    directory = SlackDirectory(interactive, people)
    ctx = SlackContext(api, interactive, directory, store, config.connections, clock)
    app = build_app(credentials, ctx)
    # Delivery waits out rate limits itself (releasing its claims), so its client does not.
    outgoing = SlackApi(web_client(credentials.bot_token, credentials.api_url), sessions)
    outgoing_directory = SlackDirectory(outgoing, people)
    sink = SlackSink(outgoing, outgoing_directory)
    notices = (
        ChatNotices(SlackNoticeSink(outgoing, outgoing_directory), store, digests, config, clock)
        if digests is not None
        else None
    )
    delivery = Delivery(sink, Outbox(database), store, bus, clock, config, notices=notices)

    async def run_delivery(stop: asyncio.Event) -> None:
        mode = "Socket Mode" if credentials.app_token else "HTTP at /slack/events"
        say(f"airlock: Slack app ({mode}); cards via the outbox consumer {delivery.consumer}")
        try:
            await delivery.run(stop)
        finally:
            await api.close()
            await sessions.close()

    parts = ChatParts("slack", services=[run_delivery])
    if credentials.app_token:
        token = credentials.app_token

        async def run_socket(stop: asyncio.Event) -> None:
            await socket_mode(app, token, stop)

        parts.services.append(run_socket)
    else:
        parts.routers.append(events_router(app))
    return parts
