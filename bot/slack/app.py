"""The Slack app: slack-bolt's AsyncApp with its tokens passed in, its listeners, and the two
ways Slack reaches it — HTTP at ``POST /slack/events`` (a router for the gateway's FastAPI app;
bolt verifies the v0 signature and refuses stale timestamps with 401) or Socket Mode when an
app-level token is configured.
"""

from __future__ import annotations

import asyncio
import logging
import re

from fastapi import APIRouter, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.app.async_app import AsyncApp

from bot.cards import APPROVE_ACTION_ID, DENY_ACTION_ID, DENY_CALLBACK_ID
from bot.cards.digest import (
    KEEP_ACTION_ID,
    KEEP_ALL_ACTION_ID,
    REVOKE_ACTION_ID,
    REVOKE_UNUSED_ACTION_ID,
)
from bot.cards.notices import EXTEND_ACTION_ID
from bot.config import SlackCredentials
from bot.slack.actions import DecisionActions
from bot.slack.client import web_client
from bot.slack.commands import AccessCommands
from bot.slack.context import SlackContext
from bot.slack.digest_actions import DigestActions
from bot.slack.views import REQUEST_CALLBACK_ID

__all__ = ["COMMAND", "build_app", "events_router", "socket_mode"]

log = logging.getLogger("bot.slack")


class _TokenWarning(logging.Filter):
    """slack-bolt peeks at SLACK_BOT_TOKEN in the environment and then warns that the client we
    pass wins (it does: the token comes from our settings); drop that one misleading line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_TOKEN_WARNING = _TokenWarning()

COMMAND = "/access"


def build_app(credentials: SlackCredentials, ctx: SlackContext) -> AsyncApp:
    """The AsyncApp with every listener registered; nothing is read from the environment."""
    log.addFilter(_TOKEN_WARNING)  # the same object is added once
    app = AsyncApp(
        client=web_client(credentials.bot_token, credentials.api_url, retry_rate_limits=1),
        signing_secret=credentials.signing_secret,
        process_before_response=False,  # ack first; the listener goes on after the answer
        logger=log,
    )
    commands, actions = AccessCommands(ctx), DecisionActions(ctx)
    app.command(COMMAND)(commands.command)
    app.view(REQUEST_CALLBACK_ID)(commands.request_submitted)
    app.event("app_home_opened")(commands.home_opened)
    app.action(APPROVE_ACTION_ID)(actions.approve)
    app.action(DENY_ACTION_ID)(actions.deny)
    app.view(DENY_CALLBACK_ID)(actions.deny_submitted)
    digest = DigestActions(ctx)
    # A digest page's line buttons are numbered (action ids are unique within a message).
    app.action(re.compile(rf"^{KEEP_ACTION_ID}:\d+$"))(digest.keep)
    app.action(re.compile(rf"^{REVOKE_ACTION_ID}:\d+$"))(digest.revoke)
    app.action(KEEP_ALL_ACTION_ID)(digest.keep_all)
    app.action(REVOKE_UNUSED_ACTION_ID)(digest.revoke_unused)
    app.action(EXTEND_ACTION_ID)(digest.extend)
    return app


def events_router(app: AsyncApp) -> APIRouter:
    """``POST /slack/events`` for commands, interactions and events (HTTP mode)."""
    handler = AsyncSlackRequestHandler(app)
    router = APIRouter(tags=["slack"])

    @router.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    return router


async def socket_mode(app: AsyncApp, app_token: str, stop: asyncio.Event) -> None:
    """Serve the app over Socket Mode (no public URL needed) until ``stop``."""
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler  # noqa: PLC0415

    handler = AsyncSocketModeHandler(app, app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        await stop.wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
