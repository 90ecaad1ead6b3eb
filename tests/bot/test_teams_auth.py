"""Inbound Teams activities: the Bot Framework token checked as the Bot Connector documents it,
against the fake login service's metadata and endorsed keys over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from bot.errors import InboundRefused
from bot.teams.auth import BotFrameworkAuth
from tests.support.fake_teams import FakeTeamsLogin, new_key

SERVICE_URL = "https://smba.trafficmanager.net/emea/"


@pytest.fixture
def login() -> Iterator[FakeTeamsLogin]:
    """The fake Bot Framework login service, started on a free port."""
    with FakeTeamsLogin() as fake:
        yield fake


@pytest.fixture
async def auth(login: FakeTeamsLogin) -> AsyncIterator[BotFrameworkAuth]:
    """The verifier pointed at the fake's OpenID metadata (AIRLOCK_TEAMS_OPENID_URL)."""
    async with httpx.AsyncClient() as http:
        yield BotFrameworkAuth(login.app_id, http, login.openid_url, min_refresh=0.5)


def activity(service_url: str = SERVICE_URL, channel: str = "msteams") -> dict[str, Any]:
    return {
        "type": "message",
        "id": "1700000000000",
        "channelId": channel,
        "serviceUrl": service_url,
        "from": {"id": "29:1alice", "aadObjectId": "a1"},
        "conversation": {"id": "a:1personal"},
        "recipient": {"id": "28:bot"},
        "text": "access help",
    }


async def refused(auth: BotFrameworkAuth, header: str | None, body: dict[str, Any]) -> int:
    with pytest.raises(InboundRefused) as caught:
        await auth.verify(header, body)
    return caught.value.status


async def test_a_token_from_the_bot_connector_is_accepted(
    auth: BotFrameworkAuth, login: FakeTeamsLogin
) -> None:
    """A token signed by a key endorsed for msteams, for our app id, from the activity's
    service URL, passes and hands back the checked service URL."""
    token = login.activity_token(SERVICE_URL)
    verified = await auth.verify(f"Bearer {token}", activity())
    assert verified.service_url == SERVICE_URL
    assert verified.claims["aud"] == login.app_id


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz"])
async def test_no_bearer_token_is_401(auth: BotFrameworkAuth, header: str | None) -> None:
    """An activity without a bearer token is refused with 401 before any key is fetched."""
    assert await refused(auth, header, activity()) == 401
    assert auth.fetches == 0


async def test_forged_tokens_are_403(auth: BotFrameworkAuth, login: FakeTeamsLogin) -> None:
    """A token signed by a key the Bot Framework does not list, one that borrows a listed key's
    id, and one that is not a JWT at all are refused with 403."""
    forger = new_key()
    unknown = login.activity_token(SERVICE_URL, key=forger)
    claims = {"iss": "https://api.botframework.com", "aud": login.app_id,
              "serviceurl": SERVICE_URL, "exp": int(time.time()) + 600}  # fmt: skip
    borrowed = jwt.encode({"alg": "RS256", "kid": login.teams_key.kid}, claims, forger)
    for token in (unknown, borrowed, "not.a.jwt"):
        assert await refused(auth, f"Bearer {token}", activity()) == 403


async def test_symmetric_and_unsigned_tokens_are_403(
    auth: BotFrameworkAuth, login: FakeTeamsLogin
) -> None:
    """HS256 keyed with the public key's bytes (algorithm confusion) and alg none are refused."""
    public = login.teams_key.as_dict(private=False)
    secret = OctKey.import_key(str(public["n"]).encode())
    claims = {"iss": "https://api.botframework.com", "aud": login.app_id,
              "serviceurl": SERVICE_URL, "exp": int(time.time()) + 600}  # fmt: skip
    hmac = jwt.encode({"alg": "HS256", "kid": login.teams_key.kid}, claims, secret)
    unsigned = hmac.rsplit(".", 1)[0].split(".", 1)[1]
    none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}
    for token in (hmac, f"{none_header}.{unsigned}."):
        assert await refused(auth, f"Bearer {token}", activity()) == 403


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"exp": -240}, True),  # expired 4 minutes ago: within the 5-minute skew
        ({"exp": -360}, False),  # expired 6 minutes ago
        ({"nbf": 240}, True),  # valid in 4 minutes: within the skew
        ({"nbf": 360}, False),  # valid in 6 minutes
        ({"exp": None}, False),  # no expiry at all
    ],
)
async def test_stale_tokens_are_403_beyond_five_minutes_of_skew(
    auth: BotFrameworkAuth, login: FakeTeamsLogin, claims: dict[str, int | None], accepted: bool
) -> None:
    """exp and nbf are honoured with exactly the documented 5 minutes of clock skew."""
    now = int(time.time())
    overrides: dict[str, Any] = {k: (None if v is None else now + v) for k, v in claims.items()}
    token = login.activity_token(SERVICE_URL, **overrides)
    if accepted:
        await auth.verify(f"Bearer {token}", activity())
    else:
        assert await refused(auth, f"Bearer {token}", activity()) == 403


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "11111111-2222-3333-4444-555555555555"},  # another bot's app id
        {"aud": "https://api.botframework.com"},  # the bot's own outbound audience
        {"aud": None},
        {"iss": "https://sts.windows.net/00000000-0000-0000-0000-00000000cafe/"},
        {"iss": None},
    ],
)
async def test_wrong_audience_or_issuer_is_403(
    auth: BotFrameworkAuth, login: FakeTeamsLogin, claims: dict[str, Any]
) -> None:
    """Only the Bot Framework's issuer and our own app id as audience are accepted."""
    token = login.activity_token(SERVICE_URL, **claims)
    assert await refused(auth, f"Bearer {token}", activity()) == 403


async def test_a_key_not_endorsed_for_msteams_is_403(
    auth: BotFrameworkAuth, login: FakeTeamsLogin
) -> None:
    """A listed key endorsed only for webchat cannot sign a Teams activity, and a webchat
    activity is not served even with its own channel's key."""
    token = login.activity_token(SERVICE_URL, key=login.webchat_key)
    assert await refused(auth, f"Bearer {token}", activity()) == 403
    assert await refused(auth, f"Bearer {token}", activity(channel="webchat")) == 403
    teams = login.activity_token(SERVICE_URL)
    assert await refused(auth, f"Bearer {teams}", activity(channel="webchat")) == 403


async def test_the_service_url_claim_must_match_the_activity(
    auth: BotFrameworkAuth, login: FakeTeamsLogin
) -> None:
    """A token minted for another Bot Connector, or with no serviceurl claim, is 403; a
    trailing slash is not a difference."""
    other = login.activity_token("https://evil.example.com/emea/")
    assert await refused(auth, f"Bearer {other}", activity()) == 403
    missing = login.activity_token(SERVICE_URL, serviceurl=None)
    assert await refused(auth, f"Bearer {missing}", activity()) == 403
    bare = login.activity_token(SERVICE_URL.rstrip("/"))
    assert (await auth.verify(f"Bearer {bare}", activity())).service_url == SERVICE_URL


async def test_rotated_keys_are_fetched_but_made_up_key_ids_do_not_hammer_the_service(
    auth: BotFrameworkAuth, login: FakeTeamsLogin
) -> None:
    """After a rotation the new key is fetched once; a burst of tokens naming unknown keys
    costs at most one refetch per min_refresh."""
    await auth.verify(f"Bearer {login.activity_token(SERVICE_URL)}", activity())
    login.rotate()
    await asyncio.sleep(0.6)  # past min_refresh
    await auth.verify(f"Bearer {login.activity_token(SERVICE_URL)}", activity())
    assert login.fetches("/v1/.well-known/keys") == 2
    forger = new_key()
    for _ in range(20):
        token = login.activity_token(SERVICE_URL, key=forger)
        assert await refused(auth, f"Bearer {token}", activity()) == 403
    assert login.fetches("/v1/.well-known/keys") <= 3


async def test_unreachable_keys_are_503_and_not_retried_at_once(
    auth: BotFrameworkAuth, login: FakeTeamsLogin
) -> None:
    """With the login service down every activity is refused (503, fail closed), and the
    failure is remembered for min_refresh instead of refetched per request."""
    login.unavailable = True
    token = login.activity_token(SERVICE_URL)
    for _ in range(5):
        assert await refused(auth, f"Bearer {token}", activity()) == 503
    assert login.fetches("/v1/.well-known/openidconfiguration") == 1
    login.unavailable = False
    await asyncio.sleep(0.6)
    assert (await auth.verify(f"Bearer {token}", activity())).service_url == SERVICE_URL


async def test_the_fake_token_endpoint_serves_only_the_registered_app(
    login: FakeTeamsLogin,
) -> None:
    """The fake's client-credentials endpoint answers the registered app with a bearer token
    for the Bot Framework and refuses a wrong secret, grant or scope as the real one does."""
    form = {
        "grant_type": "client_credentials",
        "client_id": login.app_id,
        "client_secret": login.app_password,
        "scope": "https://api.botframework.com/.default",
    }
    async with httpx.AsyncClient() as http:
        ok = await http.post(login.login_url, data=form)
        bad_secret = await http.post(login.login_url, data={**form, "client_secret": "x"})
        bad_grant = await http.post(login.login_url, data={**form, "grant_type": "password"})
        bad_scope = await http.post(login.login_url, data={**form, "scope": "openid"})
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
    assert ok.json()["access_token"] == login.issued[-1]
    assert ok.json()["expires_in"] == login.token_ttl
    assert (bad_secret.status_code, bad_secret.json()["error"]) == (401, "invalid_client")
    assert bad_grant.json()["error"] == "unsupported_grant_type"
    assert bad_scope.json()["error"] == "invalid_scope"
