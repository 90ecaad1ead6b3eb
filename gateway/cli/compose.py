"""The composition root: the one place that wires the gateway's parts, the chat bot (bot/) and
the scheduler (scheduler/) together for ``airlock up``, ``gateway``, ``bot`` and ``scheduler``.

Only this module (and :mod:`gateway.cli.listeners`, which it calls) imports bot/, scheduler/
and the protocol packages; import-linter holds everything else to the layers.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import time, timedelta
from typing import TYPE_CHECKING, Literal

from approvals import Identity, IdentityKind
from gateway.cli.chat_settings import ChatSecrets
from gateway.cli.names import JOB_NAMES
from gateway.config import split_hostport
from gateway.errors import AuthError, ConfigError
from gateway.runtime import Runtime, Service, say
from store import DigestStore, SchedulerStore

if TYPE_CHECKING:
    from bot import SlackCredentials, TeamsCredentials
    from scheduler import Scheduler

__all__ = [
    "JOB_NAMES",
    "chat_services",
    "scheduler_for",
    "services_for",
    "slack_credentials",
    "teams_credentials",
]


def services_for(mode: str, runtime: Runtime) -> list[Service]:
    """The parts beside the HTTP API: ``up`` runs the listeners, the MCP server and the chat
    bot, ``gateway`` the listeners and the MCP server, ``bot`` the chat bot only. The chat's
    routers (``/slack/events`` or ``/chat``) and ``/mcp`` are added to ``runtime.routers``
    here, so call this before ``serve``."""
    from gateway.cli.agents import mcp_door  # noqa: PLC0415  (keeps `airlock token` light)
    from gateway.cli.listeners import listeners  # noqa: PLC0415

    services: list[Service] = []
    if mode in ("up", "gateway"):  # /mcp on the API port (docs/agents.md), on the listeners' parts
        services += listeners(doors=[mcp_door(runtime)])
    if mode in ("up", "bot"):
        api_url = os.environ.get("AIRLOCK_URL") if mode == "bot" else None
        services += chat_services(runtime, ChatSecrets(), api_url=api_url)
    if mode == "up" and runtime.settings.scheduler.enabled:
        scheduler = scheduler_for(runtime)

        async def run_scheduler(_runtime: Runtime, stop: asyncio.Event) -> None:
            await scheduler.run(stop)

        services.append(run_scheduler)
    return services


# -- the scheduler (the only place that imports scheduler/) -----------------------------------

# JOB_NAMES (gateway.cli.names): the command line lists them without importing this module.


def scheduler_for(runtime: Runtime) -> Scheduler:
    """Wire scheduler/ from ``[scheduler]``: its jobs over this runtime's store and services."""
    from scheduler import Jobs, Scheduler, SchedulerConfig  # noqa: PLC0415

    s = runtime.settings.scheduler
    config = SchedulerConfig(
        interval=s.interval,
        reminder_backoff=tuple(s.reminder_backoff),
        expiry_notice=s.expiry_notice,
        digest_day=s.digest_day,
        digest_time=time.fromisoformat(s.digest_time),
        digest_timezone=s.digest_timezone,
        unused_after=s.unused_after,
        outbox_retention=s.outbox_retention,
    )
    store = SchedulerStore(runtime.database)
    return Scheduler(Jobs(runtime.service, runtime.repository, store, config), store, say=say)


def chat_services(
    runtime: Runtime, secrets: ChatSecrets, *, api_url: str | None = None
) -> list[Service]:
    """Wire bot/ (the only place that imports it): Slack when ``[chat] provider = "slack"`` and
    ``secrets`` hold SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (Socket Mode with SLACK_APP_TOKEN;
    AIRLOCK_SLACK_API_URL overrides Slack's address); Teams when ``provider = "teams"`` and
    TEAMS_APP_ID and TEAMS_APP_PASSWORD are set (``/api/messages``; the AIRLOCK_TEAMS_* URLs
    override Microsoft's); else the console chat at ``/chat``. The
    bot records decisions through the HTTP API (``api_url``, default this process's) with a
    short-lived service token in the first of ``[api] bot_groups``."""
    from bot import ChatConfig, Person, build_chat  # noqa: PLC0415

    settings = runtime.settings
    slack, teams = slack_credentials(secrets), teams_credentials(secrets)
    provider: Literal["console", "slack", "teams"] = "console"
    if settings.chat.provider == "slack" and slack is not None:
        provider = "slack"
    elif settings.chat.provider == "slack":
        say("airlock: chat.provider is slack but its credentials are not set "
            "(SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET); using the console chat")  # fmt: skip
    elif settings.chat.provider == "teams" and teams is not None:
        provider = "teams"
    elif settings.chat.provider == "teams":
        say("airlock: chat.provider is teams but its credentials are not set "
            "(TEAMS_APP_ID, TEAMS_APP_PASSWORD); using the console chat")  # fmt: skip
    if not settings.api.bot_groups:
        raise ConfigError("[api] bot_groups is empty: the chat bot could not record decisions")
    host, port = split_hostport(settings.api.listen)
    config = ChatConfig(
        provider=provider,
        api_url=api_url or f"http://{_loopback(host)}:{port}",
        connections=runtime.service.connections,
        people=tuple(
            Person(p.email, frozenset(p.groups), p.slack_id, p.teams_id) for p in settings.people
        ),
        dev_mode=settings.chat.dev_mode,
        public_url=settings.api.public_url,
        auditor_groups=frozenset(settings.api.admin_groups + settings.api.auditor_groups),
    )
    bot_group = settings.api.bot_groups[0]

    def api_token() -> str:
        return runtime.tokens.mint(
            "airlock-bot", groups=[bot_group], kind=IdentityKind.SERVICE, ttl=timedelta(minutes=5)
        )

    async def authenticate(presented: str) -> Identity | None:
        """The gateway's own check (signature, issuer, revocation of chain and token), as for
        every API call: the console's sign-in is no weaker than the API's."""
        try:
            principal = await runtime.identity.authenticator.authenticate(presented, edge="chat")
        except AuthError:
            return None
        return principal.identity

    parts = build_chat(
        config,
        store=runtime.repository,
        database=runtime.database,
        bus=runtime.repository.bus,
        clock=runtime.clock,
        api_token=api_token,
        authenticate=authenticate,
        slack=slack,
        teams=teams,
        say=say,
        digests=DigestStore(runtime.repository),
    )
    runtime.routers.extend(parts.routers)
    return [_chat_service(run) for run in parts.services]


def slack_credentials(secrets: ChatSecrets) -> SlackCredentials | None:
    """The bot's Slack credentials, when both the bot token and the signing secret are set."""
    from bot import SlackCredentials  # noqa: PLC0415

    if secrets.slack_bot_token is None or secrets.slack_signing_secret is None:
        return None
    app_token = secrets.slack_app_token
    return SlackCredentials(
        secrets.slack_bot_token.get_secret_value(),
        secrets.slack_signing_secret.get_secret_value(),
        app_token.get_secret_value() if app_token is not None else None,
        secrets.slack_api_url,
    )


def teams_credentials(secrets: ChatSecrets) -> TeamsCredentials | None:
    """The Teams app's registration, when its app id and password are both set."""
    from bot import TeamsCredentials  # noqa: PLC0415

    if secrets.teams_app_id is None or secrets.teams_app_password is None:
        return None
    return TeamsCredentials(
        secrets.teams_app_id,
        secrets.teams_app_password.get_secret_value(),
        secrets.teams_tenant_id,
        secrets.teams_service_url,
        secrets.teams_openid_url,
        secrets.teams_login_url,
    )


def _chat_service(run: Callable[[asyncio.Event], Awaitable[None]]) -> Service:
    async def service(_runtime: Runtime, stop: asyncio.Event) -> None:
        await run(stop)

    return service


def _loopback(host: str) -> str:
    """Where this process reaches its own API listening on ``host``."""
    if host in ("0.0.0.0", ""):  # noqa: S104  (an address we were given, not one we bind)
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
