"""The Slack Web API calls the bot makes, over slack_sdk's AsyncWebClient.

Every failure becomes a :mod:`bot.errors` error: HTTP 429 is :class:`RateLimited` with the
``Retry-After`` seconds; a Slack error answer is :class:`ChatError` carrying Slack's code, marked
``permanent`` when it is one of :data:`PERMANENT` (an answer no retry can change).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ChatError, RateLimited

__all__ = ["PERMANENT", "SlackApi", "SlackSessions", "web_client"]

TIMEOUT_S = 10  # each Web API call, connecting included

# Slack's answers that no retry can change: delivery gives up on them at once (and logs them).
PERMANENT = frozenset(
    {"channel_not_found", "is_archived", "not_in_channel", "message_not_found",
     "cant_update_message", "invalid_blocks", "msg_too_long", "no_text", "invalid_auth",
     "account_inactive", "token_revoked"}
)  # fmt: skip


def web_client(token: str, api_url: str | None, *, retry_rate_limits: int = 0) -> AsyncWebClient:
    """A client for ``api_url`` (AIRLOCK_SLACK_API_URL; None: Slack's own); it waits out up to
    ``retry_rate_limits`` 429 answers itself (interactive calls), else leaves that to the caller."""
    handlers = (
        [AsyncRateLimitErrorRetryHandler(max_retry_count=retry_rate_limits)]
        if retry_rate_limits
        else []
    )
    base = api_url or AsyncWebClient.BASE_URL
    client = AsyncWebClient(token=token, base_url=base, timeout=TIMEOUT_S)
    client.retry_handlers.extend(handlers)
    return client


class SlackSessions:
    """One aiohttp session for the process's Slack clients, so that calls reuse kept-alive
    connections: without one, slack_sdk opens a session (a new TCP and TLS connection) for every
    call. Made on first use, in the running loop (aiohttp needs one); closed with the chat."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class SlackApi:
    """``sessions``: the shared connections (None: slack_sdk's one session per call)."""

    def __init__(self, client: AsyncWebClient, sessions: SlackSessions | None = None) -> None:
        self.client, self.sessions = client, sessions

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One Web API call with a JSON body; returns Slack's answer."""
        return await self._call(method, json=params)

    async def get(self, method: str, **params: str) -> dict[str, Any]:
        """One Web API call with query parameters (methods that do not take JSON)."""
        return await self._call(method, http_verb="GET", params=params)

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        if self.sessions is not None:
            self.client.session = self.sessions.get()
        try:
            response = await self.client.api_call(method, **kwargs)
        except SlackApiError as exc:
            raise _translate(method, exc) from exc
        except SlackClientError as exc:
            raise ChatError(f"Slack {method} failed: {exc}") from exc
        except OSError as exc:  # aiohttp's connection errors are OSErrors
            raise ChatError(f"Slack {method} unreachable: {exc}") from exc
        data = response.data
        return data if isinstance(data, dict) else {}

    async def post(self, channel: str, payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return await self.call("chat.postMessage", channel=channel, **payload, **extra)

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        await self.call("chat.postEphemeral", channel=channel, user=user, text=text)

    async def profile_email(self, user_id: str) -> tuple[str | None, bool]:
        """(the e-mail on the user's profile, whether they are a real, active person)."""
        user = (await self.get("users.info", user=user_id)).get("user") or {}
        email = (user.get("profile") or {}).get("email")
        real = not (user.get("is_bot") or user.get("deleted"))
        return (str(email) if email else None), real

    async def user_by_email(self, email: str) -> str | None:
        try:
            found = await self.get("users.lookupByEmail", email=email)
        except ChatError as exc:
            if exc.code == "users_not_found":
                return None
            raise
        user = found.get("user") or {}
        return str(user["id"]) if user.get("id") else None


def _translate(method: str, exc: SlackApiError) -> ChatError:
    response = exc.response
    if getattr(response, "status_code", 200) == 429:
        headers = {k.lower(): v for k, v in dict(getattr(response, "headers", {}) or {}).items()}
        value = headers.get("retry-after", "1")
        value = value[0] if isinstance(value, list) else value
        try:
            return RateLimited(max(float(value), 0.0))
        except ValueError:
            return RateLimited(1.0)
    data = getattr(response, "data", None)
    code = str(data.get("error", "error")) if isinstance(data, dict) else "error"
    return ChatError(f"Slack {method} answered {code}", code, permanent=code in PERMANENT)
