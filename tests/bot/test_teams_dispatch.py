"""TeamsBot's dispatch with small in-memory stand-ins for the handlers: an invoke slower than
the budget is answered in time and keeps running; a redelivered activity is handled once."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

import pytest

from bot.teams import app as teams_app
from bot.teams.actions import CardActions
from bot.teams.app import TeamsBot
from bot.teams.auth import BotFrameworkAuth
from bot.teams.commands import TeamsCommands


class SlowActions:
    def __init__(self, delay: float) -> None:
        self.delay, self.calls = delay, 0

    async def invoke(self, activity: Mapping[str, Any]) -> dict[str, Any]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return {"statusCode": 200, "type": "card", "value": activity["id"]}


class Commands:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def message(self, activity: Mapping[str, Any]) -> None:
        self.seen.append(str(activity["id"]))


def _bot(actions: SlowActions, commands: Commands) -> TeamsBot:
    return TeamsBot(
        cast(BotFrameworkAuth, None), cast(CardActions, actions), cast(TeamsCommands, commands)
    )


def _activity(kind: str, activity_id: str) -> dict[str, Any]:
    extra = {"name": "adaptiveCard/action"} if kind == "invoke" else {}
    return {"type": kind, "id": activity_id, "conversation": {"id": "c1"}, **extra}


async def test_a_slow_click_is_answered_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A click that takes longer than the budget gets "still recording" in time; the work goes
    on, and the same activity delivered again gets its real answer, without a second run."""
    monkeypatch.setattr(teams_app, "INVOKE_BUDGET_S", 0.05)
    actions = SlowActions(0.3)
    bot = _bot(actions, Commands())
    status, first = await bot._dispatch(_activity("invoke", "a1"))
    assert status == 200 and "still recording" in first["value"]
    status, again = await bot._dispatch(_activity("invoke", "a1"))
    assert again["value"] == "a1" and actions.calls == 1
    await bot.close()


async def test_a_redelivered_message_is_handled_once() -> None:
    """The same message id twice in one conversation runs the command once; another id runs."""
    commands = Commands()
    bot = _bot(SlowActions(0), commands)
    for activity_id in ("m1", "m1", "m2"):
        assert await bot._dispatch(_activity("message", activity_id)) == (200, None)
    await asyncio.sleep(0.05)
    assert commands.seen == ["m1", "m2"]
    assert await bot._dispatch(_activity("conversationUpdate", "u1")) == (200, None)
    await bot.close()
