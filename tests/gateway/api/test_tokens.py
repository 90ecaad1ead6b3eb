"""Gateway tokens: ES256 JWTs that verify only when signature, issuer, audience and lifetime do."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, KeySetSerialization, OctKey, RSAKey

from approvals import Actor, IdentityKind
from gateway.config import load_settings
from gateway.errors import ConfigError, TokenInvalid
from gateway.identity import TokenService, generate_key, identity_from_claims, load_key
from gateway.runtime import signing_key
from store import Database


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


@pytest.fixture
def tokens() -> TokenService:
    return TokenService(generate_key())


def test_round_trip(tokens: TokenService) -> None:
    """A minted token verifies into the same identity and carries the standard claims."""
    token = tokens.mint(
        "alice@example.com",
        groups=["eng", "dba", "eng"],
        email="alice@example.com",
        ttl=timedelta(hours=2),
    )
    identity, claims = tokens.verify(token)
    assert identity.subject == "alice@example.com"
    assert identity.groups == {"eng", "dba"}
    assert identity.kind is IdentityKind.PERSON
    assert identity.email == "alice@example.com"
    assert identity.actors == ()
    assert (claims["iss"], claims["aud"]) == ("airlock", "airlock")
    assert claims["exp"] - claims["iat"] == 7200
    assert claims["jti"]
    header = unb64(token.split(".")[0])
    assert header["alg"] == "ES256"
    assert header["kid"] == tokens.jwks()["keys"][0]["kid"]


def test_service_account_kind(tokens: TokenService) -> None:
    """A service account's token says so."""
    identity, _ = tokens.verify(tokens.mint("ci-runner", kind=IdentityKind.SERVICE))
    assert identity.kind is IdentityKind.SERVICE


def test_expired(tokens: TokenService) -> None:
    """A token past its exp (beyond the 30 s leeway) is refused."""
    token = tokens.mint("alice", ttl=timedelta(minutes=10), now=time.time() - 3600)
    with pytest.raises(TokenInvalid, match="expired"):
        tokens.verify(token)


def test_expiry_leeway(tokens: TokenService) -> None:
    """A few seconds of clock skew past exp are tolerated."""
    token = tokens.mint("alice", ttl=timedelta(seconds=60), now=time.time() - 70)
    assert tokens.verify(token)[0].subject == "alice"


def test_not_yet_valid(tokens: TokenService) -> None:
    """A token whose nbf lies in the future is refused."""
    token = tokens.mint("alice", now=time.time() + 3600)
    with pytest.raises(TokenInvalid, match="not valid yet"):
        tokens.verify(token)


def test_wrong_audience() -> None:
    """A token for another audience, signed by the same key, is refused."""
    key = generate_key()
    token = TokenService(key, audience="someone-else").mint("alice")
    with pytest.raises(TokenInvalid, match="audience"):
        TokenService(key).verify(token)


def test_wrong_issuer() -> None:
    """A token from another issuer, signed by the same key, is refused."""
    key = generate_key()
    token = TokenService(key, issuer="https://evil.example.com").mint("alice")
    with pytest.raises(TokenInvalid, match="issuer"):
        TokenService(key).verify(token)


def test_tampered_signature(tokens: TokenService) -> None:
    """Changing one character of the signature breaks the token."""
    head, body, sig = tokens.mint("alice").split(".")
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    with pytest.raises(TokenInvalid):
        tokens.verify(f"{head}.{body}.{flipped}")


def test_tampered_claims(tokens: TokenService) -> None:
    """Adding a group to a signed token breaks its signature."""
    head, body, sig = tokens.mint("alice", groups=["eng"]).split(".")
    claims = unb64(body)
    claims["groups"] = ["eng", "airlock-admins"]
    with pytest.raises(TokenInvalid):
        tokens.verify(f"{head}.{b64(claims)}.{sig}")


def test_other_key(tokens: TokenService) -> None:
    """A well-formed token signed by another key is refused."""
    with pytest.raises(TokenInvalid):
        tokens.verify(TokenService(generate_key()).mint("alice", groups=["airlock-admins"]))


def test_alg_none(tokens: TokenService) -> None:
    """An unsigned token (``alg: none``) is refused whatever it claims."""
    _, body, _ = tokens.mint("alice").split(".")
    for header in ({"alg": "none", "typ": "JWT"}, {"alg": "None"}):
        with pytest.raises(TokenInvalid):
            tokens.verify(f"{b64(header)}.{body}.")


def test_hmac_with_the_public_key(tokens: TokenService) -> None:
    """An HS256 token keyed with the public JWKS (algorithm confusion) is refused."""
    public = json.dumps(tokens.jwks()["keys"][0]).encode()
    claims = unb64(tokens.mint("mallory").split(".")[1])
    forged = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(public), algorithms=["HS256"])
    with pytest.raises(TokenInvalid):
        tokens.verify(forged)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "a.b", "Bearer x.y.z"])
def test_garbage(tokens: TokenService, garbage: str) -> None:
    """Anything that is not a JWT is a TokenInvalid, never another exception."""
    with pytest.raises(TokenInvalid):
        tokens.verify(garbage)


def test_act_chain_nests_and_unnests(tokens: TokenService) -> None:
    """alice → ci-runner → sql-agent: the current actor is the outermost ``act`` (RFC 8693)."""
    token = tokens.mint(
        "alice@example.com", groups=["eng"], actors=(Actor("ci-runner"), Actor("sql-agent"))
    )
    claims = unb64(token.split(".")[1])
    assert claims["act"] == {
        "sub": "sql-agent",
        "kind": "service",
        "act": {"sub": "ci-runner", "kind": "service"},
    }
    identity, _ = tokens.verify(token)
    assert identity.subject == "alice@example.com"
    assert [a.subject for a in identity.actors] == ["ci-runner", "sql-agent"]
    assert identity.chain == ("alice@example.com", "ci-runner", "sql-agent")
    assert identity.describe() == "alice@example.com → ci-runner → sql-agent"


def test_act_claim_by_hand() -> None:
    """An act claim from a token exchange unnests the same way, its kind defaulting to service."""
    identity = identity_from_claims(
        {"sub": "alice", "act": {"sub": "b", "act": {"sub": "a", "kind": "person"}}}
    )
    assert [(a.subject, a.kind) for a in identity.actors] == [
        ("a", IdentityKind.PERSON),
        ("b", IdentityKind.SERVICE),
    ]


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "alice", "act": "ci-runner"},
        {"sub": "alice", "act": {"kind": "service"}},
        {"sub": "alice", "act": {"sub": "b", "kind": "robot"}},
        {"sub": "alice", "kind": "robot"},
        {"sub": "alice", "groups": "dba"},
        {"sub": "alice", "groups": ["dba", 7]},
        {"sub": ""},
        {"groups": []},
    ],
)
def test_malformed_claims(claims: dict[str, Any]) -> None:
    """Claims that do not describe an identity are a TokenInvalid."""
    with pytest.raises(TokenInvalid):
        identity_from_claims(claims)


def test_jwks_has_the_public_key_only(tokens: TokenService) -> None:
    """The JWKS holds the public half (no ``d``) and verifies the service's tokens."""
    jwks = tokens.jwks()
    (key,) = jwks["keys"]
    assert "d" not in key
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert {"x", "y", "kid"} <= set(key)
    decoded = jwt.decode(
        tokens.mint("alice"),
        KeySet.import_key_set(cast(KeySetSerialization, jwks)),
        algorithms=["ES256"],
    )
    assert decoded.claims["sub"] == "alice"


def test_signing_key_as_pem() -> None:
    """AIRLOCK_SIGNING_KEY may be a PEM private key; tokens made with it verify."""
    original = generate_key()
    loaded = load_key(original.private_pem())
    assert loaded.kid == original.kid
    TokenService(original).verify(TokenService(loaded).mint("alice"))


def test_signing_key_as_jwk() -> None:
    """AIRLOCK_SIGNING_KEY may be a private JWK (JSON)."""
    original = generate_key()
    loaded = load_key(json.dumps(original.key.as_dict(private=True)))
    assert loaded.kid == original.kid


@pytest.mark.parametrize("form", ["pem", "jwk"])
def test_public_signing_key_refused(form: str) -> None:
    """A public key cannot sign: it is refused with a clear message."""
    key = generate_key().key
    if form == "pem":
        pem = key.as_pem(private=False)
        text = pem.decode() if isinstance(pem, bytes) else str(pem)
    else:
        text = json.dumps(key.as_dict(private=False))
    with pytest.raises(ConfigError, match="public key"):
        load_key(text)


def test_wrong_kind_of_key_refused() -> None:
    """Garbage, an RSA key and a P-384 key are refused: ES256 needs P-256."""
    rsa = RSAKey.generate_key(2048, private=True).as_pem(private=True)
    p384 = ECKey.generate_key("P-384", private=True).as_pem(private=True)
    for text in ("not a key", "{}", bytes(rsa).decode(), bytes(p384).decode()):
        with pytest.raises(ConfigError, match="AIRLOCK_SIGNING_KEY"):
            load_key(text)


async def test_runtime_uses_the_environment_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With AIRLOCK_SIGNING_KEY set the runtime signs with it (and keeps none in the store)."""
    original = generate_key()
    monkeypatch.setenv("AIRLOCK_SIGNING_KEY", original.private_pem())
    monkeypatch.chdir(tmp_path)
    async with Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}") as database:
        key = await signing_key(load_settings(), database)
    assert key.kid == original.kid
    assert not (tmp_path / "unused.db").exists()


async def test_runtime_refuses_a_public_environment_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public key in AIRLOCK_SIGNING_KEY stops the start with a ConfigError."""
    pem = generate_key().key.as_pem(private=False)
    monkeypatch.setenv("AIRLOCK_SIGNING_KEY", bytes(pem).decode())
    monkeypatch.chdir(tmp_path)
    async with Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}") as database:
        with pytest.raises(ConfigError, match="public key"):
            await signing_key(load_settings(), database)
