"""The chat bot: cards delivered through the outbox to Slack, the ``/access`` command, Approve /
Deny clicks recorded through the gateway's HTTP API, and the built-in console chat at ``/chat``.

Imports :mod:`approvals` and :mod:`store` only; the composition root
(``gateway/cli/compose.py``) builds the :class:`ChatConfig` and calls :func:`build_chat`.
"""

from bot.chat import ChatParts, build_chat
from bot.config import ChatConfig, Person, SlackCredentials, TeamsCredentials

__all__ = [
    "ChatConfig",
    "ChatParts",
    "Person",
    "SlackCredentials",
    "TeamsCredentials",
    "build_chat",
]
