"""What the bot is configured with, as frozen values built by the composition root.

The bot never reads the environment or the gateway's settings itself:
``gateway/cli/compose.py`` turns its Settings (and ``SLACK_*`` variables) into these values and
passes them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from approvals import Connection

__all__ = ["ChatConfig", "Person", "SlackCredentials", "TeamsCredentials"]


@dataclass(frozen=True, slots=True)
class Person:
    """A ``[[people]]`` entry: who a chat user is, and their groups."""

    email: str
    groups: frozenset[str] = frozenset()
    slack_id: str | None = None
    teams_id: str | None = None


@dataclass(frozen=True, slots=True)
class SlackCredentials:
    """The Slack app's secrets; ``app_token`` set means Socket Mode instead of HTTP."""

    bot_token: str = field(repr=False)
    signing_secret: str = field(repr=False)
    app_token: str | None = field(default=None, repr=False)
    api_url: str | None = None  # AIRLOCK_SLACK_API_URL; None: Slack's own


@dataclass(frozen=True, slots=True)
class TeamsCredentials:
    """The Teams app's registration; the three URLs replace Microsoft's (None: the real ones):
    ``service_url`` the Bot Connector, ``openid_url`` the OpenID metadata inbound tokens are
    checked against, ``login_url`` the token endpoint of the bot's own client credentials."""

    app_id: str
    app_password: str = field(repr=False)
    tenant_id: str | None = None
    service_url: str | None = None
    openid_url: str | None = None
    login_url: str | None = None


@dataclass(frozen=True, slots=True)
class ChatConfig:
    """``provider``: where cards go; ``api_url``: the gateway API the bot records decisions
    through; ``public_url``: how people reach this process (links in chat)."""

    provider: Literal["console", "slack", "teams"]
    api_url: str
    connections: Mapping[str, Connection]
    people: tuple[Person, ...] = ()
    dev_mode: bool = False
    public_url: str | None = None
    # [api] admin_groups + auditor_groups: who sees every review in the console chat (acting
    # directly: approvals.policy.NOT_DELEGATED).
    auditor_groups: frozenset[str] = frozenset()

    def channel_for(self, connection: str) -> str | None:
        """Where a connection's cards go: its approvers' channel, else its owners'."""
        conn = self.connections.get(connection)
        if conn is None:
            return None
        return conn.approvers.channel or conn.owners.channel
