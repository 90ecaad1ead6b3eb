"""The Teams side of the bot. So far only inbound authentication (:mod:`bot.teams.auth`):
nothing serves ``/api/messages`` yet (docs/chat.md, "Teams")."""

from bot.teams.auth import BotFrameworkAuth, Verified

__all__ = ["BotFrameworkAuth", "Verified"]
