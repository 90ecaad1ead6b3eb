"""Inbound authentication of Teams activities: the Bot Framework's JWT, checked by us.

Bot Framework REST API, "Authentication with the Bot Connector API", section "Authenticate
requests from the Bot Connector service to your bot" (steps 2-4):

- the token is in ``Authorization: Bearer <JWT>``; none there is 401 (RFC 6750 section 3);
- the OpenID metadata (default ``https://login.botframework.com/v1/.well-known/
  openidconfiguration``; ``AIRLOCK_TEAMS_OPENID_URL`` points elsewhere) names the ``jwks_uri``;
  the keys it lists carry ``endorsements``: the channels each key may sign for;
- the token is RS256-signed by a listed key whose endorsements include the activity's
  ``channelId``, which must be ``msteams`` (this bot serves Teams only);
- ``iss`` is ``https://api.botframework.com``; ``aud`` is our Microsoft App ID; ``exp`` has not
  passed and ``nbf`` has come, each within the documented 5-minute clock skew;
- the token's ``serviceurl`` claim equals the activity's ``serviceUrl`` (a trailing ``/``
  aside): a token minted for one Bot Connector cannot send our replies to another.

Anything else is 403, and nothing is done. Keys are cached for a day; a token naming a key id
the cache does not hold refetches the metadata and keys, at most once per ``min_refresh``
seconds, so made-up key ids cannot make us hammer the login service. Fetches are single-flight;
a failed fetch is remembered for ``min_refresh`` seconds, meanwhile tokens that need it get 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from bot.errors import InboundRefused

__all__ = ["CHANNEL", "ISSUER", "OPENID_URL", "SKEW_S", "BotFrameworkAuth", "Verified"]

log = logging.getLogger("bot.teams")

OPENID_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
ISSUER = "https://api.botframework.com"
CHANNEL = "msteams"
SKEW_S = 300.0  # "5 minutes of clock skew"
KEYS_MAX_AGE_S = 86400.0
ALGORITHMS = ("RS256",)  # the metadata's id_token_signing_alg_values_supported


@dataclass(frozen=True, slots=True)
class _Key:
    key: RSAKey
    endorsements: frozenset[str]


@dataclass(frozen=True, slots=True)
class Verified:
    """An activity whose token passed every check: its claims and the checked ``serviceUrl``."""

    claims: Mapping[str, Any]
    service_url: str


class BotFrameworkAuth:
    """Checks the bearer token of each inbound activity (see the module docstring)."""

    def __init__(
        self,
        app_id: str,
        http: httpx.AsyncClient,
        openid_url: str = OPENID_URL,
        *,
        min_refresh: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app_id, self.openid_url, self.min_refresh = app_id, openid_url, min_refresh
        self._http, self._clock = http, clock
        self._keys: dict[str, _Key] = {}
        self._fetched_at = float("-inf")
        self._failed_at = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0  # requests made for metadata and keys

    async def verify(self, authorization: str | None, activity: Mapping[str, Any]) -> Verified:
        """The activity's token checked against the activity; InboundRefused otherwise."""
        token = _bearer(authorization)
        header = _header(token)
        channel = activity.get("channelId")
        if channel != CHANNEL:
            raise InboundRefused(403, f"activity channelId {channel!r} is not {CHANNEL}")
        if header.get("alg") not in ALGORITHMS:
            raise InboundRefused(403, f"token algorithm {header.get('alg')!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InboundRefused(403, "token names no signing key")
        key = await self._key(kid)
        if CHANNEL not in key.endorsements:
            raise InboundRefused(403, f"signing key {kid} is not endorsed for {CHANNEL}")
        try:
            claims = dict(jwt.decode(token, key.key, algorithms=list(ALGORITHMS)).claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise InboundRefused(403, "token signature or format is invalid") from exc
        self._check_claims(claims)
        return Verified(claims, _service_url(claims, activity))

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        if claims.get("iss") != ISSUER:
            raise InboundRefused(403, "token issuer is not the Bot Framework")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.app_id not in audiences:
            raise InboundRefused(403, "token audience is not this bot")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or now > exp + SKEW_S:
            raise InboundRefused(403, "token has expired")
        nbf = claims.get("nbf")
        if nbf is not None and (not isinstance(nbf, int | float) or now + SKEW_S < nbf):
            raise InboundRefused(403, "token is not valid yet")

    # -- keys -----------------------------------------------------------------------------

    async def _key(self, kid: str) -> _Key:
        async with self._lock:  # single flight: a waiter sees the fetch it waited for
            now = self._clock()
            age = now - self._fetched_at
            stale = not self._keys or age >= KEYS_MAX_AGE_S
            if stale or (kid not in self._keys and age >= self.min_refresh):
                if now - self._failed_at < self.min_refresh:
                    raise InboundRefused(503, "the Bot Framework's keys are unavailable")
                try:
                    self._keys = await self._fetch()
                except InboundRefused:
                    self._failed_at = now
                    raise
                self._fetched_at = now
            found = self._keys.get(kid)
        if found is None:
            raise InboundRefused(403, "token is signed with a key the Bot Framework does not list")
        return found

    async def _fetch(self) -> dict[str, _Key]:
        metadata = await self._get_json(self.openid_url)
        uri = metadata.get("jwks_uri")
        if not isinstance(uri, str) or not uri:
            raise InboundRefused(503, "the OpenID metadata names no jwks_uri")
        listed = (await self._get_json(uri)).get("keys")
        if not isinstance(listed, list):
            raise InboundRefused(503, "the Bot Framework's key set has no keys")
        keys: dict[str, _Key] = {}
        for entry in listed:
            parsed = _parse_key(entry)
            if parsed is not None:
                keys[parsed[0]] = parsed[1]
        log.info("teams: fetched %d signing keys from %s", len(keys), uri)
        return keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        self.fetches += 1
        try:
            response = await self._http.get(url, timeout=10)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise InboundRefused(503, f"cannot read {url}: {exc}") from exc
        if not isinstance(data, dict):
            raise InboundRefused(503, f"{url} is not a JSON object")
        return data


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InboundRefused(401, "no bearer token")
    return token.strip()


def _header(token: str) -> dict[str, Any]:
    try:
        return dict(jws.extract_compact(token.encode()).headers())
    except (JoseError, ValueError, TypeError) as exc:
        raise InboundRefused(403, "token is not a compact JWS") from exc


def _parse_key(entry: object) -> tuple[str, _Key] | None:
    """One JWKS entry as (kid, key); entries that are not RSA signing keys are skipped."""
    if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
        return None
    kid, endorsements = entry.get("kid"), entry.get("endorsements", [])
    if not isinstance(kid, str) or not isinstance(endorsements, list):
        return None
    public = {k: v for k, v in entry.items() if k in ("kty", "n", "e", "kid")}
    try:
        key = RSAKey.import_key(public)
    except (JoseError, ValueError, TypeError):
        log.warning("teams: skipping key %s that does not import", kid)
        return None
    return kid, _Key(key, frozenset(e for e in endorsements if isinstance(e, str)))


def _service_url(claims: Mapping[str, Any], activity: Mapping[str, Any]) -> str:
    claimed = claims.get("serviceurl", claims.get("serviceUrl"))
    given = activity.get("serviceUrl")
    if not isinstance(claimed, str) or not isinstance(given, str):
        raise InboundRefused(403, "token or activity carries no serviceUrl")
    if claimed.rstrip("/") != given.rstrip("/"):
        raise InboundRefused(403, "token serviceUrl does not match the activity's")
    return given
