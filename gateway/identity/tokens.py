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

import base64
import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from approvals import Actor, Identity, IdentityKind, new_id
from gateway.errors import ConfigError, TokenInvalid

if TYPE_CHECKING:  # the JOSE library is imported by what verifies and publishes keys only
    from joserfc.jwk import ECKey, KeySet

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
_P256_BYTES = 32  # a P-256 coordinate, and each half of an ES256 signature (RFC 7518 3.4)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    """A P-256 private key. Minting signs with it directly (:mod:`cryptography`, RFC 7515
    compact serialisation, RFC 7518 3.4 ES256); the JOSE library's view of it (``key``) is
    built only where tokens are verified or the key is published, so ``airlock token create``
    does not import that library."""

    private: ec.EllipticCurvePrivateKey

    @cached_property
    def kid(self) -> str:
        """The RFC 7638 thumbprint of the public key (SHA-256 of its required JWK members)."""
        numbers = self.private.public_key().public_numbers()
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64url(numbers.x.to_bytes(_P256_BYTES, "big")),
            "y": _b64url(numbers.y.to_bytes(_P256_BYTES, "big")),
        }
        text = json.dumps(members, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
        return _b64url(hashlib.sha256(text.encode("ascii")).digest())

    @cached_property
    def key(self) -> ECKey:
        from joserfc.jwk import ECKey  # noqa: PLC0415  (see the class docstring)

        return ECKey.import_key(self.private)

    def private_pem(self) -> str:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        """A compact JWS of ``claims``: the JSON as the JOSE library writes it (header ASCII,
        claims UTF-8, no whitespace), the signature as r || s, 32 bytes each."""
        signing_input = (
            _b64url(json.dumps(header, ensure_ascii=True, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode())
        )
        der = self.private.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
        return f"{signing_input}.{_b64url(raw)}"


def generate_key() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP256R1()))


def load_key(text: str) -> SigningKey:
    """A P-256 private key as PEM or as a private JWK (JSON)."""
    if text.lstrip().startswith("-----BEGIN"):
        try:
            private = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError):
            private = None  # the JOSE library's reading below says what is wrong with it
        if isinstance(private, ec.EllipticCurvePrivateKey) and private.curve.name == "secp256r1":
            return SigningKey(private)
    return _load_jose_key(text)


def _load_jose_key(text: str) -> SigningKey:
    """A JWK, or a PEM that is not a P-256 private key: read by the JOSE library, which names
    what is wrong (a public key, another curve, not a key)."""
    from joserfc.errors import JoseError  # noqa: PLC0415
    from joserfc.jwk import ECKey  # noqa: PLC0415

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
    private = key.get_op_key("sign")
    if not isinstance(private, ec.EllipticCurvePrivateKey):  # pragma: no cover - said above
        raise ConfigError("AIRLOCK_SIGNING_KEY is not a P-256 private key (PEM or JWK)")
    return SigningKey(private)


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

    @cached_property
    def _keys(self) -> KeySet:
        from joserfc.jwk import KeySet  # noqa: PLC0415  (minting does not need it)

        return KeySet([self._key.key])

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
        header = {"typ": "JWT", "alg": ALGORITHM, "kid": self._key.kid}  # joserfc's order
        return self._key.sign(header, claims), claims

    def verify(self, token: str, *, now: float | None = None) -> tuple[Identity, dict[str, Any]]:
        """Check signature, issuer, audience and lifetime; return the identity and claims."""
        from joserfc import jwt  # noqa: PLC0415
        from joserfc.errors import JoseError  # noqa: PLC0415

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
