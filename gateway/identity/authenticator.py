"""Who presents this token? One answer for every edge (PG listener password, HTTP Bearer).

A token is routed by its (not yet trusted) ``iss`` claim: Airlock's own issuer goes to the
:class:`~gateway.identity.tokens.TokenService`, the configured OIDC issuer to the
:class:`~gateway.identity.oidc.OidcVerifier`; any other issuer is refused. A verified token is
then checked against the revocations in the store (any subject of its chain, its own ``jti`` and
those it was exchanged from) in one read, so a revocation refuses new connections and API calls
at once, on every replica. Every refusal is logged with its reason and raises
:class:`~gateway.errors.AuthError` (SQLSTATE 28P01 / HTTP 401).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from approvals import Identity
from gateway.errors import AuthError, TokenInvalid
from gateway.identity.oidc import OidcVerifier
from gateway.identity.tokens import TokenService

__all__ = ["Authenticator", "Principal", "RevocationCheck", "peek_claims"]

log = logging.getLogger("airlock.identity")


class RevocationCheck(Protocol):
    async def revoked(self, subjects: Collection[str], token_ids: Collection[str]) -> str | None:
        """Why a token with this chain and these token ids is refused, or None."""
        ...


@dataclass(frozen=True)
class Principal:
    """A verified token: the identity (with its chain), where it came from, when it ends, and
    the ids of the tokens it rests on (its own ``jti`` and those it was exchanged from)."""

    identity: Identity
    source: Literal["airlock", "oidc"]
    expires_at: float
    token_ids: frozenset[str] = frozenset()
    claims: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def jti(self) -> str | None:
        value = self.claims.get("jti")
        return value if isinstance(value, str) else None


def peek_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, *unverified* (only to route it to its verifier)."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise TokenInvalid("token signature or format is invalid")
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError) as exc:
        raise TokenInvalid("token signature or format is invalid") from exc
    if not isinstance(payload, dict):
        raise TokenInvalid("token signature or format is invalid")
    return payload


def _token_ids(claims: dict[str, Any]) -> frozenset[str]:
    ids = {claims["jti"]} if isinstance(claims.get("jti"), str) else set()
    parents = claims.get("rests_on", [])
    if isinstance(parents, list):
        ids |= {p for p in parents if isinstance(p, str)}
    return frozenset(ids)


class Authenticator:
    def __init__(
        self,
        tokens: TokenService,
        revocations: RevocationCheck,
        oidc: OidcVerifier | None = None,
    ) -> None:
        self.tokens, self.revocations, self.oidc = tokens, revocations, oidc

    async def authenticate(self, token: str, *, edge: str = "api") -> Principal:
        """Verify ``token`` and check it is not revoked; AuthError (logged) otherwise."""
        try:
            principal = await self._verify(token)
            reason = await self.revocations.revoked(principal.identity.chain, principal.token_ids)
        except AuthError as exc:
            log.warning("%s: token refused: %s", edge, exc.message)
            raise
        if reason is not None:
            log.warning("%s: token of %s refused: %s", edge, principal.identity.describe(), reason)
            raise AuthError(f"access revoked: {reason}")
        return principal

    async def _verify(self, token: str) -> Principal:
        issuer = peek_claims(token).get("iss")
        if issuer == self.tokens.issuer:
            identity, claims = self.tokens.verify(token)
            source: Literal["airlock", "oidc"] = "airlock"
        elif self.oidc is not None and issuer == self.oidc.issuer:
            identity, claims = await self.oidc.verify(token)
            source = "oidc"
        else:
            raise TokenInvalid(f"token issuer {str(issuer)[:200]!r} is not accepted")
        return Principal(identity, source, float(claims["exp"]), _token_ids(claims), claims)
