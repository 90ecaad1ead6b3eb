"""The bot's outbound side against the fakes over real HTTP: its client-credentials token
(cached, refreshed before expiry, replaced when refused), the Bot Connector calls, and how
each failure is classified (429 with Retry-After, permanent answers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bot.cards.teams import card_activity, render_teams
from bot.cards.teams_messages import text_activity
from bot.errors import ChatError, RateLimited
from bot.teams.client import BotConnector, ClientToken
from tests.bot.samples import golden_card
from tests.bot.teamskit import BOB, CHANNEL, Teams, teams_fakes


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def teams() -> Iterator[Teams]:
    """The fake login service and Bot Connector."""
    with teams_fakes() as fakes:
        yield fakes


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """One HTTP client, closed after the test."""
    async with httpx.AsyncClient() as client:
        yield client


def _connector(
    teams: Teams, http: httpx.AsyncClient, clock: Clock, password: str | None = None
) -> tuple[BotConnector, ClientToken]:
    login = teams.login
    token = ClientToken(
        http, login.login_url, login.app_id, password or login.app_password, clock=clock
    )
    connector = BotConnector(
        http, token, app_id=login.app_id, tenant_id=login.tenant_id, base_url=teams.connector.url
    )
    return connector, token


def _card() -> dict[str, object]:
    return card_activity(render_teams(golden_card("pending_statement")), "card")


async def test_a_card_opens_a_thread_that_is_updated_and_replied_to(
    teams: Teams, http: httpx.AsyncClient
) -> None:
    """create_in_channel returns (conversation, activity id); PUT redraws that activity; a
    post to the conversation lands in its thread; one token serves all three calls."""
    connector, token = _connector(teams, http, Clock())
    conversation, activity_id = await connector.create_in_channel(CHANNEL, _card())
    assert conversation == f"{CHANNEL};messageid={activity_id}"
    await connector.update(conversation, activity_id, text_activity("redrawn"))
    await connector.send(conversation, text_activity("a reply"))
    posted = teams.connector.cards_in(CHANNEL)[0]
    assert "redrawn" in posted.text and len(posted.history) == 1
    assert "a reply" in teams.connector.thread(conversation)[0].text
    assert token.fetches == 1


async def test_the_token_is_cached_and_fetched_again_before_it_expires(
    teams: Teams, http: httpx.AsyncClient
) -> None:
    """A 3600 s token is reused for 55 minutes, then fetched again (5 minutes early)."""
    clock = Clock()
    _, token = _connector(teams, http, clock)
    first = await token.get()
    clock.now += 3000
    assert await token.get() == first and token.fetches == 1
    clock.now += 301
    assert await token.get() != first and token.fetches == 2


async def test_a_refused_token_is_replaced_once(teams: Teams, http: httpx.AsyncClient) -> None:
    """The connector stops accepting every issued token: the call is retried once with a new
    token and succeeds."""
    connector, token = _connector(teams, http, Clock())
    await connector.send(f"a:{BOB}", text_activity("one"))
    teams.connector.revoke_tokens()
    await connector.send(f"a:{BOB}", text_activity("two"))
    assert token.fetches == 2 and teams.connector.status_count(401) == 1


async def test_the_connector_refuses_calls_without_a_valid_token(teams: Teams) -> None:
    """No bearer token, or one the login service never issued: 401, nothing recorded."""
    async with httpx.AsyncClient() as raw:
        url = f"{teams.connector.url}v3/conversations/x/activities"
        for headers in ({}, {"Authorization": "Bearer made-up"}):
            answer = await raw.post(url, json=text_activity("hi"), headers=headers)
            assert answer.status_code == 401
    assert teams.connector.replies == []


async def test_429_is_rate_limited_with_retry_after(teams: Teams, http: httpx.AsyncClient) -> None:
    """A throttled call raises RateLimited carrying Retry-After; the next one goes through."""
    connector, _ = _connector(teams, http, Clock())
    teams.connector.throttle(1, 2.5)
    with pytest.raises(RateLimited) as raised:
        await connector.create_in_channel(CHANNEL, _card())
    assert raised.value.retry_after == 2.5
    await connector.create_in_channel(CHANNEL, _card())
    assert len(teams.connector.cards_in(CHANNEL)) == 1


async def test_answers_no_retry_can_change_are_permanent(
    teams: Teams, http: httpx.AsyncClient
) -> None:
    """A card over the size limit (413), an unknown activity (404) and a wrong app password
    are permanent ChatErrors; delivery gives up on them at once."""
    connector, _ = _connector(teams, http, Clock())
    teams.connector.max_activity_bytes = 2000
    with pytest.raises(ChatError) as big:
        await connector.create_in_channel(CHANNEL, _card())
    assert big.value.permanent and big.value.code == "MessageSizeTooBig"
    with pytest.raises(ChatError) as gone:
        await connector.update(f"{CHANNEL};messageid=1", "1", text_activity("x"))
    assert gone.value.permanent
    wrong, _ = _connector(teams, http, Clock(), password="wrong")
    with pytest.raises(ChatError) as refused:
        await wrong.send(f"a:{BOB}", text_activity("x"))
    assert refused.value.permanent and refused.value.code == "invalid_client"
    assert "wrong" not in repr(wrong._token) and "wrong" not in str(refused.value)


async def test_the_roster_gives_a_members_email_or_upn(
    teams: Teams, http: httpx.AsyncClient
) -> None:
    """GET members/{id} answers the roster entry; an unknown member is a permanent 404."""
    connector, _ = _connector(teams, http, Clock())
    member = await connector.member(f"{CHANNEL};messageid=1", "29:dave")
    assert member["userPrincipalName"] == "Dave@Example.com"
    with pytest.raises(ChatError) as unknown:
        await connector.member(f"{CHANNEL};messageid=1", "29:nobody")
    assert unknown.value.permanent
