"""Support for the Teams tests: the fakes (login, Bot Connector, the Teams client), the gateway
with ``[chat] provider = "teams"`` pointed at them, Teams users and their [[people]] entries."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.cards.teams import APPROVE_VERB
from tests.bot.chatkit import connection as pg_test_connection
from tests.harness import RunningGateway, running_gateway
from tests.support.fake_teams import (
    FakeBotConnector,
    FakeTeamsLogin,
    Posted,
    TeamsClient,
    TeamsUser,
)

__all__ = [
    "ALICE",
    "BOB",
    "CAROL",
    "CHANNEL",
    "DAVE",
    "OWNERS",
    "PEOPLE",
    "TEAMS_USERS",
    "Teams",
    "card_of",
    "review_of",
    "teams_connection",
    "teams_fakes",
    "teams_gateway",
]

CHANNEL = "19:dba-oncall@thread.tacv2"
OWNERS = "19:db-owners@thread.tacv2"
ALICE, BOB, CAROL, DAVE = "29:alice", "29:bob", "29:carol", "29:dave"
TEAMS_USERS = (
    TeamsUser(ALICE, "Alice", email="alice@example.com", aad_object_id="aad-alice"),
    TeamsUser(BOB, "Bob", email="bob@example.com", aad_object_id="aad-bob"),
    TeamsUser(CAROL, "Carol", email="carol@example.com", aad_object_id="aad-carol"),
    TeamsUser(DAVE, "Dave", upn="Dave@Example.com", aad_object_id="aad-dave"),
)
# alice asks (eng), bob approves (dba), carol is no approver; dave (dba) is known only by the
# roster's UPN, so the approvers' Teams ids are not all known: everyone sees the buttons.
PEOPLE = (
    {"email": "alice@example.com", "groups": ["eng"], "teams_id": ALICE},
    {"email": "bob@example.com", "groups": ["dba"], "teams_id": BOB},
    {"email": "carol@example.com", "groups": ["eng"], "teams_id": CAROL},
    {"email": "dave@example.com", "groups": ["dba"]},
)


@dataclass
class Teams:
    login: FakeTeamsLogin
    connector: FakeBotConnector

    def client(self, gw: RunningGateway) -> TeamsClient:
        return TeamsClient(self.login, self.connector.url, gw.api_url)

    def environment(self) -> dict[str, str]:
        return {
            "TEAMS_APP_ID": self.login.app_id,
            "TEAMS_APP_PASSWORD": self.login.app_password,
            "TEAMS_TENANT_ID": self.login.tenant_id,
            "AIRLOCK_TEAMS_SERVICE_URL": self.connector.url,
            "AIRLOCK_TEAMS_OPENID_URL": self.login.openid_url,
            "AIRLOCK_TEAMS_LOGIN_URL": self.login.login_url,
        }


@contextlib.contextmanager
def teams_fakes() -> Iterator[Teams]:
    with FakeTeamsLogin() as login, FakeBotConnector(login, TEAMS_USERS) as connector:
        yield Teams(login, connector)


def teams_connection(database: str = "postgres", **overrides: Any) -> dict[str, Any]:
    """pg-test with its cards in the dba channel and its owners' notices in the owners'."""
    conn = pg_test_connection(
        database,
        approvers={"groups": ["dba"], "channel": CHANNEL, "quorum": 1},
        owners={"channel": OWNERS, "identities": ["carol@example.com"]},
    )
    conn.update(overrides)
    return conn


@contextlib.asynccontextmanager
async def teams_gateway(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    teams: Teams,
    *,
    connections: Iterable[Mapping[str, Any]] | None = None,
    people: Iterable[Mapping[str, Any]] = PEOPLE,
    store_url: str | None = None,
) -> AsyncIterator[RunningGateway]:
    """The whole gateway with chat.provider teams, every Microsoft URL on the fakes."""
    for name, value in teams.environment().items():
        monkeypatch.setenv(name, value)
    async with running_gateway(
        tmp_path,
        connections=list(connections) if connections is not None else [teams_connection()],
        people=people,
        store_url=store_url,
        extra_toml='[chat]\nprovider = "teams"\n',
    ) as gw:
        yield gw


def card_of(posted: Posted) -> dict[str, Any]:
    card = posted.card
    assert card is not None, posted.activity
    return card


def review_of(posted: Posted) -> str:
    """The review id an Approve button of the card carries."""
    for action in card_of(posted).get("actions") or []:
        if action.get("verb") == APPROVE_VERB:
            return str(action["data"]["review"])
    raise AssertionError("the card has no Approve button")
