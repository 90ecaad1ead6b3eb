"""Minting signs with the key directly (no JOSE library): the tokens are what the library
writes, byte for byte up to the signature, and the library verifies them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from approvals import Actor, Identity, IdentityKind
from gateway.errors import TokenInvalid
from gateway.identity.tokens import TokenService, generate_key, load_key


def test_minted_token_is_the_libraries_token() -> None:
    """Header and claims segments equal joserfc's for the same claims; its signature verifies
    with the public JWK alone; the kid is the library's RFC 7638 thumbprint."""
    key = generate_key()
    actor = Actor("agent-7", IdentityKind.SERVICE, frozenset({"bots"}), frozenset({"pg"}))
    identity = Identity("zoë@example.com", IdentityKind.PERSON, frozenset({"dba", "é"}),
                        "zoë@example.com", (actor,), frozenset({"pg", "my"}))  # fmt: skip
    token, claims = TokenService(key).issue(identity, ttl=timedelta(hours=1), rests_on=["j1"])
    header = {"alg": "ES256", "kid": key.kid, "typ": "JWT"}
    theirs = jwt.encode(header, dict(claims), key.key, algorithms=["ES256"])
    assert token.split(".")[:2] == theirs.split(".")[:2]
    assert key.kid == key.key.thumbprint()
    public = KeySet.import_key_set({"keys": [key.key.as_dict(private=False)]})
    assert jwt.decode(token, public, algorithms=["ES256"]).claims == claims


def test_another_keys_or_a_changed_token_is_refused() -> None:
    """A token minted here is refused by another key, and when one character is changed."""
    key, other = generate_key(), generate_key()
    token = TokenService(key).mint("alice@example.com")
    for service, text in (
        (TokenService(other), token),
        (TokenService(key), token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]),
    ):
        with pytest.raises(TokenInvalid):
            service.verify(text)


def test_keys_read_alike_from_pem_and_jwk() -> None:
    """A key read from its PEM, from its private JWK and from joserfc's own PEM is one key."""
    key = generate_key()
    as_jwk = load_key(json.dumps(key.key.as_dict(private=True)))
    pem = ECKey.import_key(key.private_pem()).as_pem(private=True)
    from_library_pem = load_key(pem.decode() if isinstance(pem, bytes) else str(pem))
    assert key.kid == load_key(key.private_pem()).kid == as_jwk.kid == from_library_pem.kid
    TokenService(key).verify(TokenService(as_jwk).mint("bob"))
