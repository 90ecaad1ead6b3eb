"""The Teams side of the bot: ``/api/messages`` (every activity's Bot Framework token checked),
Adaptive Card clicks and ``access ...`` commands, the Bot Connector client with the bot's own
token, and delivery's and notices' Teams sinks (docs/chat.md, "Teams")."""

from bot.teams.app import TeamsBot, messages_router
from bot.teams.auth import BotFrameworkAuth, Verified
from bot.teams.client import BotConnector, ClientToken
from bot.teams.sink import TeamsDirectory, TeamsNoticeSink, TeamsSink
from bot.teams.wiring import TeamsParts, build_teams

__all__ = [
    "BotConnector",
    "BotFrameworkAuth",
    "ClientToken",
    "TeamsBot",
    "TeamsDirectory",
    "TeamsNoticeSink",
    "TeamsParts",
    "TeamsSink",
    "Verified",
    "build_teams",
    "messages_router",
]
