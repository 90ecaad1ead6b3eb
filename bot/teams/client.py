"""The Bot Connector calls the bot makes, with its own client-credentials token.

Bot Framework REST API, "Authentication with the Bot Connector API", section "Authenticate
requests from your bot to the Bot Connector service": the bot gets a token by the OAuth 2.0
client-credentials grant (RFC 6749 section 4.4) from ``AIRLOCK_TEAMS_LOGIN_URL`` (default the
tenant's ``login.microsoftonline.com`` endpoint, ``botframework.com`` for a multi-tenant app),
scope ``https://api.botframework.com/.default``, and sends it as a bearer token on every call.
The token is cached and fetched again ``REFRESH_EARLY_S`` before it expires (single flight); a
401 from the connector drops it and retries the call once with a new one.

Calls ("Bot Connector API reference", Conversations): ``POST /v3/conversations`` (a new
conversation in a channel, or a personal one), ``POST /v3/conversations/{id}/activities``,
``PUT /v3/conversations/{id}/activities/{activityId}``, ``GET /v3/conversations/{id}/members/
{userId}``. Bodies are sent as compact UTF-8 JSON (what Teams measures against its size limit).

Failures become :mod:`bot.errors`: 429 is :class:`RateLimited` with ``Retry-After``; 400, 403,
404 and 413 (a card too big, a channel the bot is not in, a deleted activity) and a 401 with a
fresh token are ``ChatError(permanent=True)``; 5xx and network errors may pass.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from bot.errors import ChatError, RateLimited

__all__ = [
    "LOGIN_URL",
    "PERMANENT_STATUSES",
    "SCOPE",
    "SERVICE_URL",
    "BotConnector",
    "ClientToken",
    "login_url",
]

log = logging.getLogger("bot.teams")

SERVICE_URL = "https://smba.trafficmanager.net/teams/"
LOGIN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
SCOPE = "https://api.botframework.com/.default"
REFRESH_EARLY_S = 300.0
PERMANENT_STATUSES = frozenset({400, 403, 404, 413})


def login_url(tenant_id: str | None) -> str:
    """Microsoft's token endpoint for the app's tenant (multi-tenant apps: botframework.com)."""
    return LOGIN_URL.format(tenant=tenant_id or "botframework.com")


class ClientToken:
    """The bot's own access token, cached until ``REFRESH_EARLY_S`` before it expires."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        app_id: str,
        app_password: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http, self._url, self._clock = http, url, clock
        self._form = {
            "grant_type": "client_credentials",
            "client_id": app_id,
            "client_secret": app_password,
            "scope": SCOPE,
        }
        self._token: str | None = None
        self._until = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"ClientToken(url={self._url!r})"  # never the secret nor the token

    async def get(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._until:
                await self._fetch()
            assert self._token is not None
            return self._token

    def drop(self, token: str) -> None:
        """Forget ``token`` (the connector refused it); the next call fetches another."""
        if self._token == token:
            self._token = None

    async def _fetch(self) -> None:
        self.fetches += 1
        try:
            response = await self._http.post(self._url, data=self._form, timeout=10)
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChatError(f"Teams login unreachable: {type(exc).__name__}") from exc
        token = data.get("access_token") if isinstance(data, dict) else None
        if response.status_code != 200 or not isinstance(token, str):
            code = str(data.get("error", "error")) if isinstance(data, dict) else "error"
            permanent = code in ("invalid_client", "unauthorized_client", "invalid_scope")
            raise ChatError(f"Teams login refused the bot: {code}", code, permanent=permanent)
        lifetime = float(data.get("expires_in", 3600))
        self._token = token
        self._until = self._clock() + max(lifetime - REFRESH_EARLY_S, lifetime / 2)


class BotConnector:
    """The Bot Connector at ``base_url`` (AIRLOCK_TEAMS_SERVICE_URL; default Teams' own)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token: ClientToken,
        *,
        app_id: str,
        tenant_id: str | None,
        base_url: str | None = None,
    ) -> None:
        self._http, self._token = http, token
        self.base_url = (base_url or SERVICE_URL).rstrip("/")
        self.app_id, self.tenant_id = app_id, tenant_id

    async def create_in_channel(self, channel_id: str, activity: dict[str, Any]) -> tuple[str, str]:
        """A new conversation (thread) in a channel opened by ``activity``: (conversation id,
        activity id); replies to the conversation id go in that thread."""
        body = {
            "isGroup": True,
            "bot": {"id": f"28:{self.app_id}"},
            "channelData": {"channel": {"id": channel_id}, **self._tenant()},
            "activity": activity,
        }
        made = await self._call("POST", "/v3/conversations", body)
        conversation, activity_id = made.get("id"), made.get("activityId")
        if not isinstance(conversation, str) or not isinstance(activity_id, str):
            raise ChatError("Teams created a conversation without an id", "bad_answer")
        return conversation, activity_id

    async def create_personal(self, user_id: str) -> str:
        """The bot's 1:1 conversation with a Teams user (created or found); its id."""
        body = {
            "isGroup": False,
            "bot": {"id": f"28:{self.app_id}"},
            "members": [{"id": user_id}],
            "tenantId": self.tenant_id,
            "channelData": self._tenant(),
        }
        made = await self._call("POST", "/v3/conversations", body)
        conversation = made.get("id")
        if not isinstance(conversation, str):
            raise ChatError("Teams created a conversation without an id", "bad_answer")
        return conversation

    async def send(self, conversation: str, activity: dict[str, Any]) -> str:
        """Post ``activity`` to a conversation; the new activity's id."""
        sent = await self._call(
            "POST", f"/v3/conversations/{_seg(conversation)}/activities", activity
        )
        return str(sent.get("id", ""))

    async def update(self, conversation: str, activity_id: str, activity: dict[str, Any]) -> None:
        path = f"/v3/conversations/{_seg(conversation)}/activities/{_seg(activity_id)}"
        await self._call("PUT", path, {**activity, "id": activity_id})

    async def member(self, conversation: str, user_id: str) -> dict[str, Any]:
        """One member of a conversation's roster (e-mail, userPrincipalName, aadObjectId)."""
        path = f"/v3/conversations/{_seg(conversation)}/members/{_seg(user_id)}"
        return await self._call("GET", path, None)

    def _tenant(self) -> dict[str, Any]:
        return {"tenant": {"id": self.tenant_id}} if self.tenant_id else {}

    async def _call(self, method: str, path: str, body: Any) -> dict[str, Any]:
        content = (
            json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            if body is not None
            else None
        )
        for attempt in (1, 2):
            token = await self._token.get()
            headers = {"Authorization": f"Bearer {token}"}
            if content is not None:
                headers["Content-Type"] = "application/json; charset=utf-8"
            try:
                response = await self._http.request(
                    method, self.base_url + path, content=content, headers=headers, timeout=10
                )
            except httpx.HTTPError as exc:
                raise ChatError(f"Teams {method} unreachable: {type(exc).__name__}") from exc
            if response.status_code == 401 and attempt == 1:
                self._token.drop(token)  # expired or revoked early: one retry with a new one
                continue
            return _answer(method, path, response)
        raise AssertionError("unreachable")  # pragma: no cover


def _answer(method: str, path: str, response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    try:
        data = response.json() if response.content else {}
    except ValueError:
        data = {}
    if 200 <= status < 300:
        return data if isinstance(data, dict) else {}
    if status == 429:
        try:
            retry = max(float(response.headers.get("Retry-After", "1")), 0.0)
        except ValueError:
            retry = 1.0
        raise RateLimited(retry)
    error = data.get("error") if isinstance(data, dict) else None
    code = str(error.get("code", status)) if isinstance(error, dict) else str(status)
    permanent = status in PERMANENT_STATUSES or status == 401
    where = path.split("/", 3)[2] if path.count("/") >= 2 else path
    raise ChatError(f"Teams {method} {where} answered {status} {code}", code, permanent=permanent)


def _seg(value: str) -> str:
    """One URL path segment (a conversation id holds ``:``, ``;`` and ``@``)."""
    return quote(value, safe="")
