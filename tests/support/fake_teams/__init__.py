"""Fakes of Microsoft Teams' remote services for tests (we cannot run them here). So far the
login side: OpenID metadata, endorsed signing keys, the client-credentials token endpoint."""

from tests.support.fake_teams.login import (
    BOT_FRAMEWORK_ISSUER,
    BOT_FRAMEWORK_SCOPE,
    FakeTeamsLogin,
    new_key,
)

__all__ = ["BOT_FRAMEWORK_ISSUER", "BOT_FRAMEWORK_SCOPE", "FakeTeamsLogin", "new_key"]
