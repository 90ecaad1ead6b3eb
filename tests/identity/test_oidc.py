"""OIDC tokens of the configured issuer: verified against its discovery document and JWKS,
accepted at the PostgreSQL listener (psql) and the HTTP API, refused with 28P01 and logged."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.errors import AuthError, TokenInvalid
from gateway.identity import OidcVerifier
from tests.identity.support import Target, connect_error, identity_gateway, psql
from tests.support.oidc_issuer import OidcIssuer, User


@pytest.fixture
async def verifier(issuer: OidcIssuer) -> AsyncIterator[OidcVerifier]:
    async with httpx.AsyncClient() as http:
        yield OidcVerifier(issuer.issuer, "airlock", http, min_refresh=0)


async def test_a_valid_token_names_the_person_and_their_groups(
    issuer: OidcIssuer, verifier: OidcVerifier
) -> None:
    """The subject is the verified e-mail, the groups come from the groups claim."""
    identity, claims = await verifier.verify(issuer.token())
    assert identity.subject == "alice@example.com" == identity.email
    assert identity.groups == {"eng"}
    assert claims["sub"] == "u-alice"


NOW = object()  # stands for the time the test runs (not the time the suite was collected)


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"exp": (NOW, -120)}, "expired"),
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "http://127.0.0.1:9/other"}, "issuer"),
        ({"nbf": (NOW, 600)}, "not valid yet"),
        ({"exp": None}, "expired"),
    ],
)
async def test_bad_claims_are_refused(
    issuer: OidcIssuer, verifier: OidcVerifier, claims: dict[str, Any], problem: str
) -> None:
    """Expired, other-audience, other-issuer, not-yet-valid and exp-less tokens are refused."""
    now = int(time.time())
    claims = {
        k: now + v[1] if isinstance(v, tuple) and v[0] is NOW else v for k, v in claims.items()
    }
    with pytest.raises(TokenInvalid, match=problem):
        await verifier.verify(issuer.token(**claims))


async def test_clock_skew_within_the_leeway_is_tolerated(
    issuer: OidcIssuer, verifier: OidcVerifier
) -> None:
    """A token that expired 30 s ago, or starts in 30 s, passes the 60 s leeway."""
    now = int(time.time())
    await verifier.verify(issuer.token(exp=now - 30))
    await verifier.verify(issuer.token(nbf=now + 30, iat=now + 30))


async def test_an_unknown_key_refetches_the_jwks_once_then_refuses(
    issuer: OidcIssuer, verifier: OidcVerifier
) -> None:
    """A kid the JWKS lacks makes the verifier refetch it; still unknown, the token is refused."""
    await verifier.verify(issuer.token())
    assert issuer.jwks_fetches == 1
    stranger = OidcIssuer._new_key()
    with pytest.raises(TokenInvalid, match="does not publish"):
        await verifier.verify(issuer.token(key=stranger))
    assert issuer.jwks_fetches == 2


async def test_rotated_keys_are_picked_up(issuer: OidcIssuer, verifier: OidcVerifier) -> None:
    """After the issuer rotates its key, a token signed with the new key verifies."""
    await verifier.verify(issuer.token())
    issuer.rotate()
    identity, _ = await verifier.verify(issuer.token())
    assert identity.subject == "alice@example.com"
    assert issuer.jwks_fetches == 2


async def test_unknown_kids_refetch_at_most_once_per_interval(issuer: OidcIssuer) -> None:
    """Within ``jwks_min_refresh`` made-up key ids do not make the verifier hammer the issuer."""
    async with httpx.AsyncClient() as http:
        verifier = OidcVerifier(issuer.issuer, "airlock", http, min_refresh=60)
        await verifier.verify(issuer.token())
        for _ in range(5):
            with pytest.raises(TokenInvalid):
                await verifier.verify(issuer.token(key=OidcIssuer._new_key()))
    assert issuer.jwks_fetches == 1


async def test_unsigned_tokens_are_refused(issuer: OidcIssuer, verifier: OidcVerifier) -> None:
    """``alg: none`` is never accepted."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"iss": issuer.issuer, "aud": "airlock", "sub": "x", "exp": time.time() + 60}
    unsigned = f"{part({'alg': 'none'})}.{part(claims)}."
    with pytest.raises(TokenInvalid):
        await verifier.verify(unsigned)


async def test_groups_from_a_nested_claim_and_unverified_email(issuer: OidcIssuer) -> None:
    """``groups_claim`` may be a dotted path; an unverified e-mail is not the subject."""
    async with httpx.AsyncClient() as http:
        verifier = OidcVerifier(issuer.issuer, "airlock", http, groups_claim="realm.roles")
        token = issuer.token(realm={"roles": "dba eng"}, email_verified=False)
        identity, _ = await verifier.verify(token)
    assert identity.groups == {"dba", "eng"}
    assert identity.subject == "u-alice" and identity.email is None


async def test_an_unreachable_issuer_is_an_auth_error(issuer: OidcIssuer) -> None:
    """When discovery cannot be read the token is refused (not a crash)."""
    async with httpx.AsyncClient() as http:
        verifier = OidcVerifier("http://127.0.0.1:9", "airlock", http)
        with pytest.raises(AuthError, match="cannot read"):
            await verifier.verify(issuer.token(iss="http://127.0.0.1:9"))


# -- at the edges ------------------------------------------------------------------------------


async def test_psql_connects_with_an_oidc_token_and_bad_ones_get_28p01(
    tmp_path: Path, issuer: OidcIssuer, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """A valid OIDC token runs a query through psql; expired, wrong-audience, wrong-issuer and
    unknown-key tokens are refused with 28P01, and every refusal is logged with its reason."""
    caplog.set_level(logging.WARNING, logger="airlock.identity")
    async with identity_gateway(tmp_path, issuer=issuer, connections=[target.connection()]) as gw:
        code, out, err = await psql(gw, issuer.token(), "SELECT count(*) FROM t")
        assert (code, out.strip()) == (0, "3"), err
        bad = {
            "expired": issuer.token(exp=int(time.time()) - 300),
            "audience": issuer.token(aud="not-airlock"),
            "issuer": issuer.token(iss="https://idp.example.com"),
            "does not publish": issuer.token(key=OidcIssuer._new_key()),
        }
        for reason, token in bad.items():
            code, _, err = await psql(gw, token, "SELECT 1")
            assert code != 0
            assert "FATAL:  password authentication failed" in err and reason in err, err
            sqlstate, message = await connect_error(gw, token)
            assert sqlstate == "28P01" and reason in message
            assert any(reason in r.getMessage() for r in caplog.records), reason


async def test_keys_rotated_at_the_issuer_are_picked_up_by_the_gateway(
    tmp_path: Path, issuer: OidcIssuer, target: Target
) -> None:
    """psql connects before and after the issuer rotates its signing key."""
    async with identity_gateway(tmp_path, issuer=issuer, connections=[target.connection()]) as gw:
        assert (await psql(gw, issuer.token(), "SELECT 1"))[0] == 0
        issuer.rotate()
        code, out, err = await psql(gw, issuer.token(), "SELECT 2")
        assert (code, out.strip()) == (0, "2"), err


async def test_the_http_api_takes_oidc_bearer_tokens(
    tmp_path: Path, issuer: OidcIssuer, target: Target
) -> None:
    """``/v1/whoami`` with an OIDC access token; ``/oauth/login-config`` names the issuer."""
    bob = User("u-bob", "bob@example.com", ("dba",))
    async with identity_gateway(tmp_path, issuer=issuer, connections=[target.connection()]) as gw:
        async with gw.client(issuer.token(bob)) as http:
            me = (await http.get("/v1/whoami")).json()
            config = (await http.get("/oauth/login-config")).json()
        async with gw.client(issuer.token(bob, aud="other")) as http:
            refused = await http.get("/v1/whoami")
    assert (me["subject"], me["groups"], me["source"]) == ("bob@example.com", ["dba"], "oidc")
    assert config == {
        "issuer": issuer.issuer,
        "client_id": "airlock",
        "audience": "airlock",
        "scopes": ["openid", "email", "profile"],
    }
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "token_invalid"
