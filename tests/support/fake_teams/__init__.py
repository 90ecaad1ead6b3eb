"""Fakes of Microsoft Teams' remote services for tests (we cannot run them here): the login side
(OpenID metadata, endorsed signing keys, the client-credentials token endpoint), the Bot
Connector the bot calls, and the Teams client side that posts activities to the bot."""

from tests.support.fake_teams.client import INVOKE_TIMEOUT_S, TeamsClient
from tests.support.fake_teams.connector import (
    MAX_ACTIVITY_BYTES,
    FakeBotConnector,
    Posted,
    TeamsUser,
)
from tests.support.fake_teams.login import (
    BOT_FRAMEWORK_ISSUER,
    BOT_FRAMEWORK_SCOPE,
    FakeTeamsLogin,
    new_key,
)

__all__ = [
    "BOT_FRAMEWORK_ISSUER",
    "BOT_FRAMEWORK_SCOPE",
    "INVOKE_TIMEOUT_S",
    "MAX_ACTIVITY_BYTES",
    "FakeBotConnector",
    "FakeTeamsLogin",
    "Posted",
    "TeamsClient",
    "TeamsUser",
    "new_key",
]
