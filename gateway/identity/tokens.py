"""Gateway-signed tokens: ES256 JWTs minted by Airlock for people, CI jobs and agents.

Claims: ``iss``/``aud`` (both ``airlock`` unless configured), ``sub``, ``kind`` (person |
service), ``groups``, ``email``, ``jti``, ``iat``, ``nbf``, ``exp`` and, for delegated tokens, the
RFC 8693 ``act`` claim, nested outermost-first (the current actor is the outermost ``act``); each
``act`` carries the actor's ``kind``, ``groups`` and, for a scoped service account, ``scope``.

``scope`` (RFC 8693 section 4.2: space-separated) lists the connections the token may reach at
most; absent, the token is limited only by its identity's access. ``rests_on`` lists the ``jti``
of every token this one was exchanged from, so that revoking any of them refuses this one too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from approvals import Actor, Identity, IdentityKind, new_id
from gateway.errors import ConfigError, TokenInvalid

__all__ = [
    "SigningKey",
    "TokenService",
    "generate_key",
    "identity_from_claims",
    "load_key",
    "parse_scope",
    "scope_text",
]

ALGORITHM = "ES256"
LEEWAY_S = 30


@dataclass(frozen=True)
class SigningKey:
    key: ECKey

    @property
    def kid(self) -> str:
        return str(self.key.thumbprint())

    def private_pem(self) -> str:
        pem = self.key.as_pem(private=True)
        return pem.decode() if isinstance(pem, bytes) else str(pem)


def generate_key() -> SigningKey:
    return SigningKey(ECKey.generate_key("P-256", private=True))


def load_key(text: str) -> SigningKey:
    """A P-256 private key as PEM or as a private JWK (JSON)."""
    try:
        raw: Any = json.loads(text) if text.lstrip().startswith("{") else text
        key = ECKey.import_key(raw)
    except (ValueError, JoseError, TypeError) as exc:
        raise ConfigError("AIRLOCK_SIGNING_KEY is not a P-256 private key (PEM or JWK)") from exc
    if key.curve_name != "P-256":
        raise ConfigError(
            f"AIRLOCK_SIGNING_KEY is a {key.curve_name} key; ES256 needs a P-256 private key"
        )
    if not key.is_private:
        raise ConfigError("AIRLOCK_SIGNING_KEY holds a public key; a private key is needed")
    return SigningKey(key)


def _act_claim(actors: tuple[Actor, ...]) -> dict[str, Any] | None:
    claim: dict[str, Any] | None = None
    for actor in actors:  # first actor nests deepest; the last one is outermost
        claim = {
            "sub": actor.subject,
            "kind": actor.kind.value,
            **({"groups": sorted(actor.groups)} if actor.groups else {}),
            **({"scope": scope_text(actor.scope)} if actor.scope is not None else {}),
            **({"act": claim} if claim else {}),
        }
    return claim


def _actors(act: Any) -> tuple[Actor, ...]:
    chain: list[Actor] = []
    while act is not None:
        if not isinstance(act, dict) or not isinstance(act.get("sub"), str):
            raise TokenInvalid("malformed act claim")
        try:
            kind = IdentityKind(act.get("kind", IdentityKind.SERVICE.value))
        except ValueError as exc:
            raise TokenInvalid("unknown identity kind in the act claim") from exc
        groups = _strings(act.get("groups", []), "act groups")
        chain.append(Actor(act["sub"], kind, frozenset(groups), parse_scope(act.get("scope"))))
        act = act.get("act")
    return tuple(reversed(chain))


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TokenInvalid(f"token {what} must be a list of strings")
    return value


def scope_text(scope: Iterable[str]) -> str:
    """A scope as the claim carries it: space-separated, sorted."""
    return " ".join(sorted(set(scope)))


def parse_scope(value: Any) -> frozenset[str] | None:
    """The ``scope`` claim (a space-separated string, or a list) as a set; None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset(value.split())
    return frozenset(_strings(value, "scope"))


def identity_from_claims(claims: dict[str, Any]) -> Identity:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise TokenInvalid("token has no subject")
    groups = _strings(claims.get("groups", []), "groups")
    try:
        kind = IdentityKind(claims.get("kind", IdentityKind.PERSON.value))
    except ValueError as exc:
        raise TokenInvalid("unknown identity kind in token") from exc
    email = claims.get("email")
    return Identity(
        subject=subject,
        kind=kind,
        groups=frozenset(groups),
        email=email if isinstance(email, str) else None,
        actors=_actors(claims.get("act")),
        scope=parse_scope(claims.get("scope")),
    )


class TokenService:
    """Mints and verifies gateway tokens with the current signing key."""

    def __init__(self, key: SigningKey, *, issuer: str = "airlock", audience: str = "airlock"):
        self._key = key
        self.issuer = issuer
        self.audience = audience
        self._keys = KeySet([key.key])

    def mint(
        self,
        subject: str,
        *,
        groups: Iterable[str] = (),
        kind: IdentityKind = IdentityKind.PERSON,
        email: str | None = None,
        ttl: timedelta = timedelta(hours=8),
        actors: tuple[Actor, ...] = (),
        now: float | None = None,
    ) -> str:
        identity = Identity(subject, kind, frozenset(groups), email, actors)
        return self.issue(identity, ttl=ttl, now=now)[0]

    def issue(
        self,
        identity: Identity,
        *,
        ttl: timedelta,
        not_after: float | None = None,
        rests_on: Iterable[str] = (),
        now: float | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Sign a token for ``identity`` (its chain as ``act``, its ``scope``); it expires after
        ``ttl`` or at ``not_after``, whichever comes first. Returns the token and its claims."""
        issued = int(time.time() if now is None else now)
        expires = issued + int(ttl.total_seconds())
        if not_after is not None:
            expires = min(expires, int(not_after))
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": identity.subject,
            "kind": identity.kind.value,
            "groups": sorted(identity.groups),
            "jti": new_id(),
            "iat": issued,
            "nbf": issued,
            "exp": expires,
        }
        if identity.email:
            claims["email"] = identity.email
        act = _act_claim(identity.actors)
        if act:
            claims["act"] = act
        if identity.scope is not None:
            claims["scope"] = scope_text(identity.scope)
        parents = sorted(set(rests_on))
        if parents:
            claims["rests_on"] = parents
        header = {"alg": ALGORITHM, "kid": self._key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self._key.key, algorithms=[ALGORITHM]), claims

    def verify(self, token: str, *, now: float | None = None) -> tuple[Identity, dict[str, Any]]:
        """Check signature, issuer, audience and lifetime; return the identity and claims."""
        try:
            decoded = jwt.decode(token.strip(), self._keys, algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError) as exc:
            raise TokenInvalid("token signature or format is invalid") from exc
        claims = dict(decoded.claims)
        current = time.time() if now is None else now
        if claims.get("iss") != self.issuer:
            raise TokenInvalid("token issuer is not accepted")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.audience not in audiences:
            raise TokenInvalid("token audience is not accepted")
        exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat", 0))
        if not isinstance(exp, int | float) or current > exp + LEEWAY_S:
            raise TokenInvalid("token has expired")
        if isinstance(nbf, int | float) and current + LEEWAY_S < nbf:
            raise TokenInvalid("token is not valid yet")
        return identity_from_claims(claims), claims

    def jwks(self) -> dict[str, Any]:
        public = self._key.key.as_dict(private=False)
        public.update({"kid": self._key.kid, "alg": ALGORITHM, "use": "sig"})
        return {"keys": [public]}
