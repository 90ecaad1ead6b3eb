"""Tokens of the configured OpenID Connect issuer: access tokens and ID tokens that are JWTs.

- Discovery (OpenID Connect Discovery 1.0, section 4): ``{issuer}/.well-known/openid-
  configuration`` is read once (authlib's provider metadata model checks it); its ``issuer``
  must be exactly the configured one (section 4.3) and it names the ``jwks_uri``.
- The JWKS is cached. A token naming a ``kid`` the cache does not hold (the issuer rotated its
  keys) refetches it, at most once per ``jwks_min_refresh`` so that a flood of made-up key ids
  cannot make the gateway hammer the issuer; the cache is also refreshed hourly.
- Fetches are single-flight (one at a time; whoever waited sees its result) and failures are
  cached: when the discovery document or the JWKS cannot be read, no new fetch is tried for
  ``retry_min`` seconds, doubling after each further failure up to ``retry_max``. Meanwhile a
  token that needs the issuer is refused at once ("the identity provider is unavailable"),
  so a flood of tokens while the issuer is down costs it nothing; tokens whose key is cached
  and fresh still verify.
- Claims (RFC 7519 section 4.1): ``iss`` exactly the issuer, ``aud`` containing the configured
  audience, ``exp`` required, ``exp``/``nbf``/``iat`` checked with ``leeway`` of clock skew.
- Only asymmetric algorithms are accepted (never ``none``, never HMAC: a public key must not be
  usable as a shared secret).
- The subject is the ``subject_claim`` (default ``email``, used only when ``email_verified`` is
  JSON ``true``), else ``sub``, in its canonical spelling (:mod:`approvals.subjects`); groups
  come from ``groups_claim`` (a dotted path such as ``realm_access.roles`` works), a list of
  strings or one space-separated string.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, cast

import httpx
from authlib.oidc.discovery import (  # type: ignore[import-untyped]
    OpenIDProviderMetadata,
    get_well_known_url,
)
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from approvals import Identity, IdentityKind
from gateway.errors import AuthError, TokenInvalid

__all__ = ["ALGORITHMS", "OidcVerifier"]

log = logging.getLogger("airlock.identity")

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
JWKS_MAX_AGE_S = 3600.0


class OidcVerifier:
    """Verifies the issuer's tokens; one per gateway process, sharing one HTTP client."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        http: httpx.AsyncClient,
        *,
        groups_claim: str = "groups",
        subject_claim: str = "email",
        leeway: float = 60.0,
        min_refresh: float = 10.0,
        retry_min: float = 1.0,
        retry_max: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer, self.audience = issuer, audience
        self.groups_claim, self.subject_claim = groups_claim, subject_claim
        self.leeway, self.min_refresh = leeway, min_refresh
        self.retry_min, self.retry_max = retry_min, max(retry_min, retry_max)
        self._http, self._clock = http, clock
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._retry = 0.0  # the current backoff; 0 while the issuer answers
        self._down_until = float("-inf")
        self._down_why = ""
        self.fetches = 0  # requests made to the issuer (discovery and JWKS)

    async def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document (read once)."""
        if self._metadata is None:
            data = await self._get_json(get_well_known_url(self.issuer, external=True))
            metadata = OpenIDProviderMetadata(data)
            try:
                metadata.validate_issuer()
                metadata.validate_jwks_uri()
            except ValueError as exc:
                raise AuthError(f"the identity provider's discovery document: {exc}") from exc
            if data.get("issuer") != self.issuer:
                raise AuthError(
                    f"the discovery document names issuer {data.get('issuer')!r}, "
                    f"not {self.issuer!r}"
                )
            self._metadata = data
        return self._metadata

    async def verify(self, token: str) -> tuple[Identity, dict[str, Any]]:
        """Check signature and claims; return the identity and the claims."""
        claims = await self._decode(token.strip())
        self._check_claims(claims)
        return self._identity(claims), claims

    # -- keys -----------------------------------------------------------------------------

    async def _decode(self, token: str) -> dict[str, Any]:
        keys = await self._key_set(refresh=False)
        try:
            return self._decode_with(token, keys)
        except InvalidKeyIdError:
            keys = await self._key_set(refresh=True)
        try:
            return self._decode_with(token, keys)
        except InvalidKeyIdError as exc:
            raise TokenInvalid("token is signed with a key the issuer does not publish") from exc

    @staticmethod
    def _decode_with(token: str, keys: KeySet) -> dict[str, Any]:
        try:
            return dict(jwt.decode(token, keys, algorithms=ALGORITHMS).claims)
        except InvalidKeyIdError:
            raise
        except (JoseError, ValueError, TypeError) as exc:
            raise TokenInvalid("token signature or format is invalid") from exc

    async def _key_set(self, *, refresh: bool) -> KeySet:
        async with self._lock:  # single flight: a waiter sees the fetch it waited for
            age = self._clock() - self._fetched_at
            stale = self._keys is None or age >= JWKS_MAX_AGE_S
            if stale or (refresh and age >= self.min_refresh):
                self._refuse_while_down()
                try:
                    await self._fetch_keys()
                except AuthError as exc:
                    self._retry = min(max(2 * self._retry, self.retry_min), self.retry_max)
                    self._down_until = self._clock() + self._retry
                    self._down_why = exc.message
                    log.warning("oidc: %s; next try in %.0f s", exc.message, self._retry)
                    raise
                self._retry, self._down_until = 0.0, float("-inf")
            assert self._keys is not None
            return self._keys

    def _refuse_while_down(self) -> None:
        left = self._down_until - self._clock()
        if left > 0:
            raise AuthError(
                f"the identity provider is unavailable (next try in {left:.0f} s): {self._down_why}"
            )

    async def _fetch_keys(self) -> None:
        uri = (await self.metadata())["jwks_uri"]
        try:
            data = cast(KeySetSerialization, await self._get_json(uri))
            self._keys = KeySet.import_key_set(data)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise AuthError(f"the identity provider's JWKS is not usable: {exc}") from exc
        self._fetched_at = self._clock()
        log.info("oidc: fetched %d keys from %s", len(self._keys.keys), uri)

    async def _get_json(self, url: str) -> dict[str, Any]:
        self.fetches += 1
        try:
            response = await self._http.get(url, timeout=10)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise AuthError(f"cannot read {url} from the identity provider: {exc}") from exc
        if not isinstance(data, dict):
            raise AuthError(f"{url} is not a JSON object")
        return data

    # -- claims ---------------------------------------------------------------------------

    def _check_claims(self, claims: dict[str, Any]) -> None:
        now = self._clock()
        if claims.get("iss") != self.issuer:
            raise TokenInvalid("token issuer is not accepted")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.audience not in audiences:
            raise TokenInvalid("token audience is not accepted")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or now > exp + self.leeway:
            raise TokenInvalid("token has expired")
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if isinstance(value, int | float) and now + self.leeway < value:
                raise TokenInvalid(f"token is not valid yet ({name} is in the future)")

    def _identity(self, claims: dict[str, Any]) -> Identity:
        """The person: an e-mail counts only when ``email_verified`` is JSON ``true`` (OpenID
        Connect Core 1.0, section 5.1: a boolean; the string "true", 1 or a missing claim are
        not a verification), and it becomes the subject only then; else the issuer's ``sub``.
        The subject is canonical (approvals.subjects) like every other."""
        email = claims.get("email") if claims.get("email_verified") is True else None
        subject = claims.get(self.subject_claim)
        if self.subject_claim == "email":
            subject = email
        if not isinstance(subject, str) or not subject.strip():
            subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise TokenInvalid("token has no subject")
        return Identity(
            subject=subject,
            kind=IdentityKind.PERSON,
            groups=frozenset(self._groups(claims)),
            email=email if isinstance(email, str) else None,
        )

    def _groups(self, claims: dict[str, Any]) -> list[str]:
        value: Any = claims
        for part in self.groups_claim.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            return []
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise TokenInvalid(f"token claim {self.groups_claim} is not a list of group names")
