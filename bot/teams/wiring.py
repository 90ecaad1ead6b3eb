"""Building Teams' parts from the credentials: one HTTP client, the bot's token, the Bot
Connector, the ``/api/messages`` router and the outbox delivery loop ``chat:teams``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from fastapi import APIRouter

from approvals import Clock, EventBus
from bot.api import AirlockApi
from bot.config import ChatConfig, TeamsCredentials
from bot.delivery import Delivery
from bot.notices import ChatNotices
from bot.people import People
from bot.teams.actions import CardActions, Reader, TeamsContext
from bot.teams.app import TeamsBot, messages_router
from bot.teams.auth import OPENID_URL, BotFrameworkAuth
from bot.teams.client import BotConnector, ClientToken, login_url
from bot.teams.commands import TeamsCommands
from bot.teams.sink import TeamsDirectory, TeamsNoticeSink, TeamsSink
from store import Database, DigestStore, Outbox

__all__ = ["TeamsParts", "build_teams"]

Service = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class TeamsParts:
    router: APIRouter
    service: Service
    bot: TeamsBot
    delivery: Delivery


def build_teams(
    config: ChatConfig,
    credentials: TeamsCredentials,
    *,
    store: Reader,
    database: Database,
    bus: EventBus,
    clock: Clock,
    api: AirlockApi,
    say: Callable[[str], None],
    digests: DigestStore | None,
) -> TeamsParts:
    """Nothing is contacted until the first activity or the first card."""
    http = httpx.AsyncClient(follow_redirects=False)
    token = ClientToken(
        http,
        credentials.login_url or login_url(credentials.tenant_id),
        credentials.app_id,
        credentials.app_password,
    )
    connector = BotConnector(
        http,
        token,
        app_id=credentials.app_id,
        tenant_id=credentials.tenant_id,
        base_url=credentials.service_url,
    )
    directory = TeamsDirectory(connector, People(config.people), config.connections)
    ctx = TeamsContext(api, directory, store, config.connections, clock)
    auth = BotFrameworkAuth(credentials.app_id, http, credentials.openid_url or OPENID_URL)
    bot = TeamsBot(
        auth, CardActions(ctx), TeamsCommands(ctx, connector), tenant_id=credentials.tenant_id
    )
    notices = (
        ChatNotices(TeamsNoticeSink(connector, directory), store, digests, config, clock)
        if digests is not None
        else None
    )
    sink = TeamsSink(connector, directory)
    delivery = Delivery(sink, Outbox(database), store, bus, clock, config, notices=notices)

    async def run(stop: asyncio.Event) -> None:
        say(
            "airlock: Teams bot at /api/messages; cards via the outbox consumer "
            + delivery.consumer
        )
        try:
            await delivery.run(stop)
        finally:
            await bot.close()
            await api.close()
            await http.aclose()

    return TeamsParts(messages_router(bot), run, bot, delivery)
