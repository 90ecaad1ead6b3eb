"""The gateway's HTTP API as the bot uses it: every write a chat user makes goes through here,
authenticated with the bot's own service token and naming the person it is for.

    decide(review, outcome, reason, approver=<e-mail>)   POST /v1/reviews/{id}/decisions
    request_access(..., requester=<e-mail>)              POST /v1/access-requests
    revoke(delegation, reason, revoker=<e-mail>)         POST /v1/delegations/{id}/revoke
    access_review_decision(digest, action, line,         POST /v1/access-reviews/decisions
                           decider=<e-mail>)

The gateway accepts a person's e-mail in those fields only from a caller in ``[api] bot_groups``
and enforces its policy as for anyone else; an error answer becomes :class:`ApiRefused` with the
API's stable ``code`` and message (shown to the person privately).

Where the person signed in with their own token (the console chat without dev mode),
``decide(..., token=<their token>)`` sends it instead of the bot's and names nobody: the API then
authenticates the person exactly as for ``airlock reviews approve`` (signature, revocation of
every link of the chain and of the token itself), and decides for the token's holder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from bot.errors import ApiRefused, ApiUnavailable

__all__ = ["AirlockApi"]


class AirlockApi:
    """``token`` is called for every request (the composition root mints a short-lived one)."""

    def __init__(
        self,
        base_url: str,
        token: Callable[[], str],
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token = token
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def decide(
        self,
        review_id: str,
        outcome: str,
        reason: str | None,
        *,
        approver: str | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """For ``approver`` (an e-mail, with the bot's token) or for the holder of ``token``."""
        if (approver is None) == (token is None):
            raise ValueError("decide() needs exactly one of approver and token")
        body: dict[str, Any] = {"outcome": outcome, "reason": reason}
        if approver is not None:
            body["approver"] = approver
        path = f"/v1/reviews/{_segment(review_id)}/decisions"
        return await self._post(path, body, token=token)

    async def request_access(
        self,
        connection: str,
        *,
        role: str | None,
        duration: str,
        reason: str,
        requester: str,
    ) -> dict[str, Any]:
        body = {
            "connection": connection,
            "role": role,
            "duration": duration,
            "reason": reason,
            "requester": requester,
        }
        return await self._post("/v1/access-requests", body)

    async def revoke(self, delegation_id: str, reason: str, *, revoker: str) -> dict[str, Any]:
        body = {"reason": reason, "revoker": revoker}
        return await self._post(f"/v1/delegations/{_segment(delegation_id)}/revoke", body)

    async def access_review_decision(
        self, digest_id: str, action: str, line: str | None, *, decider: str
    ) -> dict[str, Any]:
        """Keep / revoke one digest line, or ``keep_all`` / ``revoke_unused`` (line None)."""
        body = {"digest": digest_id, "action": action, "line": line, "decider": decider}
        return await self._post("/v1/access-reviews/decisions", body)

    async def _post(
        self, path: str, body: dict[str, Any], *, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token if token is not None else self._token()}"}
        try:
            response = await self._http.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"the gateway API cannot be reached: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_success and isinstance(data, dict):
            return data
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            raise ApiRefused(response.status_code, "http_error", response.text[:300])
        raise ApiRefused(
            response.status_code,
            str(error.get("code", "http_error")),
            str(error.get("message", "")),
            error.get("details") if isinstance(error.get("details"), dict) else None,
        )


def _segment(value: str) -> str:
    """One URL path segment (an id from chat must not walk the API's paths)."""
    return quote(value, safe="")
