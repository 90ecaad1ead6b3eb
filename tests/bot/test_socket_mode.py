"""Socket Mode: with SLACK_APP_TOKEN set the app connects out over a WebSocket (no public URL,
no /slack/events route) and acks each envelope within Slack's 3 seconds."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.bot.chatkit import SLACK_USERS, cards_in, chat_gateway, connection, wait_for
from tests.support.fake_slack import FakeSlack, FakeSocketMode


async def test_slash_command_over_socket_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/access request` arrives as a Socket Mode envelope, is acked at once, and its card is
    posted; HTTP /slack/events is not served."""
    with FakeSlack(users=SLACK_USERS) as fake:
        async with FakeSocketMode() as socket:
            fake.socket_url = socket.url
            conns = [connection(access="request")]
            async with chat_gateway(
                tmp_path, monkeypatch, fake, connections=conns, socket_mode=True
            ) as gw:
                await wait_for(socket.connected.is_set, what="the Socket Mode connection")
                payload = {
                    "team_id": "T0AIRLOCK",
                    "channel_id": "C0GENERAL",
                    "user_id": "U0ALICE",
                    "command": "/access",
                    "text": "request pg-test for 1h because INC-77",
                    "response_url": fake.issue_response_url(),
                    "trigger_id": fake.issue_trigger_id(),
                    "api_app_id": "A0AIRLOCK",
                }
                ack = await socket.push("slash_commands", payload)
                assert ack["envelope_id"] == "env-1"
                (_, _, card), *_ = await wait_for(lambda: cards_in(fake), what="the card")
                assert "INC-77" in str(card["blocks"])
                async with httpx.AsyncClient() as http:
                    assert (await http.post(f"{gw.api_url}/slack/events")).status_code == 404
    (opened,) = fake.calls_to("apps.connections.open")
    assert opened.token == fake.app_token and opened.response["ok"]
