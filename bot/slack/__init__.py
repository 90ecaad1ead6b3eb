"""The Slack side of the bot: the slack-bolt AsyncApp and its listeners, the Web API calls, the
delivery sink, and the Block Kit views beside the card."""

from bot.slack.app import COMMAND, build_app, events_router, socket_mode
from bot.slack.sink import SlackDirectory, SlackSink

__all__ = ["COMMAND", "SlackDirectory", "SlackSink", "build_app", "events_router", "socket_mode"]
