"""The Teams side that calls the bot: activities as the Bot Connector delivers them to
``/api/messages``, signed by the fake login service, with Teams' client timing enforced (an
invoke not answered within ``INVOKE_TIMEOUT_S`` fails, as the Teams client gives up on it)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.fake_teams.login import FakeTeamsLogin

__all__ = ["INVOKE_TIMEOUT_S", "TeamsClient"]

INVOKE_TIMEOUT_S = 5.0
_ids = itertools.count(1)


@dataclass
class TeamsClient:
    login: FakeTeamsLogin
    service_url: str  # the connector the activities claim to come from
    api_url: str  # the gateway

    def activity(
        self, kind: str, user: str, conversation: str, *, personal: bool = False, **extra: Any
    ) -> dict[str, Any]:
        return {
            "type": kind,
            "id": f"act-{next(_ids)}-{time.monotonic_ns()}",
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "timestamp": "2026-12-07T17:00:00.000Z",
            "from": {"id": user, "aadObjectId": f"aad-{user}"},
            "recipient": {"id": f"28:{self.login.app_id}", "name": "Airlock"},
            "conversation": {
                "id": conversation,
                "conversationType": "personal" if personal else "channel",
                "tenantId": self.login.tenant_id,
            },
            "channelData": {"tenant": {"id": self.login.tenant_id}},
            **extra,
        }

    def invoke(
        self, user: str, verb: str, data: dict[str, Any], conversation: str
    ) -> dict[str, Any]:
        """A click on an ``Action.Execute`` (inputs merged into ``data``, as Teams does)."""
        value = {"action": {"type": "Action.Execute", "verb": verb, "data": data},
                 "trigger": "manual"}  # fmt: skip
        return self.activity("invoke", user, conversation, name="adaptiveCard/action", value=value)

    def message(
        self, user: str, text: str, conversation: str, *, personal: bool = True
    ) -> dict[str, Any]:
        """A message to the bot; in a channel it @mentions the bot."""
        extra: dict[str, Any] = {"text": text, "textFormat": "plain"}
        if not personal:
            bot = {"id": f"28:{self.login.app_id}", "name": "Airlock"}
            extra["text"] = f"<at>Airlock</at> {text}"
            extra["entities"] = [{"type": "mention", "mentioned": bot, "text": "<at>Airlock</at>"}]
        return self.activity("message", user, conversation, personal=personal, **extra)

    async def send(
        self, activity: dict[str, Any], *, token: str | None = None, within: float | None = None
    ) -> httpx.Response:
        """POST ``activity`` to the bot with a valid token (or ``token``; "" sends none); an
        invoke must be answered within INVOKE_TIMEOUT_S."""
        bearer = token if token is not None else self.login.activity_token(self.service_url)
        limit = within or (INVOKE_TIMEOUT_S if activity["type"] == "invoke" else 15.0)
        async with httpx.AsyncClient(timeout=limit) as http:
            return await http.post(
                f"{self.api_url}/api/messages",
                json=activity,
                headers={"Authorization": f"Bearer {bearer}"} if bearer else {},
            )
